"""Faults in live trading: a locked store and a hung notifier never leave coins unwatched."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from test_runner_live import HOUR, MARKET, T0, bar, fake_btc, make_exchange, no_sleep
from tradekit_bithumb.testing import FakeBithumb
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.builtin.risk import PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.executor import OrderExecutor
from tradekit.engine.live_execution import LiveExecution
from tradekit.engine.rules import VenueRules
from tradekit.errors import StorageError
from tradekit.events import ErrorEvent, Event, OrderEvent, Paused, SignalEvent
from tradekit.models import ExitPlan, Order, OrderStatus, OrderType, Side, Signal, Trade
from tradekit.runner.pump import EventPump
from tradekit.store import AsyncStore, RetryPolicy, Store


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition another task brings about (polled: it has no event of its own)."""
    with anyio.fail_after(20):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


FAST = RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.02)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, AsyncStore]]:
    path = tmp_path / "faults.db"
    sync = Store.open(f"sqlite:///{path}", retry=FAST, busy_timeout_ms=50)
    yield str(path), AsyncStore(sync)
    sync.close()


class Locked:
    """Another process holding the database's write lock (``BEGIN EXCLUSIVE``)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


@pytest.mark.anyio
async def test_a_locked_store_never_stops_the_stop_and_catches_up_later(
    fake_bithumb: FakeBithumb, db: tuple[str, AsyncStore]
) -> None:
    path, store = db
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    states: list[str | None] = []
    pump = EventPump([], on_store_state=states.append)
    pump.store = store
    executor = OrderExecutor(
        exchange, pump, sleep=no_sleep, poll_interval_s=0.01, journal_wait_s=0.3
    )

    async def after_booking() -> None:
        with anyio.move_on_after(0.5), contextlib.suppress(StorageError):
            await pump.flush()

    execution = LiveExecution(executor, run_id="faults", after_booking=after_booking)

    def emit(event: Event) -> None:
        events.append(event)
        pump.emit(event)

    core = TradingCore(
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        EngineParams(check_cash=True),
        emit=emit,
        port=execution,
        rules={MARKET: VenueRules(quantity_decimals=4)},
    )
    pump.on_store_state = lambda why: (states.append(why), setattr(core, "entries_blocked", why))
    core.restore_account(10_000_000.0, [])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run_writer)
            tg.start_soon(pump.run_notifiers)
            tg.start_soon(execution.run)
            for i in range(5):
                core.step(bar(i, 50e6, 50.1e6, 49.9e6, 50e6))
            fake_bithumb.set_price(MARKET, 51_000_000)
            core.step(bar(5, 50e6, 51e6, 49.95e6, 51e6, 3.0))  # the entry goes out...
            with anyio.fail_after(20):
                await execution.wait_idle()
            held = core.position(MARKET)
            assert held is not None

            lock = Locked(path)  # ...and the database is locked by someone else
            fake_bithumb.set_price(MARKET, 50_000_000)
            core.on_trade(Trade(MARKET, T0 + 6 * HOUR + 5, 50_000_000, 0.1))  # the stop
            with anyio.fail_after(20):
                await execution.wait_idle()
            # Sold and booked in memory while the store could take nothing.
            assert core.position(MARKET) is None
            assert fake_btc(fake_bithumb) < 1e-4
            await until(lambda: bool(states))  # the pump noticed, said so, and entries wait
            assert states[0] is not None
            assert core.entries_blocked is not None
            # A breakout now is refused, not bought on top of an unstored account.
            for i in range(7, 12):
                core.step(bar(i, 50e6, 50.1e6, 49.9e6, 50e6))
            core.step(bar(12, 50e6, 51e6, 49.95e6, 51e6, 3.0))
            assert len(fake_bithumb.orders) == 2

            lock.release()  # the store is back: everything is written, entries resume
            await until(lambda: core.entries_blocked is None)
            with anyio.fail_after(20):
                await pump.flush()
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert states[-1] is None
    stored_fills = await store.fills()
    assert [f.reason for f in stored_fills] == ["entry", "stop_loss"]
    orders = await store.orders()
    assert {o.status for o in orders} == {OrderStatus.FILLED}
    alarms = [e for e in await store.events(kind="error") if isinstance(e, ErrorEvent)]
    assert [e.source for e in alarms] == ["storage"]  # stored too, once the store was back


class Hung:
    """A notifier whose webhook never answers."""

    name = "hung"

    def __init__(self) -> None:
        self.calls = 0

    async def notify(self, event: Event) -> None:
        self.calls += 1
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
async def test_a_hung_notifier_delays_neither_the_store_nor_shutdown(
    db: tuple[str, AsyncStore],
) -> None:
    _path, store = db
    hung = Hung()
    pump = EventPump([hung])
    pump.store = store
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run_writer)
        tg.start_soon(pump.run_notifiers)
        for i in range(50):
            pump.emit(Paused(T0 + i))
        with anyio.fail_after(10):
            await pump.flush()  # stored at once, while the notifier hangs on the first
        stored_in = time.monotonic() - started
        tg.cancel_scope.cancel()
    assert len(await store.events(kind="paused")) == 50
    assert hung.calls == 1
    with anyio.fail_after(20):
        await pump.close(store_timeout_s=5, notify_timeout_s=0.5)
    # The figures are recorded, not asserted as timings: the flush did not wait for the
    # 30 s notifier deadline, and close() gave the notifiers only their bounded time.
    assert stored_in < 30


@pytest.mark.anyio
async def test_an_order_write_waiting_when_the_store_fails_raises(
    db: tuple[str, AsyncStore],
) -> None:
    path, store = db
    states: list[str | None] = []
    pump = EventPump([], on_store_state=states.append)
    pump.store = store
    order = Order("entry-x", MARKET, Side.BUY, OrderType.MARKET, None, 1e5, OrderStatus.NEW, 1, 1)
    lock = Locked(path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run_writer)
        with anyio.fail_after(20), pytest.raises(StorageError):
            await pump.write(OrderEvent(1, order))  # a buy must not go out on this
        pump.emit(SignalEvent(2, Signal(MARKET, 2, "buy", 1.0, ExitPlan())))
        lock.release()
        await until(lambda: pump.failing is None and not pump._durable)
        tg.cancel_scope.cancel()
    assert states[0] is not None
    assert states[-1] is None
    assert (await store.order("entry-x")) is not None  # written once the store was back
