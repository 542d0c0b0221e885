"""Review of the idle-bar path: cases where ``run_candles`` must still equal ``run_bars``.

Each test runs the real engine both ways (or the rule both ways) and compares every detail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_same_run
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import BacktestResult, merge_markets, run_bars, run_candles
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.candle_run import BarColumns
from tradekit.engine.core import EngineParams
from tradekit.events import Event, TradingHalted, TradingResumed
from tradekit.interfaces import AccountView, RiskRule
from tradekit.models import Bar, OrderIntent, Rejection, Signal
from tradekit.trading_day import TradingDay

H = 3_600_000
T0 = 1_600_000_000_000 - 1_600_000_000_000 % (24 * H)


def _both(
    by_market: dict[str, list[Bar]],
    params: EngineParams,
    rules: object,
    config: BreakoutConfig,
) -> tuple[BacktestResult, BacktestResult]:
    markets = list(by_market)

    def build(_m: str) -> BreakoutStrategy:
        return BreakoutStrategy(config)

    stepped = run_bars(merge_markets(by_market, markets), markets, build, rules(), params)  # type: ignore[operator]
    candles = [BarColumns(m, bars) for m, bars in by_market.items()]
    skipping = run_candles(candles, markets, build, rules(), params)  # type: ignore[operator]
    return skipping, stepped


def _flat(market: str, start: int, n: int, price: float, volume: float = 1.0) -> list[Bar]:
    return [Bar(market, start + i * H, price, price, price, price, volume) for i in range(n)]


# -- the daily loss limit when the account is overdrawn -------------------------------------


def _crash(market: str) -> list[Bar]:
    """A breakout, a fill, a gap far below the stop, then five quiet days."""
    bars = _flat(market, T0, 3, 100.0)
    bars.append(Bar(market, T0 + 3 * H, 100.0, 110.0, 100.0, 110.0, 10.0))  # the signal
    bars.append(Bar(market, T0 + 4 * H, 110.0, 110.0, 109.0, 109.0, 1.0))  # the entry fills
    bars.append(Bar(market, T0 + 5 * H, 20.0, 20.0, 20.0, 20.0, 1.0))  # a gap: sold at 20
    return bars + _flat(market, T0 + 6 * H, 5 * 24, 20.0)


def test_an_overdrawn_account_halts_every_day_in_both_runs() -> None:
    # Without cash checks two markets can each take the whole equity: after a crash the cash
    # is negative, and every new day's reference is below zero, so each day halts again.
    config = BreakoutConfig(lookback=2, volume_factor=1.5, stop_loss=0.015, take_profit=0.5)

    def rules() -> list[RiskRule]:
        return [
            DailyLossLimit(DailyLossLimit.Config(limit=0.05, timezone="UTC")),
            PositionSize(PositionSize.Config(fraction=1.0)),
        ]

    skipping, stepped = _both(
        {"KRW-A": _crash("KRW-A"), "KRW-B": _crash("KRW-B")}, EngineParams(), rules, config
    )
    assert stepped.final_equity < 0
    halts = [e for e in stepped.events if isinstance(e, TradingHalted)]
    assert len(halts) == 6  # the crash day and each of the five days after it
    assert_same_run(skipping, stepped)


# -- several rules that take idle bars in bulk -------------------------------------------------


@attrs.frozen
class _NoConfig:
    pass


class WaitBars:
    """Refuses entries for its first ``wait`` bars, then says so once (a warm-up rule).

    Its ``on_idle_bars`` is exactly ``on_bar_close`` for each bar, as the protocol asks.
    """

    name: ClassVar[str] = "wait_bars"
    Config: ClassVar[type[_NoConfig]] = _NoConfig
    sizes_entries: ClassVar[bool] = False

    def __init__(self, wait: int) -> None:
        self.wait = wait
        self.seen = 0
        self.halted = True

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        self.seen = 0
        self.halted = True

    def on_bar_close(self, time_ms: int, equity: float) -> Event | None:
        self.seen += 1
        if self.seen == self.wait:
            self.halted = False
            return TradingResumed(time_ms, f"{self.name} after {self.wait} bars")
        return None

    def on_idle_bars(self, times_ms: list[int], equity: float) -> list[Event]:
        return [e for t in times_ms if (e := self.on_bar_close(t, equity)) is not None]

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection:
        return Rejection(self.name, "warming up") if self.halted else intent


def test_events_of_several_bulk_rules_keep_the_bar_order() -> None:
    # Two markets with bars at the same times: the second rule speaks on the first bar, the
    # first rule on the second bar, which has the same time. Bar by bar, the second rule's
    # event comes first.
    config = BreakoutConfig(lookback=5)

    def rules() -> list[RiskRule]:
        return [WaitBars(2), WaitBars(1), PositionSize(PositionSize.Config(fraction=0.5))]

    by_market = {"KRW-A": _flat("KRW-A", T0, 10, 100.0), "KRW-B": _flat("KRW-B", T0, 10, 50.0)}
    skipping, stepped = _both(by_market, EngineParams(), rules, config)
    assert [e.trading_day for e in stepped.events] == [  # type: ignore[attr-defined]
        "wait_bars after 1 bars",
        "wait_bars after 2 bars",
    ]
    assert_same_run(skipping, stepped)


# -- the breakout scan ------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    factor=st.sampled_from([0.1 + 0.2, 1e-17, 1e-300, 5e-324, 1e300, 123456.78901234567]),
    lookback=st.sampled_from([1, 3, 100]),
    volume=st.sampled_from([0.0, 1e-8, 1.0]),
)
def test_any_volume_factor_scans_as_on_bar_does(
    factor: float, lookback: int, volume: float
) -> None:
    # Volume factors with a long decimal expansion make big exact fractions; with zero
    # volumes (a dead market) or tiny ones, the scan must still agree with on_bar.
    config = BreakoutConfig(lookback=lookback, volume_factor=factor)
    bars = [
        Bar("KRW-A", T0 + i * H, 100.0 + i, 100.0 + i, 100.0 + i, 100.0 + i, volume)
        for i in range(lookback + 20)
    ]
    fresh = BreakoutStrategy(config)
    expected = [row for row, bar in enumerate(bars) if fresh.on_bar(bar) is not None]
    assert BreakoutStrategy(config).signal_rows(BarColumns("KRW-A", bars)) == expected


# -- a strategy that changes on_bar but inherits the scan -------------------------------------


class QuietBreakout(BreakoutStrategy):
    """The breakout, but only when the bar's range is narrow (a plugin's variation).

    It changes ``on_bar`` and inherits ``signal_rows``/``signal_at``, which know nothing of it.
    """

    def on_bar(self, bar: Bar) -> Signal | None:
        signal = super().on_bar(bar)
        if signal is not None and bar.high - bar.low > 0.01 * bar.close:
            return None
        return signal


def test_a_strategy_that_changes_on_bar_is_not_scanned_with_its_parents_scan() -> None:
    from tradekit.testing import random_walk_bars

    bars = random_walk_bars(1500, "KRW-A", seed=3, price=100_000.0)
    bars = [
        attrs.evolve(b, volume=b.volume * (5.0 if i % 7 == 0 else 1.0)) for i, b in enumerate(bars)
    ]
    config = BreakoutConfig(lookback=5, volume_factor=1.5, stop_loss=0.01, take_profit=0.02)

    def rules() -> list[RiskRule]:
        return [PositionSize(PositionSize.Config(fraction=0.5))]

    markets = ["KRW-A"]
    stepped = run_bars(bars, markets, lambda _m: QuietBreakout(config), rules(), EngineParams())
    skipping = run_candles(
        [BarColumns("KRW-A", bars)],
        markets,
        lambda _m: QuietBreakout(config),
        rules(),
        EngineParams(),
    )
    plain = run_bars(bars, markets, lambda _m: BreakoutStrategy(config), rules(), EngineParams())
    assert stepped.fills != plain.fills  # the variation matters on these bars
    assert_same_run(skipping, stepped)


# -- trading days where daylight saving time starts at midnight -------------------------------


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("America/Santiago", "2021-08-01"),  # 2021-09-05 00:00 does not exist (to 01:00)
        ("Asia/Beirut", "2014-03-01"),  # 2014-03-30 00:00 does not exist
        ("America/Havana", "2023-03-01"),  # 2023-03-12 00:00 does not exist
    ],
)
def test_the_day_after_a_midnight_change_ends_at_midnight(zone: str, start: str) -> None:
    # That day has 23 hours; walking hour by hour must not make it 24 (a day boundary an hour
    # late all summer), and must agree with a day computed afresh, which the idle-bar path of
    # the daily loss limit uses when it skips days.
    t0 = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp() * 1000)
    walked = TradingDay(zone)
    for hour in range(90 * 24):
        t = t0 + hour * H
        walked.is_new_day(t)
        fresh = TradingDay(zone)
        fresh.is_new_day(t)
        assert (walked.start_ms, walked.end_ms, walked.label) == (
            fresh.start_ms,
            fresh.end_ms,
            fresh.label,
        ), t
        local_end = datetime.fromtimestamp(walked.end_ms / 1000, ZoneInfo(zone))
        assert (local_end.hour, local_end.minute) in ((0, 0), (1, 0)), t


def test_the_daily_loss_limit_rolls_at_local_midnight_in_both_runs() -> None:
    # Santiago: a halt on 2021-09-05 (a 23-hour day), then idle hourly bars into 2021-09-06.
    zone = "America/Santiago"
    t = int(datetime(2021, 9, 5, 12, tzinfo=UTC).timestamp() * 1000)
    pair = [DailyLossLimit(DailyLossLimit.Config(limit=0.05, timezone=zone)) for _ in range(2)]
    for rule in pair:
        rule.reset(1000.0)
        rule.on_bar_close(t - 24 * H, 1000.0)  # 2021-09-04: the next day is walked into
        assert rule.on_bar_close(t, 900.0) is not None  # halted for 2021-09-05
    times = [t + i * H for i in range(1, 30)]
    per_bar = [e for time_ms in times if (e := pair[0].on_bar_close(time_ms, 900.0))]
    in_bulk = pair[1].on_idle_bars(times, 900.0)
    assert in_bulk == per_bar
    resumed = datetime.fromtimestamp(per_bar[0].time_ms / 1000, ZoneInfo(zone))
    assert resumed.isoformat() == "2021-09-06T00:00:00-03:00"
