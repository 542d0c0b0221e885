"""The fill rules of docs/backtests.md, one by one, on small hand-made bar series."""

from __future__ import annotations

import attrs
import pytest
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import BacktestResult, run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.events import EntryRejected, TradingHalted, TradingResumed
from tradekit.models import Bar

HOUR = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % (24 * HOUR)) + 15 * HOUR  # 00:00 KST


def flat(n: int, price: float = 100_000.0, volume: float = 1.0, start: int = 0) -> list[Bar]:
    """``n`` quiet bars around ``price`` (high = price + 100, low = price - 100)."""
    return [
        Bar("KRW-BTC", T0 + (start + i) * HOUR, price, price + 100, price - 100, price, volume)
        for i in range(n)
    ]


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 1.0) -> Bar:
    return Bar("KRW-BTC", T0 + i * HOUR, o, h, lo, c, v)


def run(bars: list[Bar], **strategy: float) -> BacktestResult:
    config = BreakoutConfig(**strategy)  # type: ignore[arg-type]
    return run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(config),
        [
            DailyLossLimit(DailyLossLimit.Config(limit=0.05)),
            PositionSize(PositionSize.Config(fraction=0.05)),
        ],
        EngineParams(),
    )


def breakout(i: int) -> Bar:
    """A bar at index ``i`` that closes above the 20-bar high with 3x the volume."""
    return bar(i, 100_000, 101_000, 99_900, 101_000, 3.0)


def test_entry_fills_at_next_open_with_spec_quantity_and_fee() -> None:
    bars = [*flat(20), breakout(20), bar(21, 101_500, 101_600, 101_400, 101_500)]
    result = run(bars)
    entry = result.fills[0]
    assert entry.time_ms == T0 + 21 * HOUR
    assert entry.price == 101_500
    assert entry.quantity == pytest.approx(10_000_000 * 0.05 / 101_000, abs=1e-8)
    assert entry.quantity == int(10_000_000 * 0.05 / 101_000 * 1e8) / 1e8
    assert entry.fee == 101_500 * entry.quantity * 0.0025
    assert entry.reason == "entry"
    # The position is still open at the end and is sold at the last close.
    assert [f.reason for f in result.fills] == ["entry", "end_of_data"]
    assert result.fills[-1].time_ms == T0 + 21 * HOUR
    assert result.fills[-1].price == 101_500


def test_no_signal_before_lookback_bars() -> None:
    bars = [*flat(19), breakout(19), bar(20, 101_000, 101_100, 100_900, 101_000)]
    assert run(bars).fills == []


def test_volume_filter_is_strict() -> None:
    # volume 1.5 == 1.5 * mean(1.0): not strictly greater, so no entry.
    bars = [*flat(20), bar(20, 100_000, 101_000, 99_900, 101_000, 1.5), *flat(2, start=21)]
    assert run(bars).fills == []
    bars[20] = bar(20, 100_000, 101_000, 99_900, 101_000, 1.50000001)
    assert run(bars).fills[0].reason == "entry"


def test_zero_volume_window_never_signals_on_zero_volume_bar() -> None:
    # 20 zero-volume bars then a zero-volume bar above the high: 0 > 1.5 * 0 is false.
    bars = [*flat(20, volume=0.0), bar(20, 100_000, 101_000, 99_900, 101_000, 0.0)]
    assert run(bars).fills == []


def test_gap_through_stop_sells_at_open() -> None:
    entry_open = 101_000.0
    stop = entry_open * (1 - 0.015)
    bars = [
        *flat(20),
        breakout(20),
        bar(21, entry_open, 101_200, 100_800, 101_100),
        bar(22, 99_000, 99_500, 98_000, 99_200),  # opens below the stop
    ]
    sell = run(bars).fills[1]
    assert (sell.price, sell.reason, sell.time_ms) == (99_000, "stop_loss", T0 + 22 * HOUR)
    assert stop > 99_000


def test_stop_touched_sells_at_stop_even_in_entry_bar() -> None:
    bars = [*flat(20), breakout(20), bar(21, 101_000, 101_100, 99_000, 99_500)]
    sell = run(bars).fills[1]
    assert sell.price == 101_000 * (1 - 0.015)
    assert sell.reason == "stop_loss"
    assert sell.time_ms == T0 + 21 * HOUR


def test_entry_bar_opening_below_stop_is_not_a_gap() -> None:
    # The gap rule needs a position opened before the bar; the entry bar uses low <= stop.
    bars = [*flat(20), breakout(20), bar(21, 101_000, 101_000, 98_000, 98_500)]
    sell = run(bars).fills[1]
    assert sell.price == 101_000 * (1 - 0.015)


def test_partial_take_profit_then_trailing_stop_from_next_bar() -> None:
    o = 101_000.0
    tp = o * 1.03
    bars = [
        *flat(20),
        breakout(20),
        bar(21, o, o + 100, o - 100, o),
        bar(22, o, 105_000, o - 100, 104_000),  # reaches the take-profit
        # low is below the raised stop (105,000 * 0.99 = 103,950) but the raised stop is
        # first tested in the next bar... and this IS the next bar, so it triggers here.
        bar(23, 104_500, 104_600, 103_900, 104_000),
    ]
    fills = run(bars).fills
    partial = fills[1]
    assert partial.reason == "take_profit"
    assert partial.price == max(o, tp)
    entry_qty = fills[0].quantity
    assert partial.quantity == int(entry_qty * 0.5 * 1e8 + 1e-6) / 1e8
    trail = fills[2]
    assert trail.reason == "trailing_stop"
    assert trail.price == 105_000 * (1 - 0.01)
    assert trail.quantity == round(entry_qty - partial.quantity, 8)


def test_stop_raised_in_a_bar_is_not_tested_in_that_bar() -> None:
    o = 101_000.0
    bars = [
        *flat(20),
        breakout(20),
        bar(21, o, o + 100, o - 100, o),
        # Reaches take-profit (high 106,000 -> trailing stop 104,940) and its low 104,000 is
        # below that new stop, but the new stop only counts from the next bar.
        bar(22, 104_500, 106_000, 104_000, 105_500),
        bar(23, 105_500, 105_600, 105_400, 105_500),
    ]
    fills = run(bars).fills
    assert [f.reason for f in fills] == ["entry", "take_profit", "end_of_data"]


def test_take_profit_opening_above_target_sells_at_open() -> None:
    o = 101_000.0
    bars = [
        *flat(20),
        breakout(20),
        bar(21, o, o + 100, o - 100, o),
        bar(22, 106_000, 106_500, 105_900, 106_200),
    ]
    partial = run(bars).fills[1]
    assert partial.price == 106_000


def test_take_profit_sells_all_when_rest_is_below_minimum() -> None:
    # With 5% of 10M and a 0.999 fraction, the rest is worth far below 5,000 KRW.
    o = 101_000.0
    bars = [
        *flat(20),
        breakout(20),
        bar(21, o, o + 100, o - 100, o),
        bar(22, o, 105_000, o - 100, 104_000),
    ]
    fills = run(bars, take_profit_fraction=0.999).fills
    assert [f.reason for f in fills] == ["entry", "take_profit"]
    assert fills[1].quantity == fills[0].quantity


def test_take_profit_fraction_zero_only_arms_trailing_stop() -> None:
    o = 101_000.0
    bars = [
        *flat(20),
        breakout(20),
        bar(21, o, o + 100, o - 100, o),
        bar(22, o, 105_000, o - 100, 104_000),
        bar(23, 104_500, 104_600, 103_000, 104_000),
    ]
    fills = run(bars, take_profit_fraction=0.0).fills
    assert [f.reason for f in fills] == ["entry", "trailing_stop"]
    assert fills[1].quantity == fills[0].quantity


def test_no_entry_while_position_or_pending() -> None:
    # Two breakouts in a row: the second is ignored while the first is pending.
    bars = [
        *flat(20),
        breakout(20),
        bar(21, 101_000, 102_000, 100_990, 102_000, 5.0),
        *flat(2, 102_000, start=22),
    ]
    fills = run(bars).fills
    assert [f.reason for f in fills].count("entry") == 1


def test_entry_below_minimum_order_is_rejected_with_event() -> None:
    bars = [*flat(20), breakout(20), *flat(2, start=21)]
    result = run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        EngineParams(initial_cash=50_000.0),
    )
    assert result.fills == []
    rejected = [e for e in result.events if isinstance(e, EntryRejected)]
    assert len(rejected) == 1
    assert rejected[0].rule == "min_order_value"
    assert "below the minimum 5,000" in rejected[0].reason


def test_daily_halt_blocks_entries_and_resets_at_kst_midnight() -> None:
    # A 90% position gapping 20% below its stop loses more than 5% of equity.
    day1 = [*flat(20), breakout(20), bar(21, 101_000, 101_100, 100_900, 101_000)]
    day1 += [bar(22, 80_000, 80_100, 79_900, 80_000)]
    # Still day 1 (bar 23): another breakout is rejected because trading is halted.
    day1 += [bar(23, 80_000, 102_000, 79_900, 102_000, 9.0)]
    # Day 2 starts at bar 24 (00:00 KST): a breakout is accepted again.
    day2 = [
        bar(24, 102_000, 102_100, 101_900, 102_000),
        bar(25, 102_000, 103_000, 101_900, 103_000, 9.0),
        bar(26, 103_000, 103_100, 102_900, 103_000),
    ]
    result = run_bars(
        day1 + day2,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [
            DailyLossLimit(DailyLossLimit.Config(limit=0.05)),
            PositionSize(PositionSize.Config(fraction=0.9)),
        ],
        EngineParams(),
    )
    halts = [e for e in result.events if isinstance(e, TradingHalted)]
    assert len(halts) == 1
    assert halts[0].time_ms == T0 + 22 * HOUR
    rejected = [e for e in result.events if isinstance(e, EntryRejected)]
    assert [(e.time_ms, e.rule) for e in rejected] == [(T0 + 23 * HOUR, "daily_loss_limit")]
    assert any(isinstance(e, TradingResumed) for e in result.events)
    entries = [f for f in result.fills if f.reason == "entry"]
    assert [f.time_ms for f in entries] == [T0 + 21 * HOUR, T0 + 26 * HOUR]


def test_pending_entry_is_dropped_at_end_of_data() -> None:
    result = run([*flat(20), breakout(20)])
    assert result.fills == []


def test_equity_curve_marks_position_at_close() -> None:
    result = run([*flat(20), breakout(20), bar(21, 101_000, 101_200, 100_900, 101_100)])
    entry = result.fills[0]
    cash = 10_000_000 - (entry.price * entry.quantity + entry.fee)
    assert result.equity_values[-1] == cash + entry.quantity * 101_100
    assert len(result.equity_values) == 22


def test_several_markets_share_cash_and_follow_config_order() -> None:
    a = [*flat(20), breakout(20), bar(21, 101_000, 101_100, 100_900, 101_000)]
    b = [attrs.evolve(x, market="KRW-ETH") for x in a]
    result = run_bars(
        sorted(a + b, key=lambda x: (x.time_ms, x.market != "KRW-ETH")),
        ["KRW-ETH", "KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        EngineParams(),
    )
    entries = [f for f in result.fills if f.reason == "entry"]
    assert [f.market for f in entries] == ["KRW-ETH", "KRW-BTC"]
    # The second market's size comes from equity after the first market's close, which is
    # the same here (no position yet at bar 20), so the quantities are equal.
    assert entries[0].quantity == entries[1].quantity


def core_for_manual_close() -> TradingCore:
    config = BreakoutConfig()
    return TradingCore(
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(config),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        EngineParams(),
    )


def test_manual_close_sells_everything_at_the_next_open() -> None:
    core = core_for_manual_close()
    for b in [*flat(20), breakout(20), bar(21, 101_500, 101_600, 101_400, 101_500)]:
        core.step(b)
    held = core.position("KRW-BTC")
    assert held is not None
    core.request_close("KRW-BTC")
    core.step(bar(22, 101_200, 101_300, 101_100, 101_250))
    sell = core.fills[-1]
    assert (sell.time_ms, sell.price, sell.quantity, sell.reason) == (
        T0 + 22 * HOUR,
        101_200,
        held.quantity,
        "manual",
    )
    assert core.position("KRW-BTC") is None
    assert core.trades[-1].exit_reason == "manual"
    core.step(bar(23, 101_200, 101_300, 101_100, 101_250))  # the request does not linger
    assert len(core.fills) == 2


def test_manual_close_without_a_position_does_nothing_and_unknown_market_raises() -> None:
    core = core_for_manual_close()
    core.request_close("KRW-BTC")
    for b in flat(3):
        core.step(b)
    assert core.fills == []
    with pytest.raises(KeyError):
        core.request_close("KRW-DOGE")


def test_a_late_bar_from_the_day_before_does_not_lift_a_halt() -> None:
    """Live, another market's bar can arrive after midnight for the previous day."""
    rule = DailyLossLimit(DailyLossLimit.Config(limit=0.05))
    rule.reset(10_000_000, T0 + 22 * HOUR)  # day 1, 22:00 KST
    assert isinstance(rule.on_bar_close(T0 + 23 * HOUR, 9_400_000), TradingHalted)
    lifted = rule.on_bar_close(T0 + 24 * HOUR, 9_400_000)  # 00:00 KST, day 2
    assert isinstance(lifted, TradingResumed)
    assert isinstance(rule.on_bar_close(T0 + 24 * HOUR + 1, 8_900_000), TradingHalted)
    # A late day-1 bar: still day 2 for the rule, the halt stays and nothing resets.
    assert rule.on_bar_close(T0 + 23 * HOUR, 8_900_000) is None
    assert rule.halted
    assert rule.on_bar_close(T0 + 25 * HOUR, 8_900_000) is None
    assert rule.halted
