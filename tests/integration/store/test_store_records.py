"""Every model through the store and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import attrs
import pytest

from tradekit.errors import DataError, StorageError
from tradekit.events import (
    DailyReport,
    EntryRejected,
    ErrorEvent,
    FillEvent,
    OrderEvent,
    PositionClosed,
    SignalEvent,
)
from tradekit.interfaces import CandleSource
from tradekit.models import (
    Bar,
    ExitPlan,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    Timeframe,
)
from tradekit.store import AsyncStore, Store, open_store_candle_source, save_bars
from tradekit.store.candles import StoreCandleSource

H = 3_600_000
T0 = 1_700_000_000_000


def order(cid: str = "tk-1", status: OrderStatus = OrderStatus.NEW, **kw: object) -> Order:
    values: dict[str, object] = {
        "client_order_id": cid,
        "market": "KRW-BTC",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "volume": 0.00123456,
        "price": 51_234_000.0,
        "status": status,
        "created_ms": T0,
        "updated_ms": T0,
        "reason": "entry",
    }
    values.update(kw)
    return Order(**values)  # type: ignore[arg-type]


def test_orders_round_trip_and_update(store: Store) -> None:
    run = store.start_run("live", config_digest="ab" * 32)
    new = order()
    store.record_order(new)
    assert store.orders() == [new]
    assert store.order("tk-1") == new
    filled = attrs.evolve(
        new,
        status=OrderStatus.FILLED,
        updated_ms=T0 + 5,
        exchange_order_id="C0101000000001",
        executed_volume=0.00123456,
        average_price=51_230_500.5,
        fee=0.1 + 0.2,  # 0.30000000000000004: money keeps every digit
    )
    store.update_order(filled)
    assert store.orders() == [filled]
    # A late, older answer does not roll the order back.
    store.update_order(attrs.evolve(new, status=OrderStatus.OPEN, updated_ms=T0 + 1))
    assert store.order("tk-1") == filled
    store.end_run()
    [stored_run] = store.runs()
    assert stored_run["id"] == run
    assert stored_run["mode"] == "live"
    assert stored_run["ended_ms"] is not None


def test_latest_keeps_the_newest_rows_oldest_first(store: Store) -> None:
    for i in range(5):
        store.record_order(order(f"tk-{i}", created_ms=T0 + i * H, updated_ms=T0 + i * H))
        store.record_fill(Fill(T0 + i * H, "KRW-BTC", Side.BUY, 100.0 + i, 0.1, 0.01, "entry"))
    assert [o.client_order_id for o in store.orders(latest=2)] == ["tk-3", "tk-4"]
    assert [o.client_order_id for o in store.orders(limit=2)] == ["tk-0", "tk-1"]
    assert [f.price for f in store.fills(latest=3)] == [102.0, 103.0, 104.0]
    assert [f.price for f in store.fills(latest=3, since_ms=T0 + 3 * H)] == [103.0, 104.0]
    assert len(store.fills(latest=10)) == 5


def test_record_order_is_idempotent_but_refuses_a_different_order(store: Store) -> None:
    store.record_order(order())
    store.record_order(order())
    assert len(store.orders()) == 1
    with pytest.raises(StorageError, match="already stored"):
        store.record_order(order(price=1.0))


def test_update_of_an_unrecorded_order_is_kept(store: Store) -> None:
    lost = order("tk-9", OrderStatus.UNKNOWN, volume=None, price=100_000.0, type=OrderType.MARKET)
    store.update_order(lost)
    assert store.orders() == [lost]


def test_reconcile_candidates_are_the_non_final_orders(store: Store) -> None:
    for i, status in enumerate(OrderStatus):
        store.record_order(order(f"tk-{i}", status, created_ms=T0 + i, updated_ms=T0 + i))
    candidates = {o.status for o in store.reconcile_candidates()}
    assert candidates == {
        OrderStatus.NEW,
        OrderStatus.SUBMITTED,
        OrderStatus.OPEN,
        OrderStatus.UNKNOWN,
    }
    assert [o.status for o in store.open_orders()] == [OrderStatus.OPEN]
    assert len(store.orders(market="KRW-BTC", limit=3)) == 3
    assert store.orders(market="KRW-ETH") == []


def test_fills_signals_and_events_round_trip(store: Store) -> None:
    store.start_run("paper")
    fills = [
        Fill(T0, "KRW-BTC", Side.BUY, 50_000_000.0, 0.001, 125.0, "entry", "tk-1"),
        Fill(T0 + H, "KRW-BTC", Side.SELL, 51_500_000.5, 0.0005, 64.37500063, "take_profit"),
    ]
    for fill in fills:
        store.record_fill(fill)
    assert store.fills() == fills
    assert store.fills(client_order_id="tk-1") == fills[:1]
    assert store.fills(since_ms=T0 + 1) == fills[1:]

    plan = ExitPlan(stop_loss=0.015, take_profit=0.03, take_profit_fraction=0.5, trailing_stop=0.01)
    signals = [
        Signal("KRW-BTC", T0, "buy", 50_000_000.0, plan, 0.8, "breakout", "breakout"),
        Signal("KRW-ETH", T0 + H, "buy", 3_000_000.0, ExitPlan()),
    ]
    for signal in signals:
        store.record_signal(signal)
    assert store.signals() == signals
    assert store.signals(market="KRW-ETH") == signals[1:]

    position = Position("KRW-BTC", 0.001, 50_000_000.0, T0, 49_250_000.0, 51_500_000.0)
    events = [
        SignalEvent(T0, signals[0]),
        OrderEvent(T0, order()),
        FillEvent(T0, fills[0], cash=9_950_000.0, equity=10_000_000.0),
        EntryRejected(T0 + H, "KRW-ETH", "position_size", "too small"),
        PositionClosed(T0 + 2 * H, position, pnl=-1234.5, reason="stop_loss"),
        ErrorEvent(T0 + 3 * H, "exchange", "timeout"),
    ]
    for event in events:
        store.record_event(event)
    assert store.events() == events
    assert store.events(kind="fill") == events[2:3]


def test_positions_upsert_by_market_and_entry(store: Store) -> None:
    opened = Position("KRW-BTC", 0.002, 50_000_000.0, T0, 49_250_000.0, 51_500_000.0)
    store.upsert_position(opened, updated_ms=T0)
    assert store.positions() == [opened]
    moved = attrs.evolve(
        opened,
        quantity=0.001,
        stop=50_100_000.0,
        take_profit_reached=True,
        highest=52_000_000.0,
        last_price=51_900_000.0,
    )
    store.upsert_position(moved, updated_ms=T0 + H)
    store.upsert_position(opened, updated_ms=T0 + 1)  # stale: ignored
    assert store.positions() == [moved]
    closed = attrs.evolve(moved, quantity=0.0, status="closed")
    store.upsert_position(closed, updated_ms=T0 + 2 * H)
    assert store.positions() == []
    assert store.positions(include_closed=True) == [closed]


def test_daily_performance_round_trip_and_replace(store: Store) -> None:
    day = DailyReport(T0, "2024-03-01", 10_000_000.0, 10_120_000.5, 120_000.5, 0.0123, 3, 2 / 3)
    store.record_daily_performance(day)
    [back] = store.performance()
    assert attrs.evolve(back, time_ms=day.time_ms) == day
    again = attrs.evolve(day, profit=1.0, trades=4, win_rate=None, notes="halted")
    store.record_daily_performance(again)
    assert [attrs.evolve(r, time_ms=T0) for r in store.performance()] == [again]


def bars(n: int, market: str = "KRW-BTC", start: int = T0) -> list[Bar]:
    return [
        Bar(market, start + i * H, 100.0 + i, 101.5 + i, 99.25 + i, 100.5 + i, 0.1 * i)
        for i in range(n)
    ]


def test_save_candles_is_an_idempotent_upsert(store: Store) -> None:
    series = bars(12)
    assert store.save_candles("1h", series) == 12
    assert store.save_candles(Timeframe("1h"), series[5:]) == 7
    assert store.candles("KRW-BTC", "1h") == series
    changed = attrs.evolve(series[3], close=103.125)
    store.save_candles("1h", [changed])
    assert store.candles("KRW-BTC", "1h")[3] == changed
    assert store.candles("KRW-BTC", "1h", since=T0 + 2 * H, until=T0 + 4 * H) == [
        series[2],
        changed,
    ]
    assert store.candles("KRW-BTC", "15m") == []
    assert store.last_candle_time("KRW-BTC", "1h") == series[-1].time_ms
    assert store.last_candle_time("KRW-ETH", "1h") is None


def test_candle_source_over_the_store(store_url: str) -> None:
    series = bars(7_000)  # more than one page
    assert save_bars(store_url, "1h", series) == len(series)
    save_bars(store_url, "1h", bars(3, "KRW-ETH"))
    source = open_store_candle_source(store_url)
    assert isinstance(source, StoreCandleSource)
    assert isinstance(source, CandleSource)
    assert list(source.bars("KRW-BTC", Timeframe("1h"))) == series
    with pytest.raises(DataError, match="no 1d candles for KRW-BTC"):
        list(source.bars("KRW-BTC", Timeframe("1d")))


@pytest.mark.anyio
async def test_async_store(store_url: str) -> None:
    async with await AsyncStore.open(store_url) as store:
        run = await store.start_run("paper")
        assert store.run_id == run
        await store.record_order(order())
        await store.update_order(order(status=OrderStatus.SUBMITTED, updated_ms=T0 + 1))
        await store.record_fill(Fill(T0, "KRW-BTC", Side.BUY, 1.0, 2.0, 0.0, "entry"))
        assert [o.status for o in await store.reconcile_candidates()] == [OrderStatus.SUBMITTED]
        assert await store.open_orders() == []
        assert len(await store.fills()) == 1
        assert await store.save_candles("1h", bars(3)) == 3
        assert await store.candles("KRW-BTC", "1h") == bars(3)
        await store.end_run()
