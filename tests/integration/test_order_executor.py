"""OrderExecutor against the real Bithumb connector, the fake Bithumb server and a SQLite store.

The executor journals order states through :class:`StoreJournal` (straight into the store) and
hands new fills out through ``take_fills``; booking and storing them is the caller's job, so
these tests record the fills they take (:func:`book`) wherever a later restart must see them.

Time is injected: the executor's clock only moves when it sleeps, and its sleeps do not wait,
so these tests never depend on the wall clock (only the HTTP client's own timeout is real).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest
from loguru import logger
from tradekit_bithumb.client import Backoff, BithumbClient
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb

from tradekit.engine.executor import (
    NEVER_SENT,
    NOT_RECEIVED,
    NOT_SENT,
    OrderExecutor,
    StoreJournal,
)
from tradekit.errors import OrderStateUnknown, StorageError
from tradekit.events import OrderEvent
from tradekit.models import Fill, Order, OrderStatus, OrderType, Side
from tradekit.store import AsyncStore, Store

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
PRICE = 50_000_000
MARKET = "KRW-BTC"
LIMIT = 10.0  # seconds any one test may take before it is failed as hung


# ---- helpers ---------------------------------------------------------------------------------


class FakeTime:
    """The executor's clock and sleep: sleeping advances the clock and runs scripted steps."""

    def __init__(self) -> None:
        self.now_ms = T0
        self.sleeps: list[float] = []
        self.steps: list[Callable[[], object]] = []

    def clock(self) -> int:
        return self.now_ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ms += int(seconds * 1000)
        if self.steps:
            self.steps.pop(0)()
        await anyio.lowlevel.checkpoint()


async def no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def make_exchange(
    server: FakeBithumb, *, http: httpx.AsyncClient | None = None, **config: Any
) -> BithumbExchange:
    """The real connector with tiny retry backoff (``config`` overrides the exchange block)."""
    cfg = BithumbConfig(
        base_url=server.base_url,
        ws_url=server.ws_url,
        api_key=server.api_key,
        api_secret=server.api_secret,
        **config,
    )
    extra: dict[str, Any] = {} if http is None else {"http": http}
    client = BithumbClient.from_config(cfg, backoff=Backoff(0.001, 0.01), sleep=no_sleep, **extra)
    return BithumbExchange(cfg, client=client)


def make_executor(
    exchange: Any,
    store: Any,
    time: FakeTime,
    *,
    max_lookups: int = 3,
    timeout_s: float = 10.0,
    deadline_s: float = 30.0,
) -> OrderExecutor:
    """An executor journaling into ``store`` (a store is wrapped in a StoreJournal)."""
    journal = store if hasattr(store, "write") else StoreJournal(store)
    return OrderExecutor(
        exchange,
        journal,
        clock=time.clock,
        sleep=time.sleep,
        confirm_timeout_s=timeout_s,
        poll_interval_s=1.0,
        max_lookups=max_lookups,
        deadline_s=deadline_s,
    )


async def book(executor: OrderExecutor, store: Any, *cids: str) -> list[Fill]:
    """What the live runner does after each order: take the new fills and store them."""
    taken: list[Fill] = []
    for cid in cids:
        for fill in executor.take_fills(cid):
            assert fill.client_order_id == cid
            await store.record_fill(fill)
            taken.append(fill)
    return taken


async def run_order(executor: OrderExecutor, order: Order) -> Order:
    """Submit ``order`` and, if it is not settled yet, confirm it (as the live port does)."""
    done = await executor.submit(order)
    if not done.status.is_final and done.status is not OrderStatus.UNKNOWN:
        done = await executor.confirm(done)
    return done


def market_buy(cid: str, krw: float = 100_000.0) -> Order:
    return Order(
        client_order_id=cid,
        market=MARKET,
        side=Side.BUY,
        type=OrderType.MARKET,
        volume=None,
        price=krw,
        status=OrderStatus.NEW,
        created_ms=T0,
        updated_ms=T0,
        reason="entry",
    )


def market_sell(cid: str, volume: float = 0.002) -> Order:
    return attrs.evolve(market_buy(cid), side=Side.SELL, volume=volume, price=None, reason="exit")


def limit_buy(cid: str, volume: float = 0.01, price: float = 40_000_000.0) -> Order:
    return attrs.evolve(
        market_buy(cid), type=OrderType.LIMIT, volume=volume, price=price, reason="entry"
    )


def posts(server: FakeBithumb) -> int:
    return len(server.requests_to("POST", "/v2/orders"))


def lookups(server: FakeBithumb) -> int:
    return len(server.requests_to("GET", "/v1/order"))


class SpyStore:
    """A real AsyncStore that also notes each committed write, in order."""

    def __init__(self, inner: AsyncStore, log: list[str]) -> None:
        self.inner = inner
        self.log = log

    async def update_order(self, order: Order) -> None:
        await self.inner.update_order(order)
        self.log.append(f"update_order {order.status}")

    async def record_fill(self, fill: Fill) -> None:
        await self.inner.record_fill(fill)
        self.log.append(f"record_fill {fill.quantity}")

    async def fills(self, **filters: Any) -> list[Fill]:
        return await self.inner.fills(**filters)

    async def reconcile_candidates(self) -> list[Order]:
        return await self.inner.reconcile_candidates()


class FailingJournal(StoreJournal):
    """A StoreJournal whose writes raise StorageError from write number ``fail_from`` on."""

    def __init__(self, store: AsyncStore, fail_from: int = 0) -> None:
        super().__init__(store)
        self.fail_from = fail_from
        self.attempts: list[OrderStatus] = []
        self.written: list[OrderStatus] = []

    async def write(self, event: OrderEvent) -> None:
        self.attempts.append(event.order.status)
        if len(self.attempts) > self.fail_from:
            raise StorageError("database is locked")
        await super().write(event)
        self.written.append(event.order.status)


@pytest.fixture
def sync_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


@pytest.fixture
def store(sync_store: Store) -> AsyncStore:
    return AsyncStore(sync_store)  # closed with sync_store


@pytest.fixture
async def exchange(fake_bithumb: FakeBithumb) -> AsyncIterator[BithumbExchange]:
    fake_bithumb.set_price(MARKET, PRICE)
    ex = make_exchange(fake_bithumb)
    yield ex
    await ex.aclose()


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    yield lines
    logger.remove(handler)


# ---- submit ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_order_is_stored_before_it_is_sent(
    fake_bithumb: FakeBithumb, sync_store: Store, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    log: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        # Runs as the POST leaves the client: what does the database hold at that moment?
        if request.method == "POST" and request.url.path == "/v2/orders":
            cid = json.loads(request.content)["client_order_id"]
            row = sync_store.order(cid)
            log.append(f"POST (stored: {None if row is None else row.status})")

    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [on_request]}) as http:
        ex = make_exchange(fake_bithumb, http=http)
        executor = make_executor(ex, SpyStore(store, log), time)
        with anyio.fail_after(LIMIT):
            done = await run_order(executor, market_buy("entry-store-first"))
    assert log[:3] == ["update_order new", "update_order submitted", "POST (stored: submitted)"]
    assert done.status is OrderStatus.FILLED
    assert posts(fake_bithumb) == 1


@pytest.mark.anyio
async def test_accepted_market_buy_is_confirmed_filled_with_one_fill(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        placed = await executor.submit(market_buy("entry-1"))
        # The v2 answer carries no state: the order comes back OPEN, confirm() settles it.
        assert placed.status is OrderStatus.OPEN
        assert placed.exchange_order_id is not None
        assert executor.take_fills("entry-1") == []
        assert (await store.orders())[0] == placed
        done = await executor.confirm(placed)
        polls = lookups(fake_bithumb)
        again = await executor.confirm(done)  # already final: no poll, nothing new
    assert lookups(fake_bithumb) == polls
    assert done.status is OrderStatus.FILLED
    assert again == done
    assert done.exchange_order_id == placed.exchange_order_id
    assert done.executed_volume == pytest.approx(0.002)
    assert done.average_price == pytest.approx(PRICE)
    assert done.reason == "entry"
    assert done.created_ms == T0
    assert (await store.orders()) == [done]
    (fill,) = executor.take_fills("entry-1")
    assert executor.take_fills("entry-1") == []  # each fill is handed out once
    assert (fill.market, fill.side, fill.reason, fill.client_order_id) == (
        MARKET,
        Side.BUY,
        "entry",
        "entry-1",
    )
    assert fill.quantity == pytest.approx(0.002)
    assert fill.price == pytest.approx(PRICE)
    assert fill.fee == pytest.approx(100_000 * 0.0025)
    assert await store.fills() == []  # the executor stores no fills: its caller does
    assert posts(fake_bithumb) == 1
    assert len(fake_bithumb.orders_for_client_order_id("entry-1")) == 1


@pytest.mark.anyio
async def test_rejected_order_is_stored_rejected_and_never_retried(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        # 0.0001 BTC at 40,000,000 KRW is 4,000 KRW: under Bithumb's 5,000 KRW minimum.
        done = await executor.submit(limit_buy("entry-small", volume=0.0001))
    assert done.status is OrderStatus.REJECTED
    assert "under_min_total_bid" in done.reason
    assert (await store.orders()) == [done]
    assert executor.take_fills("entry-small") == []
    assert posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 0
    assert fake_bithumb.orders == []
    assert time.sleeps == []


@pytest.mark.anyio
async def test_timeout_after_accept_is_not_resent_by_the_connector(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", delay=10)
    # The connector's default retries apply to reads only: an order gets one attempt.
    ex = make_exchange(fake_bithumb, timeout=0.3)
    executor = make_executor(ex, store, time)
    try:
        with anyio.fail_after(LIMIT):
            done = await run_order(executor, market_buy("entry-t1"))
    finally:
        await ex.aclose()
    assert done.status is OrderStatus.FILLED
    assert len(fake_bithumb.orders_for_client_order_id("entry-t1")) == 1
    assert posts(fake_bithumb) == 1
    assert len(executor.take_fills("entry-t1")) == 1


@pytest.mark.anyio
async def test_timeout_after_accept_is_looked_up_by_the_executor_not_resent(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", delay=10)
    ex = make_exchange(fake_bithumb, timeout=0.3, max_retries=0)
    log: list[str] = []
    spy = SpyStore(store, log)
    executor = make_executor(ex, spy, time)
    try:
        with anyio.fail_after(LIMIT):
            done = await executor.submit(market_buy("entry-t2"))
            await book(executor, spy, "entry-t2")
    finally:
        await ex.aclose()
    assert done.status is OrderStatus.FILLED  # the look-up found it done: no confirm needed
    assert log == [
        "update_order new",
        "update_order submitted",
        "update_order unknown",
        "update_order filled",
        "record_fill 0.002",
    ]
    assert len(fake_bithumb.orders_for_client_order_id("entry-t2")) == 1
    assert posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 1
    assert (await store.orders())[0].status is OrderStatus.FILLED


@pytest.mark.anyio
async def test_server_error_on_send_is_looked_up_not_resent(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    # A 5xx proves nothing about the order: it is "unknown", looked up and never re-sent
    # (the fake failed it before creating it, so the look-ups find nothing).
    fake_bithumb.faults.fail_next("POST /v2/orders", 503)
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        done = await executor.submit(market_buy("entry-5xx"))
    assert done.status is OrderStatus.REJECTED
    assert done.reason == NOT_RECEIVED
    assert posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 3
    assert fake_bithumb.orders == []
    assert executor.take_fills("entry-5xx") == []


@pytest.mark.anyio
async def test_order_not_sent_is_sent_again_with_the_same_id(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    # A 429 is answered before the order is processed: provably not sent, safe to re-send.
    fake_bithumb.faults.fail_next("POST /v2/orders", 429, times=2)
    sent_ids: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/v2/orders":
            sent_ids.append(json.loads(request.content)["client_order_id"])

    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [on_request]}) as http:
        executor = make_executor(make_exchange(fake_bithumb, http=http), store, time)
        with anyio.fail_after(LIMIT):
            placed = await executor.submit(market_buy("entry-429"))
            assert time.sleeps == [1.0, 2.0]  # doubling backoff between the attempts
            done = await executor.confirm(placed)
            fills = await book(executor, store, "entry-429")
    assert done.status is OrderStatus.FILLED
    assert sent_ids == ["entry-429"] * 3
    assert [r.status for r in fake_bithumb.requests_to("POST", "/v2/orders")][:2] == [429, 429]
    assert posts(fake_bithumb) == 3
    assert len(fake_bithumb.orders) == 1
    assert len(fake_bithumb.orders_for_client_order_id("entry-429")) == 1
    assert [f.quantity for f in fills] == pytest.approx([0.002])
    assert (await store.orders())[0].status is OrderStatus.FILLED


@pytest.mark.anyio
async def test_order_not_sent_waits_as_long_as_retry_after_says(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.faults.rate_limit_next(1, "POST /v2/orders", retry_after=5)
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        done = await run_order(executor, market_buy("entry-ra"))
    assert done.status is OrderStatus.FILLED
    assert time.sleeps[0] == 5.0
    assert posts(fake_bithumb) == 2
    assert len(fake_bithumb.orders_for_client_order_id("entry-ra")) == 1


@pytest.mark.anyio
async def test_order_not_sent_before_the_deadline_ends_rejected(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.faults.fail_next("POST /v2/orders", 429, times=10)
    executor = make_executor(exchange, store, time, deadline_s=2.5)
    with anyio.fail_after(LIMIT):
        done = await executor.submit(market_buy("entry-late"))
    # Attempt 1 fails, waits 1 s; attempt 2 fails, and 2 s more would pass the deadline.
    assert (done.status, done.reason) == (OrderStatus.REJECTED, NOT_SENT)
    assert time.sleeps == [1.0]
    assert posts(fake_bithumb) == 2
    assert lookups(fake_bithumb) == 0
    assert fake_bithumb.orders == []
    assert (await store.orders()) == [done]
    assert executor.take_fills("entry-late") == []


@pytest.mark.anyio
async def test_order_the_exchange_never_received_ends_rejected_without_resending(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.fail_next("POST /v2/orders", 500)
    ex = make_exchange(fake_bithumb, max_retries=0)
    try:
        with anyio.fail_after(LIMIT):
            done = await make_executor(ex, store, time, max_lookups=3).submit(
                market_buy("entry-lost")
            )
    finally:
        await ex.aclose()
    assert done.status is OrderStatus.REJECTED
    assert done.reason == NOT_RECEIVED
    assert (await store.orders())[0] == done
    assert posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 3
    assert time.sleeps == [1.0, 2.0]  # bounded, doubling backoff between look-ups
    assert fake_bithumb.orders == []


@pytest.mark.anyio
async def test_failing_look_ups_leave_the_order_unknown(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.fail_next("POST /v2/orders", 500)
    fake_bithumb.faults.order_not_ready_next(10)
    ex = make_exchange(fake_bithumb, max_retries=0)
    try:
        with anyio.fail_after(LIMIT):
            done = await make_executor(ex, store, time, max_lookups=3).submit(
                market_buy("entry-dark")
            )
    finally:
        await ex.aclose()
    # Errors prove nothing: it is not declared "never received".
    assert done.status is OrderStatus.UNKNOWN
    assert (await store.orders())[0].status is OrderStatus.UNKNOWN
    assert posts(fake_bithumb) == 1


@pytest.mark.anyio
async def test_look_up_errors_are_retried_until_the_order_is_found(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", delay=10)
    fake_bithumb.faults.order_not_ready_next(2)
    ex = make_exchange(fake_bithumb, timeout=0.3, max_retries=0)
    executor = make_executor(ex, store, time, max_lookups=3)
    try:
        with anyio.fail_after(LIMIT):
            done = await executor.submit(market_buy("entry-slow"))
    finally:
        await ex.aclose()
    assert done.status is OrderStatus.FILLED
    assert lookups(fake_bithumb) == 3
    assert posts(fake_bithumb) == 1
    assert len(executor.take_fills("entry-slow")) == 1


class LostAnswer:
    """The real exchange, except that the first answer to ``place_order`` is lost."""

    def __init__(self, inner: BithumbExchange) -> None:
        self.inner = inner

    async def place_order(self, order: Order) -> Order:
        await self.inner.place_order(order)
        raise OrderStateUnknown("answer lost")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.anyio
async def test_order_state_unknown_is_looked_up(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(LostAnswer(exchange), store, time)
    with anyio.fail_after(LIMIT):
        done = await executor.submit(market_buy("entry-osu"))
    assert done.status is OrderStatus.FILLED
    assert posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 1
    assert len(executor.take_fills("entry-osu")) == 1


@pytest.mark.anyio
async def test_an_order_is_never_submitted_twice(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    order = market_buy("entry-twice")
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        await run_order(executor, order)
        assert len(await book(executor, store, "entry-twice")) == 1
        with pytest.raises(ValueError, match="never sent twice"):
            await executor.submit(order)
        # A restart that finds the order in a non-final state (the crash came before its
        # answer was stored): reconcile settles it, claims the id, and books nothing twice.
        await store.update_order(attrs.evolve(order, status=OrderStatus.UNKNOWN, updated_ms=T0))
        restarted = make_executor(exchange, store, time)
        (settled,) = await restarted.reconcile()
        assert settled.status is OrderStatus.FILLED
        assert await book(restarted, store, "entry-twice") == []
        with pytest.raises(ValueError, match="never sent twice"):
            await restarted.submit(order)
    assert posts(fake_bithumb) == 1
    assert len(fake_bithumb.orders_for_client_order_id("entry-twice")) == 1
    assert len(await store.fills(client_order_id="entry-twice")) == 1


@pytest.mark.anyio
async def test_a_new_process_does_not_book_a_stored_order_again(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    order = market_buy("entry-again")
    first = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        await run_order(first, order)
        assert len(await book(first, store, "entry-again")) == 1
        # A new process given the same decision (same id): refusing it, or resolving it
        # to the stored order, are both fine; booking its fill a second time is not.
        second = make_executor(exchange, store, time)
        with contextlib.suppress(StorageError, ValueError):
            await run_order(second, order)
        again = await book(second, store, "entry-again")
    assert len(fake_bithumb.orders_for_client_order_id("entry-again")) == 1
    assert again == []
    assert len(await store.fills(client_order_id="entry-again")) == 1
    assert (await store.orders())[0].status is OrderStatus.FILLED


@pytest.mark.anyio
@pytest.mark.parametrize("fail_from", [0, 1], ids=["new-not-stored", "submitted-not-stored"])
async def test_a_buy_the_journal_cannot_store_is_never_sent(
    fake_bithumb: FakeBithumb,
    exchange: BithumbExchange,
    store: AsyncStore,
    time: FakeTime,
    fail_from: int,
) -> None:
    journal = FailingJournal(store, fail_from=fail_from)
    executor = make_executor(exchange, journal, time)
    with anyio.fail_after(LIMIT), pytest.raises(StorageError):
        await executor.submit(market_buy("entry-nostore"))
    assert posts(fake_bithumb) == 0
    assert fake_bithumb.orders == []
    assert executor.take_fills("entry-nostore") == []
    # It tried to say so (REJECTED), but the store stayed down.
    assert journal.attempts[-1] is OrderStatus.REJECTED
    assert journal.written == [OrderStatus.NEW][:fail_from]

    # Once the store is back, a restart settles what was left: it was never sent.
    with anyio.fail_after(LIMIT):
        changed = await make_executor(exchange, store, time).reconcile()
    stored = await store.orders()
    if fail_from == 0:
        assert changed == stored == []
    else:
        assert [(o.status, o.reason) for o in stored] == [(OrderStatus.REJECTED, NEVER_SENT)]
    assert posts(fake_bithumb) == 0


@pytest.mark.anyio
async def test_a_sell_goes_out_even_when_the_journal_cannot_store_it(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_balance("BTC", "0.01", PRICE)
    journal = FailingJournal(store)
    executor = make_executor(exchange, journal, time)
    with anyio.fail_after(LIMIT):
        done = await run_order(executor, market_sell("exit-nostore"))
    assert done.status is OrderStatus.FILLED
    assert posts(fake_bithumb) == 1
    assert len(fake_bithumb.orders_for_client_order_id("exit-nostore")) == 1
    (fill,) = executor.take_fills("exit-nostore")
    assert fill.side is Side.SELL
    assert fill.quantity == pytest.approx(0.002)
    assert journal.written == []  # nothing could be stored...
    assert OrderStatus.FILLED in journal.attempts  # ...but every state was offered


@pytest.mark.anyio
async def test_a_sell_of_unknown_fate_is_looked_up_even_when_the_journal_fails(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_balance("BTC", "0.01", PRICE)
    executor = make_executor(LostAnswer(exchange), FailingJournal(store), time)
    with anyio.fail_after(LIMIT):
        done = await executor.submit(market_sell("exit-lost"))
    assert done.status is OrderStatus.FILLED
    assert posts(fake_bithumb) == 1
    assert len(executor.take_fills("exit-lost")) == 1


def test_submit_checks_its_input(store: AsyncStore, time: FakeTime) -> None:
    executor = make_executor(object(), store, time)
    with pytest.raises(ValueError, match="only a NEW order"):
        anyio.run(executor.submit, attrs.evolve(market_buy("x"), status=OrderStatus.OPEN))
    with pytest.raises(ValueError, match="client_order_id"):
        anyio.run(executor.submit, market_buy("bad id!"))
    with pytest.raises(ValueError, match="max_lookups"):
        OrderExecutor(object(), StoreJournal(store), max_lookups=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deadline_s"):
        OrderExecutor(object(), StoreJournal(store), deadline_s=-1)  # type: ignore[arg-type]


# ---- confirm ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_partial_fills_are_found_exactly_once_across_polls_and_restarts(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(exchange, store, time, timeout_s=3.0)
    with anyio.fail_after(LIMIT):
        placed = await executor.submit(limit_buy("entry-lim"))
        assert placed.status is OrderStatus.OPEN
        order_id = placed.exchange_order_id or ""
        time.steps = [lambda: fake_bithumb.fill_order(order_id, "0.004")]
        # Polls: nothing, 0.004 filled, the same again, the same again -> timeout.
        first = await executor.confirm(placed)
        assert first.status is OrderStatus.OPEN
        assert first.executed_volume == pytest.approx(0.004)
        assert len(await book(executor, store, "entry-lim")) == 1
        # Polling again finds the same executed quantity: nothing new.
        assert (await executor.confirm(first)).executed_volume == pytest.approx(0.004)
        assert await book(executor, store, "entry-lim") == []

    # A restarted process: its reconcile sees the same partial fill (already stored by the
    # caller) and hands out nothing new.
    restarted = make_executor(exchange, store, time, timeout_s=5.0)
    with anyio.fail_after(LIMIT):
        assert await restarted.reconcile() == []
        assert await book(restarted, store, "entry-lim") == []
        time.steps = [lambda: fake_bithumb.fill_order(order_id, "0.006", 39_000_000)]
        done = await restarted.confirm(first)
        assert len(await book(restarted, store, "entry-lim")) == 1
    assert done.status is OrderStatus.FILLED
    assert done.executed_volume == pytest.approx(0.01)
    fills = await store.fills(client_order_id="entry-lim")
    assert [f.quantity for f in fills] == pytest.approx([0.004, 0.006])
    assert [f.price for f in fills] == pytest.approx([40_000_000, 39_000_000])
    assert [f.fee for f in fills] == pytest.approx([160_000 * 0.0025, 234_000 * 0.0025])
    stored = (await store.orders())[0]
    assert stored.status is OrderStatus.FILLED
    assert stored.updated_ms >= first.updated_ms
    assert posts(fake_bithumb) == 1


@pytest.mark.anyio
async def test_confirm_times_out_with_the_last_known_state(
    fake_bithumb: FakeBithumb,
    exchange: BithumbExchange,
    store: AsyncStore,
    time: FakeTime,
    log_lines: list[str],
) -> None:
    executor = make_executor(exchange, store, time, timeout_s=5.0)
    with anyio.fail_after(LIMIT):
        placed = await executor.submit(limit_buy("entry-rest"))
        polls_before = lookups(fake_bithumb)
        still = await executor.confirm(placed)
    assert still.status is OrderStatus.OPEN
    assert time.sleeps == [1.0] * 5
    assert lookups(fake_bithumb) - polls_before == 6
    assert any("still open after 5s" in line for line in log_lines)
    assert executor.take_fills("entry-rest") == []


@pytest.mark.anyio
async def test_confirm_rides_out_poll_errors(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        placed = await executor.submit(limit_buy("entry-err"))
        fake_bithumb.faults.fail_next("GET /v1/order", 500, times=4)  # one poll's retries
        time.steps = [lambda: fake_bithumb.fill_order(placed.exchange_order_id or "")]
        done = await executor.confirm(placed)
    assert done.status is OrderStatus.FILLED
    assert len(executor.take_fills("entry-err")) == 1


@pytest.mark.anyio
async def test_confirm_needs_a_submitted_order(store: AsyncStore, time: FakeTime) -> None:
    with pytest.raises(ValueError, match="submit it"):
        await make_executor(object(), store, time).confirm(market_buy("never"))


# ---- cancel ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_stores_the_end_state_and_hands_out_the_partial_fill(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange, store: AsyncStore, time: FakeTime
) -> None:
    executor = make_executor(exchange, store, time)
    with anyio.fail_after(LIMIT):
        placed = await executor.submit(limit_buy("entry-cxl"))
        fake_bithumb.fill_order(placed.exchange_order_id or "", "0.003")
        ended = await executor.cancel(placed)
    assert ended.status is OrderStatus.CANCELLED
    assert (await store.orders())[0].status is OrderStatus.CANCELLED
    (fill,) = executor.take_fills("entry-cxl")
    assert fill.quantity == pytest.approx(0.003)
    assert executor.take_fills("entry-cxl") == []


# ---- reconcile -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reconcile_after_a_crash(
    fake_bithumb: FakeBithumb,
    exchange: BithumbExchange,
    store: AsyncStore,
    time: FakeTime,
    log_lines: list[str],
) -> None:
    def row(order: Order, status: OrderStatus, **changes: Any) -> Order:
        return attrs.evolve(order, status=status, **changes)

    with anyio.fail_after(LIMIT):
        # What the previous process sent before it died (the store never heard the answers).
        previous = make_exchange(fake_bithumb)
        try:
            sent_market = await previous.place_order(market_buy("b-submitted-sent"))
            resting = await previous.place_order(limit_buy("d-open-partial"))
            unknown = await previous.place_order(limit_buy("f-unknown-sent", price=39_000_000))
        finally:
            await previous.aclose()
        fake_bithumb.fill_order(resting.exchange_order_id or "", "0.004")
        fake_bithumb.fill_order(unknown.exchange_order_id or "")
        rows = [
            row(market_buy("a-new"), OrderStatus.NEW),
            row(market_buy("b-submitted-sent"), OrderStatus.SUBMITTED),
            row(market_buy("c-submitted-lost"), OrderStatus.SUBMITTED),
            row(
                limit_buy("d-open-partial"),
                OrderStatus.OPEN,
                exchange_order_id=resting.exchange_order_id,
            ),
            row(limit_buy("e-open-gone"), OrderStatus.OPEN, exchange_order_id="C0101gone"),
            row(limit_buy("f-unknown-sent", price=39_000_000), OrderStatus.UNKNOWN),
            row(market_buy("g-done"), OrderStatus.FILLED, executed_volume=0.002),
        ]
        for order in rows:
            await store.record_order(order)
        posts_before = posts(fake_bithumb)
        cids = [o.client_order_id for o in rows]

        executor = make_executor(exchange, store, time, max_lookups=3)
        changed = await executor.reconcile()
        booked = await book(executor, store, *cids)

    by_id = {o.client_order_id: o for o in await store.orders()}
    assert sorted(o.client_order_id for o in changed) == [
        "a-new",
        "b-submitted-sent",
        "c-submitted-lost",
        "d-open-partial",
        "e-open-gone",
        "f-unknown-sent",
    ]
    assert {o.client_order_id: o for o in changed} == {
        k: v for k, v in by_id.items() if k != "g-done"
    }
    assert (by_id["a-new"].status, by_id["a-new"].reason) == (OrderStatus.REJECTED, NEVER_SENT)
    assert by_id["b-submitted-sent"].status is OrderStatus.FILLED
    assert by_id["b-submitted-sent"].exchange_order_id == sent_market.exchange_order_id
    assert by_id["c-submitted-lost"].status is OrderStatus.REJECTED
    assert by_id["c-submitted-lost"].reason == NOT_RECEIVED
    assert by_id["d-open-partial"].status is OrderStatus.OPEN
    assert by_id["d-open-partial"].executed_volume == pytest.approx(0.004)
    assert by_id["e-open-gone"].status is OrderStatus.UNKNOWN
    assert by_id["f-unknown-sent"].status is OrderStatus.FILLED
    assert by_id["g-done"] == rows[-1]
    expected = {"b-submitted-sent": 0.002, "d-open-partial": 0.004, "f-unknown-sent": 0.01}
    assert len(booked) == 3
    assert {f.client_order_id: f.quantity for f in booked} == pytest.approx(expected)
    fills = {f.client_order_id: f.quantity for f in await store.fills()}
    assert fills == pytest.approx(expected)
    assert posts(fake_bithumb) == posts_before  # reconciling never sends an order
    assert any("e-open-gone" in line and "by hand" in line for line in log_lines)

    # Once more (another restart): the acknowledged-but-missing order stays UNKNOWN for a
    # human, and nothing is handed out (or recorded) twice.
    with anyio.fail_after(LIMIT):
        again = make_executor(exchange, store, time, max_lookups=3)
        assert await again.reconcile() == []
        assert await book(again, store, *cids) == []
    assert len(await store.fills()) == 3
    assert posts(fake_bithumb) == posts_before


@pytest.mark.anyio
async def test_v1_lost_answer_is_not_mistaken_for_never_received(
    fake_bithumb: FakeBithumb, store: AsyncStore, time: FakeTime
) -> None:
    fake_bithumb.set_price(MARKET, PRICE)
    fake_bithumb.faults.timeout_after_accept_next("POST /v1/orders", delay=10)
    ex = make_exchange(fake_bithumb, timeout=0.3, order_endpoint="v1")
    try:
        with anyio.fail_after(LIMIT):
            done = await make_executor(ex, store, time).submit(market_buy("entry-v1"))
    finally:
        await ex.aclose()
    assert len(fake_bithumb.orders) == 1  # Bithumb has it (filled)...
    assert done.status is not OrderStatus.REJECTED  # ...so it must not be called never received
    assert done.status is OrderStatus.UNKNOWN  # v1 cannot find it: a human must look
    assert len(fake_bithumb.requests_to("POST", "/v1/orders")) == 1
