"""CandleBuilder: trades to closed bars (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger
from tradekit_bithumb.candle_builder import CandleBuilder

from tradekit.models import Bar, Side, Timeframe, Trade

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture
def logs() -> Iterator[list[str]]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="DEBUG")
    yield messages
    logger.remove(handler)


def trade(time_ms: int, price: float, volume: float = 1.0, market: str = "KRW-BTC") -> Trade:
    return Trade(market, time_ms, price, volume, Side.BUY, str(time_ms))


def aggregate(trades: list[Trade], period: int) -> list[Bar]:
    """The reference: group by interval; open/close by time (ties: given order)."""
    groups: dict[tuple[str, int], list[Trade]] = {}
    for t in trades:
        groups.setdefault((t.market, t.time_ms - t.time_ms % period), []).append(t)
    bars = []
    for (market, start), group in sorted(groups.items()):
        by_time = sorted(group, key=lambda t: t.time_ms)  # stable: ties keep arrival order
        prices = [t.price for t in group]
        volume = float(sum(Decimal(repr(t.volume)) for t in group))
        bars.append(
            Bar(
                market,
                start,
                by_time[0].price,
                max(prices),
                min(prices),
                by_time[-1].price,
                volume,
            )
        )
    return bars


def test_a_trade_of_the_next_interval_closes_the_bar_with_exact_ohlcv() -> None:
    builder = CandleBuilder(Timeframe("1m"), grace_s=2)
    assert builder.add(trade(T0 + 1_000, 100, 0.1)) is None
    assert builder.add(trade(T0 + 2_000, 120, 0.2)) is None
    assert builder.add(trade(T0 + 3_000, 90, 0.3)) is None
    assert builder.add(trade(T0 + 59_999, 110, 0.4)) is None
    closed = builder.add(trade(T0 + MINUTE, 111, 5))
    assert closed == Bar("KRW-BTC", T0, 100, 120, 90, 110, 1.0)
    # 0.1 + 0.2 is 0.30000000000000004 in floats; the bar keeps the printed decimals.
    builder.add(trade(T0 + MINUTE + 1, 111, 0.1))
    builder.add(trade(T0 + MINUTE + 2, 111, 0.2))
    (second,) = builder.close_due(T0 + 10 * MINUTE)
    assert second.volume == 5.3


def test_the_clock_closes_a_bar_only_after_end_plus_grace() -> None:
    builder = CandleBuilder(Timeframe("1m"), grace_s=2.5)
    builder.add(trade(T0 + 10_000, 100))
    assert builder.close_due(T0 + MINUTE) == []
    assert builder.close_due(T0 + MINUTE + 2_499) == []
    assert builder.open_bar("KRW-BTC") == Bar("KRW-BTC", T0, 100, 100, 100, 100, 1)
    assert builder.close_due(T0 + MINUTE + 2_500) == [Bar("KRW-BTC", T0, 100, 100, 100, 100, 1)]
    assert builder.close_due(T0 + 5 * MINUTE) == []
    assert builder.open_bar("KRW-BTC") is None


def test_intervals_without_trades_make_no_bar() -> None:
    builder = CandleBuilder(Timeframe("1m"), grace_s=0)
    builder.add(trade(T0, 100))
    closed = builder.add(trade(T0 + 3 * MINUTE, 101))
    assert closed is not None
    assert closed.time_ms == T0
    assert builder.close_due(T0 + 10 * MINUTE)[0].time_ms == T0 + 3 * MINUTE


def test_late_trades_for_closed_intervals_are_ignored_with_a_log_line(logs: list[str]) -> None:
    builder = CandleBuilder(Timeframe("1m"), grace_s=1)
    builder.add(trade(T0, 100))
    first = builder.add(trade(T0 + 2 * MINUTE + 5, 200))
    assert first == Bar("KRW-BTC", T0, 100, 100, 100, 100, 1)
    # Late for the closed interval 0, and for the empty interval 1 that a later one followed.
    assert builder.add(trade(T0 + 30_000, 1)) is None
    assert builder.add(trade(T0 + MINUTE + 30_000, 1)) is None
    assert sum("late trade" in line for line in logs) == 2
    (second,) = builder.close_due(T0 + 3 * MINUTE + 1_000)
    assert second == Bar("KRW-BTC", T0 + 2 * MINUTE, 200, 200, 200, 200, 1)
    # Closed by the clock: later trades for it are late too, and nothing reopens it.
    assert builder.add(trade(T0 + 2 * MINUTE + 50_000, 300)) is None
    assert builder.close_due(T0 + 100 * MINUTE) == []
    assert sum("late trade" in line for line in logs) == 3


def test_open_and_close_follow_trade_time_not_arrival() -> None:
    builder = CandleBuilder(Timeframe("1h"), grace_s=0)
    builder.add(trade(T0 + 500, 105))
    builder.add(trade(T0 + 100, 101))  # earlier in the same interval: the open
    builder.add(trade(T0 + 900, 103))
    builder.add(trade(T0 + 700, 99))
    (bar,) = builder.close_due(T0 + 3_600_000)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (101, 105, 99, 103, 4)


def test_markets_are_independent() -> None:
    builder = CandleBuilder(Timeframe("1m"), grace_s=0)
    builder.add(trade(T0, 100, market="KRW-BTC"))
    builder.add(trade(T0 + 5 * MINUTE, 10, market="KRW-ETH"))
    # An ETH trade five minutes later neither closes BTC's bar nor makes BTC's trades late.
    assert builder.add(trade(T0 + 30_000, 101, market="KRW-BTC")) is None
    closed = builder.close_due(T0 + MINUTE)
    assert closed == [Bar("KRW-BTC", T0, 100, 101, 100, 101, 2)]


def test_rejects_a_negative_grace() -> None:
    with pytest.raises(ValueError, match="grace_s"):
        CandleBuilder(Timeframe("1m"), grace_s=-1)


prices = st.integers(min_value=1, max_value=1_000).map(float)
volumes = st.decimals(min_value=0, max_value=100, places=4).map(lambda d: float(d))
trade_lists = st.lists(
    st.tuples(
        st.sampled_from(["KRW-BTC", "KRW-ETH"]),
        st.integers(min_value=0, max_value=10 * MINUTE),
        prices,
        volumes,
    ),
    max_size=60,
).map(lambda rows: [trade(T0 + t, p, v, market=m) for m, t, p, v in rows])


def build_all(builder: CandleBuilder, trades: list[Trade]) -> list[Bar]:
    bars = [bar for t in trades if (bar := builder.add(t)) is not None]
    return bars + builder.close_due(T0 + 1_000 * MINUTE)


@given(trade_lists)
def test_in_time_order_every_trade_counts_exactly_once(trades: list[Trade]) -> None:
    trades.sort(key=lambda t: t.time_ms)
    bars = build_all(CandleBuilder(Timeframe("1m"), grace_s=0), trades)
    assert sorted(bars, key=lambda b: (b.market, b.time_ms)) == aggregate(trades, MINUTE)


@given(trade_lists)
def test_any_arrival_order_gives_bars_consistent_with_the_trades(trades: list[Trade]) -> None:
    bars = build_all(CandleBuilder(Timeframe("1m"), grace_s=0), trades)
    # Model: a trade counts unless its market already started a later interval.
    accepted, newest = [], {}
    for t in trades:
        start = t.time_ms - t.time_ms % MINUTE
        if start >= newest.get(t.market, start):
            newest[t.market] = start
            accepted.append(t)
    assert sorted(bars, key=lambda b: (b.market, b.time_ms)) == aggregate(accepted, MINUTE)
    for market in ("KRW-BTC", "KRW-ETH"):
        times = [b.time_ms for b in bars if b.market == market]
        assert times == sorted(set(times)), "bars of a market close in time order, once each"
