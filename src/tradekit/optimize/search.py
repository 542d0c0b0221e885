"""What one process of a search holds: the config, the candles in memory, their splits.

The candles are read once per process (through the same candle sources a backtest uses);
each trial rebuilds the settings with its parameters, so every value is validated as the
config loader would, and runs the backtest engine over a slice of the bars in memory.
"""

from __future__ import annotations

import copy
import math
import os
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from tradekit.analytics import PriceSeries
from tradekit.backtest import merge_markets, run_candles
from tradekit.config import Settings, load_settings, masked, parse_settings
from tradekit.engine.candle_run import BarColumns
from tradekit.errors import ConfigError
from tradekit.models import Bar
from tradekit.optimize.spec import OptimizeSpec, Param, parse_optimize, parse_path, set_path
from tradekit.performance import YEAR_MS

__all__ = ["Search", "Split", "calmar", "cut_at_time", "metrics_of"]


@attrs.frozen
class Split:
    """One train/test split: the search runs on ``train``, the best is tested on ``test``."""

    window: int  # 1-based; 1 when there is no walk-forward
    train: Sequence[Bar]
    test: Sequence[Bar]


def cut_at_time(bars: Sequence[Bar], index: int) -> int:
    """``index`` moved forward past bars sharing the time of the bar before it.

    Several markets have bars at the same time; a cut never separates them.
    """
    index = max(0, min(index, len(bars)))
    while 0 < index < len(bars) and bars[index].time_ms == bars[index - 1].time_ms:
        index += 1
    return index


def calmar(summary: Mapping[str, Any], period_ms: int) -> float | None:
    """Annualised compound return over the maximum drawdown; None without a drawdown."""
    bars = summary["bars"]
    drawdown = summary["max_drawdown"]
    growth = summary["final_equity"] / summary["initial_equity"]
    if not bars or drawdown <= 0 or growth <= 0:
        return None
    years = bars * period_ms / YEAR_MS
    return float((growth ** (1 / years) - 1) / drawdown)


def metrics_of(summary: dict[str, Any], period_ms: int) -> dict[str, Any]:
    """A backtest summary with the Calmar ratio added."""
    return {**summary, "calmar": calmar(summary, period_ms)}


class Search:
    """The config of a search, its ``optimize:`` block and its candles, loaded once."""

    def __init__(
        self,
        path: Path,
        doc: dict[str, Any],
        settings: Settings,
        spec: OptimizeSpec,
        host: Any,
        bars: list[Bar],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.doc = doc
        self.settings = settings
        self.spec = spec
        self.host = host
        self.bars = bars
        self.env = env
        self.resolved = masked(settings)
        self.splits = self._splits()
        # Each slice of bars a trial runs on, as columns per market, made once per process.
        self._columns: dict[int, tuple[Sequence[Bar], list[BarColumns]]] = {}

    @classmethod
    def check(
        cls, path: str | Path, host: Any = None, env: Mapping[str, str] | None = None
    ) -> Search:
        """Read and check the config and its ``optimize:`` block; the candles are not read.

        Raises:
            ConfigError: the config or its ``optimize:`` block is invalid (every problem).
        """
        from tradekit.plugins import load_plugins

        path = Path(path)
        host = host or load_plugins()
        settings = load_settings(path, host, env)
        if settings.mode != "backtest":
            raise ConfigError([f"mode: optimize needs a backtest config, got {settings.mode!r}"])
        spec = parse_optimize(settings.optimize, masked(settings))
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        search = cls(path, doc, settings, spec, host, [], env)
        search.check_space()
        return search

    @classmethod
    def load(
        cls, path: str | Path, host: Any = None, env: Mapping[str, str] | None = None
    ) -> Search:
        """Read and check the config, its ``optimize:`` block and its candles.

        Raises:
            ConfigError: the config or its ``optimize:`` block is invalid (every problem).
            DataError: a candle file is malformed.
        """
        search = cls.check(path, host, env)
        search.bars = load_bars(search.settings, search.host)
        search.splits = search._splits()
        return search

    # -- parameters --------------------------------------------------------------------

    def config_doc(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The config as written, with ``values`` set and without the ``optimize`` block."""
        doc = copy.deepcopy(self.doc)
        doc.pop("optimize", None)
        for key, value in values.items():
            set_path(doc, parse_path(key), value, self.resolved)
        return doc

    def settings_for(self, values: Mapping[str, Any]) -> Settings:
        """The settings with ``values`` set, validated as the config loader does.

        Raises:
            ConfigError: a value (or the combination) is refused.
        """
        return parse_settings(self.config_doc(values), self.host, self.env, str(self.path))

    def check_space(self) -> None:
        """Each end of each range, and each choice, must be accepted by the config.

        Raises:
            ConfigError: naming ``optimize.space.<key>``, the value and why it is refused.
        """
        problems: list[str] = []
        for param in self.spec.params:
            for value in param.edges():
                problem = self._refusal(param, value)
                if problem:
                    problems.append(f"optimize.space.{param.key}: {value!r} is refused: {problem}")
                    break
        if problems:
            raise ConfigError(problems)

    def _refusal(self, param: Param, value: Any) -> str | None:
        try:
            settings = self.settings_for({param.key: value})
            # The component's own checks beyond its Config (what `run` would refuse).
            root = parse_path(param.key)[0]
            if root == "strategy":
                settings.strategy.build()
            elif root == "risk":
                for rule in settings.risk:
                    rule.build()
        except ConfigError as exc:
            return "; ".join(exc.problems)
        except Exception as exc:  # a plugin's own check: its message says why
            return f"{type(exc).__name__}: {exc}"
        return None

    # -- data --------------------------------------------------------------------------

    def _splits(self) -> list[Split]:
        bars = self.bars
        windows = self.spec.windows
        bounds = [cut_at_time(bars, len(bars) * k // windows) for k in range(windows + 1)]
        splits = []
        for k in range(windows):
            part = bars[bounds[k] : bounds[k + 1]]
            cut = cut_at_time(part, math.floor(len(part) * self.spec.train_fraction))
            splits.append(Split(k + 1, part[:cut], part[cut:]))
        return splits

    def run(
        self, settings: Settings, bars: Sequence[Bar], benchmark: bool = False
    ) -> dict[str, Any]:
        """Backtest ``settings`` over ``bars``: the summary figures with the Calmar ratio.

        With ``benchmark``, buy-and-hold over the same bars too (``benchmark_return``).
        """
        result = run_candles(
            self._columns_of(bars),
            settings.markets,
            lambda _market: settings.strategy.build(),
            [rule.build() for rule in settings.risk],
            settings.backtest.engine_params(check_cash=True),
            settings.timeframe,
            keep_events=False,
        )
        if benchmark:
            prices = {market: PriceSeries(market) for market in settings.markets}
            for market, series in prices.items():
                deque(series.recording(b for b in bars if b.market == market), maxlen=0)
            result = attrs.evolve(result, prices=prices)
        summary = result.summary
        summary.pop("parameters", None)  # the settings, not a figure; best.yaml has them
        return metrics_of(summary, settings.timeframe.milliseconds)

    def _columns_of(self, bars: Sequence[Bar]) -> list[BarColumns]:
        """``bars`` split by market into columns, kept for the next trial on the same slice."""
        kept = self._columns.get(id(bars))
        if kept is None or kept[0] is not bars:
            by_market: dict[str, list[Bar]] = {m: [] for m in self.settings.markets}
            for bar in bars:
                by_market[bar.market].append(bar)
            kept = (bars, [BarColumns(m, rows) for m, rows in by_market.items()])
            self._columns[id(bars)] = kept
        return kept[1]


def load_bars(settings: Settings, host: Any) -> list[Bar]:
    """Every market's candles from ``backtest.data``, merged in processing order.

    Raises:
        DataError: a candle file is malformed.
    """
    streams = {
        market: host.open_candle_source(settings.backtest.data[market]).bars(
            market, settings.timeframe
        )
        for market in settings.markets
    }
    return list(merge_markets(streams, settings.markets))


def relative_data(doc: dict[str, Any], config_dir: Path, output_dir: Path) -> dict[str, Any]:
    """``doc`` with relative candle paths made relative to ``output_dir`` instead."""
    data = (doc.get("backtest") or {}).get("data")
    if not isinstance(data, dict):
        return doc
    moved = {}
    for market, uri in data.items():
        if not isinstance(uri, str) or "://" in uri or "${" in uri or Path(uri).is_absolute():
            moved[market] = uri
            continue
        target = (config_dir / uri).resolve()
        try:
            moved[market] = os.path.relpath(target, output_dir.resolve())
        except ValueError:  # another drive on Windows
            moved[market] = str(target)
    return {**doc, "backtest": {**doc["backtest"], "data": moved}}
