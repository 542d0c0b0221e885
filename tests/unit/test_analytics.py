"""The report's figures: benchmark, drawdown periods, KST months and round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.analytics import (
    PriceSeries,
    analyze,
    benchmark,
    benchmark_curve,
    monthly_returns,
    round_trips,
    underwater,
    yearly_returns,
)
from tradekit.backtest import run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradeRecord
from tradekit.models import Bar, Fill, Side
from tradekit.testing import random_walk_bars

H = 3_600_000


def _bar(market: str, t: int, o: float, c: float) -> Bar:
    return Bar(market, t, o, max(o, c), min(o, c), c, 1.0)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_buy_and_hold_of_one_market_is_last_close_over_first_open() -> None:
    series = PriceSeries.of(
        "KRW-BTC", [_bar("KRW-BTC", 0, 100.0, 120.0), _bar("KRW-BTC", H, 120.0, 150.0)]
    )
    bench = benchmark({"KRW-BTC": series}, 1_000.0)
    assert bench is not None
    assert bench.total_return == pytest.approx(0.5)
    times, values = benchmark_curve({"KRW-BTC": series}, bench)
    assert list(times) == [0, H]
    assert list(values) == pytest.approx([1_200.0, 1_500.0])


def test_buy_and_hold_splits_the_cash_across_markets() -> None:
    a = PriceSeries.of(
        "KRW-BTC", [_bar("KRW-BTC", 0, 100.0, 110.0), _bar("KRW-BTC", 2 * H, 110.0, 200.0)]
    )
    b = PriceSeries.of("KRW-ETH", [_bar("KRW-ETH", H, 10.0, 5.0)])  # starts an hour later
    bench = benchmark({"KRW-BTC": a, "KRW-ETH": b}, 1_000.0)
    assert bench is not None
    # 500 KRW each: 5 BTC units end at 200 (1000), 50 ETH units end at 5 (250).
    assert bench.final == pytest.approx(1_250.0)
    times, values = benchmark_curve({"KRW-BTC": a, "KRW-ETH": b}, bench)
    assert list(times) == [0, H, 2 * H]
    # ETH not bought yet counts as its 500 KRW of cash.
    assert list(values) == pytest.approx([550.0 + 500.0, 550.0 + 250.0, 1_000.0 + 250.0])


def test_no_prices_no_benchmark() -> None:
    assert benchmark({}, 1_000.0) is None
    assert benchmark({"KRW-BTC": PriceSeries("KRW-BTC")}, 1_000.0) is None


def test_underwater_finds_the_deepest_periods_and_open_ones() -> None:
    times = [0, 1, 2, 3, 4, 5, 6]
    values = [100.0, 90.0, 95.0, 110.0, 99.0, 120.0, 60.0]
    result = underwater(times, values, 100.0)
    assert list(result.drawdown) == pytest.approx([0.0, -0.1, -0.05, 0.0, -0.1, 0.0, -0.5])
    deepest, *others = result.periods
    assert (deepest.peak_ms, deepest.trough_ms, deepest.recovered_ms) == (5, 6, None)
    assert deepest.depth == pytest.approx(0.5)
    assert [(p.peak_ms, p.trough_ms, p.recovered_ms) for p in others] == [(0, 1, 3), (3, 4, 5)]


def test_months_are_korean_calendar_months_and_compound_to_the_total() -> None:
    # 15:30 UTC on 31 January is 00:30 KST on 1 February.
    times = [
        _ms("2024-01-10 00:00"),
        _ms("2024-01-31 14:00"),
        _ms("2024-01-31 15:30"),
        _ms("2024-03-02 00:00"),
    ]
    values = [101.0, 110.0, 99.0, 88.0]
    months = monthly_returns(times, values, 100.0, final=87.0)
    assert list(months) == [(2024, 1), (2024, 2), (2024, 3)]
    assert months[(2024, 1)] == pytest.approx(0.10)
    assert months[(2024, 2)] == pytest.approx(99.0 / 110.0 - 1)
    assert months[(2024, 3)] == pytest.approx(87.0 / 99.0 - 1)  # the value after the last sale
    assert yearly_returns(months)[2024] == pytest.approx(87.0 / 100.0 - 1)


def test_round_trip_sums_the_fees_of_its_entry_and_every_sale() -> None:
    fills = [
        Fill(0, "KRW-BTC", Side.BUY, 100.0, 2.0, 0.5, "entry"),
        Fill(H, "KRW-BTC", Side.SELL, 110.0, 1.0, 0.275, "take_profit"),
        Fill(3 * H, "KRW-BTC", Side.SELL, 104.0, 1.0, 0.26, "trailing_stop"),
        Fill(3 * H, "KRW-BTC", Side.BUY, 104.0, 1.0, 0.26, "entry"),  # the next trade
        Fill(4 * H, "KRW-BTC", Side.SELL, 100.0, 1.0, 0.25, "stop_loss"),
    ]
    trades = [
        TradeRecord("KRW-BTC", 0, 3 * H, 100.0, 2.0, 200.5, 213.465, "trailing_stop"),
        TradeRecord("KRW-BTC", 3 * H, 4 * H, 104.0, 1.0, 104.26, 99.75, "stop_loss"),
    ]
    first, second = round_trips(trades, fills)
    assert first.fees == pytest.approx(0.5 + 0.275 + 0.26)
    assert first.exit_price == pytest.approx(107.0)
    assert first.pnl == pytest.approx(12.965)
    assert second.fees == pytest.approx(0.26 + 0.25)
    assert second.exit_price == 100.0


def test_a_real_run_books_every_fee_to_a_round_trip_and_every_bar_to_the_figures() -> None:
    bars = random_walk_bars(6_000, seed=3)
    result = run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        EngineParams(),
    )
    assert len(result.trades) > 10
    prices = {"KRW-BTC": PriceSeries.of("KRW-BTC", bars)}
    a = analyze(
        initial=result.initial_equity,
        final=result.final_equity,
        equity_times=result.equity_times,
        equity_values=result.equity_values,
        fills=result.fills,
        trades=result.trades,
        prices=prices,
    )
    assert sum(r.fees for r in a.trips) == pytest.approx(sum(f.fee for f in result.fills))
    assert sum(r.pnl for r in a.trips) == pytest.approx(a.net_profit)
    assert a.max_drawdown == pytest.approx(result.summary["max_drawdown"])
    assert len(a.drawdown.drawdown) == len(bars)
    total = 1.0
    for r in a.monthly.values():
        total *= 1 + r
    assert total - 1 == pytest.approx(result.final_equity / result.initial_equity - 1)
    assert a.benchmark is not None
    assert a.benchmark.total_return == pytest.approx(bars[-1].close / bars[0].open - 1)
    # One market's benchmark is read off its closes without a scaled copy: same figures.
    times, values = benchmark_curve(prices, a.benchmark)
    full = underwater(times, values, a.initial)
    assert a.benchmark_drawdown is not None
    got = [(p.peak_ms, p.trough_ms, p.recovered_ms) for p in a.benchmark_drawdown.periods]
    assert got == [(p.peak_ms, p.trough_ms, p.recovered_ms) for p in full.periods]
    assert [p.depth for p in a.benchmark_drawdown.periods] == pytest.approx(
        [p.depth for p in full.periods]
    )
    assert a.benchmark_monthly == pytest.approx(monthly_returns(times, values, a.initial))


def _loop_underwater(
    times: list[int], values: list[float], start: float, top: int
) -> tuple[list[float], list[tuple[int, int, int | None, float]]]:
    """Drawdowns and the deepest periods, point by point (what underwater must equal)."""
    drawdowns, peak = [], start
    for v in values:
        peak = max(peak, v)
        drawdowns.append(v / peak - 1.0)
    periods, previous = [], -1
    for b in [*(i for i, d in enumerate(drawdowns) if d >= 0), len(values)]:
        if b > previous + 1:
            segment = drawdowns[previous + 1 : b]
            trough = previous + 1 + segment.index(min(segment))
            recovered = times[b] if b < len(values) else None
            periods.append((times[max(previous, 0)], times[trough], recovered, -min(segment)))
        previous = b
    return drawdowns, sorted(periods, key=lambda p: p[3], reverse=True)[:top]


@pytest.mark.parametrize("top", [1, 3, 5, 50])
def test_underwater_equals_a_point_by_point_walk_with_flat_stretches_and_ties(top: int) -> None:
    # Flat stretches (no position), equal lows (ties keep time order) and a start above all.
    pattern = [100.0, 100.0, 90.0, 90.0, 95.0, 100.0, 100.0, 90.0, 100.0, 80.0, 80.0]
    values = pattern * 40 + [110.0, 70.0, 70.0]
    times = [1_000 + 7 * i for i in range(len(values))]
    for start in (100.0, 120.0):
        result = underwater(times, values, start, top)
        drawdowns, periods = _loop_underwater(times, values, start, top)
        assert list(result.drawdown) == drawdowns
        got = [(p.peak_ms, p.trough_ms, p.recovered_ms, p.depth) for p in result.periods]
        assert got == periods


def test_buy_and_hold_of_markets_with_gaps_adds_each_change_in_time_order() -> None:
    a = PriceSeries.of("KRW-BTC", [_bar("KRW-BTC", t * H, 100.0, 100.0 + t) for t in range(9)])
    b = PriceSeries.of("KRW-ETH", [_bar("KRW-ETH", t * H, 10.0, 9.0 + t) for t in (2, 3, 7, 8)])
    bench = benchmark({"KRW-BTC": a, "KRW-ETH": b}, 1_000.0)
    assert bench is not None
    times, values = benchmark_curve({"KRW-BTC": a, "KRW-ETH": b}, bench)
    # The running total, change by change: BTC before ETH at equal times (config order).
    held = {"KRW-BTC": 500.0, "KRW-ETH": 500.0}
    total, expected = 1_000.0, []
    events = sorted(
        [
            (t, 0, "KRW-BTC", bench.units["KRW-BTC"] * c)
            for t, c in zip(a.times, a.close, strict=True)
        ]
        + [
            (t, 1, "KRW-ETH", bench.units["KRW-ETH"] * c)
            for t, c in zip(b.times, b.close, strict=True)
        ]
    )
    for _t, _rank, market, value in events:
        total += value - held[market]
        held[market] = value
        expected.append(total)
    assert list(times) == [e[0] for e in events]
    assert list(values) == expected
    assert values[-1] == pytest.approx(bench.final)
