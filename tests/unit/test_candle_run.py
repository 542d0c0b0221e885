"""Backtests that step only the bars that can matter give the run that steps every bar.

``run_candles`` (what ``tradekit backtest`` runs) against ``run_bars`` on the same candles:
every fill, round trip, equity value and kept event must be identical, whatever the venue
rules, the markets, the risk rules and the strategy.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import assert_same_run
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import BacktestResult, merge_markets, run_bars, run_candles
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.candle_run import BarColumns
from tradekit.engine.core import EngineParams
from tradekit.engine.rules import KRW_TICKS
from tradekit.events import Event, TradingHalted
from tradekit.interfaces import AccountView, RiskRule, ScansCandles
from tradekit.models import Bar, OrderIntent, Rejection, Signal
from tradekit.testing import random_walk_bars

BITHUMB = EngineParams(1_000_000.0, 0.0025, 5000.0, 0.001, 4, KRW_TICKS, check_cash=True)


def _spiky(seed: int, n: int, market: str, start_ms: int) -> list[Bar]:
    bars = random_walk_bars(n, market, seed=seed, price=100_000.0, start_ms=start_ms)
    return [
        attrs.evolve(b, volume=round(b.volume * (5.0 if (i * 7 + seed) % 6 == 0 else 1.0), 4))
        for i, b in enumerate(bars)
    ]


def _both(
    by_market: dict[str, list[Bar]],
    params: EngineParams,
    rules: object,
    strategy: object = None,
) -> tuple[BacktestResult, BacktestResult]:
    markets = list(by_market)
    config = BreakoutConfig(lookback=5, volume_factor=1.5, stop_loss=0.01, take_profit=0.02)
    build = strategy or (lambda _m: BreakoutStrategy(config))
    stepped = run_bars(merge_markets(by_market, markets), markets, build, rules(), params)  # type: ignore[operator]
    candles = [BarColumns(m, bars) for m, bars in by_market.items()]
    skipping = run_candles(candles, markets, build, rules(), params)  # type: ignore[operator]
    return skipping, stepped


def _chain(limit: float = 0.01, size: float = 0.5) -> list[RiskRule]:
    return [
        DailyLossLimit(DailyLossLimit.Config(limit=limit)),
        PositionSize(PositionSize.Config(fraction=size)),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 500),
    offset=st.integers(-40, 40),
    gaps=st.integers(2, 9),
    venue=st.sampled_from(["bithumb", "spec"]),
    limit=st.sampled_from([0.003, 0.01, 0.05]),
)
def test_three_markets_on_any_venue_give_the_same_run(
    seed: int, n: int, offset: int, gaps: int, venue: str, limit: float
) -> None:
    h = 3_600_000
    start = 1_600_000_000_000 - 1_600_000_000_000 % h
    btc = _spiky(seed, n, "KRW-BTC", start)
    eth = [b for i, b in enumerate(_spiky(seed + 1, n, "KRW-ETH", start + offset * h)) if i % gaps]
    xrp = _spiky(seed + 2, max(1, n // 3), "KRW-XRP", start + 7 * h)  # ends early
    params = BITHUMB if venue == "bithumb" else EngineParams()
    skipping, stepped = _both(
        {"KRW-ETH": eth, "KRW-BTC": btc, "KRW-XRP": xrp}, params, lambda: _chain(limit)
    )
    assert_same_run(skipping, stepped)


def test_real_candles_with_halts_give_the_same_run(real_candles: object) -> None:
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.models import Timeframe

    bars = list(CsvCandleSource(real_candles).bars("KRW-BTC", Timeframe("1h")))  # type: ignore[arg-type]
    skipping, stepped = _both({"KRW-BTC": bars}, BITHUMB, lambda: _chain(0.002, 0.9))
    assert_same_run(skipping, stepped)
    halts = [e for e in stepped.events if isinstance(e, TradingHalted)]
    assert len(stepped.fills) > 500
    assert len(halts) > 20  # the tight limit halts often


@attrs.frozen
class _NoConfig:
    pass


class EveryFortyBars:
    """A third-party rule without ``on_idle_bars``: it is called for every bar, idle or not."""

    name: ClassVar[str] = "every_forty"
    Config: ClassVar[type[_NoConfig]] = _NoConfig
    sizes_entries: ClassVar[bool] = False

    def __init__(self) -> None:
        self.halted = False
        self.seen = 0

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        self.seen = 0

    def on_bar_close(self, time_ms: int, equity: float) -> Event | None:
        self.seen += 1
        self.halted = self.seen % 40 < 10  # refuses entries on 10 bars out of 40
        if self.seen % 40 == 0:
            return TradingHalted(time_ms, "x", equity, equity, f"bar {self.seen}", limit=0.0)
        return None

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection:
        return Rejection(self.name, "held") if self.halted else intent


def test_a_rule_that_watches_every_bar_sees_every_bar() -> None:
    bars = _spiky(5, 2000, "KRW-BTC", 1_600_000_000_000 - 1_600_000_000_000 % 3_600_000)
    rules: dict[str, EveryFortyBars] = {}

    def chain() -> list[RiskRule]:
        rule = EveryFortyBars()
        rules["last"] = rule
        return [DailyLossLimit(DailyLossLimit.Config(limit=0.003)), rule, *_chain()[1:]]

    skipping, stepped = _both({"KRW-BTC": bars}, EngineParams(), chain)
    assert_same_run(skipping, stepped)
    assert rules["last"].seen == 2000
    kinds = {type(e).__name__ for e in stepped.events}
    assert {"TradingHalted", "TradingResumed", "EntryRejected"} <= kinds


class OnBarOnly:
    """A strategy that cannot scan: the backtest steps every bar."""

    name: ClassVar[str] = "on_bar_only"
    Config: ClassVar[type[BreakoutConfig]] = BreakoutConfig

    def __init__(self) -> None:
        self._inner = BreakoutStrategy(BreakoutConfig(lookback=5))
        self.warmup_bars = 5

    def on_bar(self, bar: Bar) -> Signal | None:
        return self._inner.on_bar(bar)


def test_a_strategy_that_cannot_scan_is_stepped_bar_by_bar() -> None:
    assert not isinstance(OnBarOnly(), ScansCandles)
    assert isinstance(BreakoutStrategy(BreakoutConfig()), ScansCandles)
    bars = _spiky(9, 800, "KRW-BTC", 1_600_000_000_000 - 1_600_000_000_000 % 3_600_000)
    skipping, stepped = _both({"KRW-BTC": bars}, EngineParams(), _chain, lambda _m: OnBarOnly())
    assert_same_run(skipping, stepped)
    assert len(stepped.fills) > 10


def test_progress_counts_every_bar() -> None:
    bars = random_walk_bars(123_456)
    seen: list[int] = []
    run_candles(
        [BarColumns("KRW-BTC", bars)],
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        _chain(),
        EngineParams(),
        progress=seen.append,
        keep_events=False,
    )
    assert seen == sorted(set(seen))  # rising, never the same count twice
    assert seen[-1] == 123_456
    assert len(seen) > 1
    quiet: list[int] = []  # no signal at all: one idle run to the end, reported once
    run_candles(
        [BarColumns("KRW-BTC", random_walk_bars(60_000))],
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig(volume_factor=1e9)),
        _chain(),
        EngineParams(),
        progress=quiet.append,
    )
    assert quiet == [60_000]


# -- the daily loss limit over idle bars ----------------------------------------------------


def _state(rule: DailyLossLimit) -> tuple[object, ...]:
    return (
        rule.halted,
        rule.halt_reason,
        rule.reference,
        rule.threshold,
        rule._last_equity,
        rule.day.start_ms,
        rule.day.end_ms,
        rule.day.label,
    )


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(["Asia/Seoul", "America/New_York", "UTC"]),
    before=st.lists(st.floats(900.0, 1100.0), min_size=0, max_size=30),
    # Below zero too: an overdrawn account (no cash checks) halts again every day.
    idle_equity=st.one_of(st.floats(900.0, 1100.0), st.floats(-1100.0, -1.0)),
    start_hour=st.integers(0, 24 * 400),
    steps=st.lists(st.sampled_from([1, 1, 1, 2, 5, 23, 24, 25, 300]), min_size=1, max_size=80),
    limit=st.sampled_from([0.01, 0.05, 1.0]),
)
def test_on_idle_bars_is_on_bar_close_for_each_bar(
    zone: str,
    before: list[float],
    idle_equity: float,
    start_hour: int,
    steps: list[int],
    limit: float,
) -> None:
    h = 3_600_000
    t = 1_699_999_200_000 + start_hour * h  # around a DST change in New York too
    pair = [DailyLossLimit(DailyLossLimit.Config(limit=limit, timezone=zone)) for _ in range(2)]
    for rule in pair:
        rule.reset(1000.0, t)
    times = []
    for i, equity in enumerate(before):  # some history, halts included
        for rule in pair:
            rule.on_bar_close(t + i * 5 * h, equity)
    t += len(before) * 5 * h
    for step in steps:
        t += step * h
        times.append(t)
    per_bar = [e for time_ms in times if (e := pair[0].on_bar_close(time_ms, idle_equity))]
    in_bulk = pair[1].on_idle_bars(times, idle_equity)
    assert in_bulk == per_bar
    assert _state(pair[1]) == _state(pair[0])


class ScansOneRowLate(BreakoutStrategy):
    """A scan with a bug: every signal one row late."""

    def signal_rows(self, candles: object) -> list[int]:
        return [row + 1 for row in super().signal_rows(candles) if row + 1 < len(candles)]  # type: ignore[arg-type]


def test_the_scan_check_for_plugin_authors_names_the_first_wrong_row() -> None:
    import pytest

    from tradekit.testing import assert_scan_matches_on_bar

    bars = _spiky(4, 300, "KRW-BTC", 1_600_000_000_000 - 1_600_000_000_000 % 3_600_000)
    config = BreakoutConfig(lookback=5)
    signals = assert_scan_matches_on_bar(lambda: BreakoutStrategy(config), bars)
    assert signals
    first = min(signals)
    with pytest.raises(AssertionError, match=f"row {first}: on_bar signals"):
        assert_scan_matches_on_bar(lambda: ScansOneRowLate(config), bars)
    with pytest.raises(AssertionError, match="has no signal_rows"):
        assert_scan_matches_on_bar(OnBarOnly, bars)  # type: ignore[arg-type]


def test_step_idle_refuses_bars_while_a_position_is_open() -> None:
    from array import array

    from tradekit.engine.core import TradingCore

    bars = _spiky(3, 400, "KRW-BTC", 1_600_000_000_000 - 1_600_000_000_000 % 3_600_000)
    core = TradingCore(
        ["KRW-BTC"], lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)), _chain()
    )
    core.start()
    for bar in bars:
        core.step(bar)
        if not core.idle:
            break
    assert not core.idle
    with pytest.raises(RuntimeError, match="step_idle while something is held"):
        core.step_idle(array("q", [bars[-1].time_ms + 3_600_000]), {})
