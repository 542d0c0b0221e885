"""Backtests: ``run_backtest(settings) -> BacktestResult`` and the report files.

The engine is the same :class:`~tradekit.engine.TradingCore` that paper and live trading use;
the simulated venue feeds it bars in open-time order (ties in config market order).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from tradekit.analytics import PriceSeries, benchmark
from tradekit.config import Settings
from tradekit.engine.core import EngineParams, TradeRecord, TradingCore
from tradekit.errors import ConfigError
from tradekit.events import EntryRejected, Event, TradingHalted, TradingResumed
from tradekit.interfaces import CandleArrays, RiskRule, Strategy
from tradekit.models import Bar, Fill, Timeframe
from tradekit.performance import max_drawdown, sharpe, summarize_trades

if TYPE_CHECKING:
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.builtin.parquet_candles import ParquetCandleSource
    from tradekit.store import Store

__all__ = [
    "BacktestResult",
    "backtest_parameters",
    "merge_markets",
    "run_backtest",
    "run_bars",
    "run_candles",
    "store_result",
    "write_report",
]

_CHUNK = 50_000


def _checked_column_sources() -> tuple[type[CsvCandleSource], type[ParquetCandleSource]]:
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.builtin.parquet_candles import ParquetCandleSource

    return (CsvCandleSource, ParquetCandleSource)


_KEPT_EVENTS = (EntryRejected, TradingHalted, TradingResumed)


@attrs.frozen
class BacktestResult:
    """Everything a backtest produced."""

    markets: list[str]
    timeframe: Timeframe
    initial_equity: float
    final_equity: float
    fills: list[Fill]
    trades: list[TradeRecord]
    equity_times: Sequence[int]
    equity_values: Sequence[float]
    exposed_bars: int
    events: list[Event]
    #: Each market's bars as read (the report's candles and buy-and-hold benchmark).
    prices: dict[str, PriceSeries] = attrs.field(factory=dict)
    #: The settings that shaped the run: markets, strategy, risk chain, backtest block.
    parameters: dict[str, Any] = attrs.field(factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """The figures written to ``summary.json``."""
        n = len(self.equity_values)
        out: dict[str, Any] = {
            "markets": self.markets,
            "timeframe": str(self.timeframe),
            "bars": n,
            "start_time_ms": self.equity_times[0] if n else None,
            "end_time_ms": self.equity_times[-1] if n else None,
            "initial_equity": self.initial_equity,
            "final_equity": self.final_equity,
            "total_return": self.final_equity / self.initial_equity - 1,
            "max_drawdown": max_drawdown(self.equity_values, self.initial_equity),
            "fills": len(self.fills),
            "fees": sum(f.fee for f in self.fills),
            "sharpe": sharpe(self.equity_values, self.initial_equity, self.timeframe.milliseconds),
            "exposure": self.exposed_bars / n if n else 0.0,
        }
        out.update(summarize_trades(self.trades))
        bench = benchmark(self.prices, self.initial_equity)
        out["benchmark_return"] = bench.total_return if bench else None
        out["parameters"] = self.parameters
        return out


def merge_markets(streams: Mapping[str, Iterable[Bar]], order: Sequence[str]) -> Iterator[Bar]:
    """Merge per-market bar streams by open time; equal times follow ``order``."""
    if len(order) == 1:
        return iter(streams[order[0]])
    rank = {m: i for i, m in enumerate(order)}
    return heapq.merge(
        *(streams[m] for m in order), key=lambda bar: (bar.time_ms, rank[bar.market])
    )


def run_bars(
    bars: Iterable[Bar],
    markets: Sequence[str],
    strategy_factory: Callable[[str], Strategy],
    risk_rules: Sequence[RiskRule],
    params: EngineParams,
    timeframe: Timeframe = Timeframe("1h"),
    progress: Callable[[int], None] | None = None,
    keep_events: bool = True,
) -> BacktestResult:
    """Run the engine over ``bars`` (already in processing order), stepping every bar.

    ``events`` of the result holds entry rejections and daily halts (fills and round trips
    have their own lists).
    """
    from tradekit.engine.loop import run_recorded

    core, events = _new_core(markets, strategy_factory, risk_rules, params, keep_events)
    run_recorded(core, bars, progress=progress, chunk=_CHUNK)
    return _result(core, events, params, timeframe)


def run_candles(
    candles: Sequence[CandleArrays],
    markets: Sequence[str],
    strategy_factory: Callable[[str], Strategy],
    risk_rules: Sequence[RiskRule],
    params: EngineParams,
    timeframe: Timeframe = Timeframe("1h"),
    progress: Callable[[int], None] | None = None,
    keep_events: bool = True,
) -> BacktestResult:
    """:func:`run_bars` over each market's candle columns (in ``markets`` order).

    With strategies that scan their candles ahead (:class:`~tradekit.interfaces.ScansCandles`)
    only the bars that can matter are stepped (:mod:`tradekit.engine.candle_run`); the result
    is the same as :func:`run_bars` over the merged bars, which runs otherwise.
    """
    from tradekit.engine import candle_run
    from tradekit.engine.loop import run_recorded

    core, events = _new_core(markets, strategy_factory, risk_rules, params, keep_events)
    if candle_run.scans_all(core):
        candle_run.run_candles(core, candles, progress=progress, chunk=_CHUNK)
    else:
        streams = {c.market: candle_run.bars_of(c) for c in candles}
        run_recorded(core, merge_markets(streams, markets), progress=progress, chunk=_CHUNK)
    return _result(core, events, params, timeframe)


def _new_core(
    markets: Sequence[str],
    strategy_factory: Callable[[str], Strategy],
    risk_rules: Sequence[RiskRule],
    params: EngineParams,
    keep_events: bool,
) -> tuple[TradingCore, list[Event]]:
    events: list[Event] = []

    def keep(event: Event) -> None:
        # Fills and trades are kept in full elsewhere; of the events only the rare, telling
        # ones are kept, so memory does not grow with the number of fills beyond the fills.
        if isinstance(event, _KEPT_EVENTS):
            events.append(event)

    core = TradingCore(
        markets,
        strategy_factory,
        risk_rules,
        params,
        keep if keep_events else None,
        event_types=_KEPT_EVENTS,
    )
    core.start()
    return core, events


def _result(
    core: TradingCore, events: list[Event], params: EngineParams, timeframe: Timeframe
) -> BacktestResult:
    return BacktestResult(
        markets=list(core.markets),
        timeframe=timeframe,
        initial_equity=params.initial_cash,
        final_equity=core.equity,
        fills=core.fills,
        trades=core.trades,
        equity_times=core.equity_times,
        equity_values=core.equity_values,
        exposed_bars=core.exposed_bars,
        events=events,
    )


def run_backtest(
    settings: Settings,
    host: Any = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Run the configured strategy and risk chain over the configured candle files.

    Raises:
        ConfigError: the settings are incomplete for a backtest.
        DataError: a candle file is malformed (the message names the line).
    """
    from tradekit.plugins import load_plugins

    host = host or load_plugins()
    missing = [m for m in settings.markets if m not in settings.backtest.data]
    if missing:
        raise ConfigError(
            [
                f"backtest.data: no candle file for market {m!r} (needed to backtest)"
                for m in missing
            ]
        )
    prices: dict[str, PriceSeries] = {}
    streams: dict[str, Iterator[Bar]] = {}
    candles: list[CandleArrays] = []
    for market in settings.markets:
        source = host.open_candle_source(settings.backtest.data[market])
        if isinstance(source, _checked_column_sources()):
            # The file readers hold the candles as columns already, every row checked: the
            # engine and the report's prices use those columns, not bars made one by one.
            # (Another plugin's source gives bars, each checked as it is made.)
            columns = source.columns(market, settings.timeframe)
            prices[market] = PriceSeries(
                market, columns.times, columns.open, columns.high, columns.low, columns.close
            )
            candles.append(columns)
        else:
            prices[market] = PriceSeries(market)
            streams[market] = prices[market].recording(source.bars(market, settings.timeframe))
    params = settings.backtest.engine_params(check_cash=True)
    args = (
        settings.markets,
        lambda _market: settings.strategy.build(),
        [rule.build() for rule in settings.risk],
        params,
        settings.timeframe,
        progress,
    )
    if not streams:
        result = run_candles(candles, *args)
    else:  # a source that only gives bars: every market is read bar by bar
        from tradekit.engine.candle_run import bars_of

        for checked in candles:
            streams[checked.market] = bars_of(checked)
        result = run_bars(merge_markets(streams, settings.markets), *args)
    return attrs.evolve(result, prices=prices, parameters=backtest_parameters(settings))


def backtest_parameters(settings: Settings) -> dict[str, Any]:
    """The settings a backtest's figures depend on, as plain data (secrets masked)."""
    from tradekit.config import masked

    data = masked(settings)
    return {key: data[key] for key in ("markets", "timeframe", "strategy", "risk", "backtest")}


def store_result(store: Store, settings: Settings, result: BacktestResult) -> str:
    """Record a finished backtest in ``store`` as a run of its own; returns the run id.

    The run holds the fills and events; its config digest (secrets blanked) tells runs of
    different settings apart.
    """
    from tradekit.config import config_digest

    run_id = store.start_run("backtest", config_digest=config_digest(settings))
    store.record_fills(result.fills)
    store.record_events(result.events)
    store.end_run()
    return run_id


def write_report(
    result: BacktestResult, directory: str | Path, summary: dict[str, Any] | None = None
) -> list[Path]:
    """Write ``fills.csv``, ``equity.csv``, ``summary.json`` and ``report.html``.

    ``summary``: ``result.summary`` if the caller has it already.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tradekit.backtest_csv import write_equity_csv, write_fills_csv
    from tradekit.report import render_html

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    fills_path = out / "fills.csv"
    equity_path = out / "equity.csv"

    def write_csvs() -> None:
        write_fills_csv(result.fills, fills_path)
        write_equity_csv(result.equity_times, result.equity_values, equity_path)

    # pyarrow writes the CSV files without holding the GIL: on a second core while this
    # thread builds the summary and the page.
    with ThreadPoolExecutor(1, thread_name_prefix="backtest-csv") as pool:
        csvs = pool.submit(write_csvs)
        summary_path = out / "summary.json"
        if summary is None:
            summary = result.summary
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        report_path = out / "report.html"
        report_path.write_text(render_html(result, summary), encoding="utf-8")
        csvs.result()
    return [fills_path, equity_path, summary_path, report_path]
