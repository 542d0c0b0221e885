"""Live execution: the core's requests as real orders, one at a time per market.

Every order goes through :class:`~tradekit.engine.executor.OrderExecutor`: journaled before
it is sent, looked up (never re-sent) when the answer is lost, fills found exactly once. An
entry is a market buy for ``quantity x reference`` KRW (Bithumb buys at market by amount);
a sale is a market sell of the requested quantity. What happened is reported to the core,
which books it; then the runner's ``after_booking`` hook stores it. An order whose fate stays
unknown is looked up again in the background, and what it did is booked when it is known.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import attrs
from loguru import logger

from tradekit.engine.executor import NOT_RECEIVED, NOT_SENT, OrderExecutor, client_order_id_for
from tradekit.engine.ports import OrderRequest, OrderSink
from tradekit.errors import StorageError
from tradekit.models import Bar, Fill, Order, OrderStatus, OrderType, Side

__all__ = ["ORDER_SHUTDOWN_GRACE_S", "LiveExecution"]

ORDER_SHUTDOWN_GRACE_S = 45.0  # longest the order that is out may keep a stopping bot waiting


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LiveExecution:
    """An execution port that trades on a real exchange through an order executor.

    Args:
        executor: sends and tracks the orders.
        run_id: makes client order ids unique per run.
        clock: current time in UTC milliseconds.
        after_booking: awaited after each order's outcome was booked (the runner stores the
            fills and the account there).
        resolve_interval_s: how often orders of unknown fate are looked up again.
    """

    def __init__(
        self,
        executor: OrderExecutor,
        *,
        run_id: str,
        clock: Callable[[], int] = _wall_ms,
        after_booking: Callable[[], Awaitable[None]] | None = None,
        resolve_interval_s: float = 5.0,
    ) -> None:
        self.executor = executor
        self.run_id = run_id
        self.after_booking = after_booking
        self._clock = clock
        self._sink: OrderSink | None = None
        self._queue: deque[tuple[OrderRequest, Order]] = deque()
        self._busy = 0  # orders queued or in flight
        self._wake: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._inflight: set[anyio.CancelScope] = set()
        #: Orders whose fate is unknown, by client order id: looked up again in the background.
        self._unknown: dict[str, tuple[OrderRequest, Order]] = {}
        self.resolve_interval_s = resolve_interval_s
        self._stopping = False
        self._sequence = 0  # numbers the exit orders of this run

    # -- the port ---------------------------------------------------------------------

    def bind(self, sink: OrderSink) -> None:
        """Report outcomes to ``sink`` (the core)."""
        self._sink = sink

    def submit(self, request: OrderRequest) -> None:
        """Queue a market order for ``request``; :meth:`run` sends it."""
        if self._stopping:
            logger.warning("{}: {} order not sent: shutting down", request.market, request.reason)
            assert self._sink is not None
            self._sink.on_order_result(request, (), "not sent: the bot is stopping")
            return
        self._queue.append((request, self._order_for(request)))
        self._busy += 1
        if self._wake is not None:
            self._wake.set()

    def on_bar(self, bar: Bar) -> None:
        """Nothing waits for bars live: orders go out when they are decided."""

    def discard(self) -> None:
        """Drop the orders not sent yet; the core hears that each was not sent."""
        queued, self._queue = list(self._queue), deque()
        assert self._sink is not None
        for request, _order in queued:
            self._busy -= 1
            logger.warning("{}: {} order not sent: shutting down", request.market, request.reason)
            self._sink.on_order_result(request, (), "not sent: the bot is stopping")

    # -- running ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while an order is queued or in flight."""
        return self._busy > 0

    async def wait_idle(self) -> None:
        """Return once no order is queued or in flight (:meth:`run` must be running)."""
        while self.busy:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    async def run(self) -> None:
        """Send queued orders and report their outcomes; runs until cancelled.

        Each order runs in a task of its own: the core never has two orders out in one
        market, and a slow buy in one market must not hold up a stop in another. Orders of
        unknown fate are looked up again in the background until the exchange answers.
        """
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._resolve_unknown_forever)
            while True:
                while self._queue and not self._stopping:
                    request, order = self._queue.popleft()
                    tg.start_soon(self._run_one, request, order)
                self._wake = anyio.Event()
                if not self._queue or self._stopping:
                    await self._wake.wait()

    async def _run_one(self, request: OrderRequest, order: Order) -> None:
        try:
            await self._execute(request, order)
        finally:
            self._busy -= 1
            if self._idle is not None and not self.busy:
                self._idle.set()
                self._idle = None

    def begin_shutdown(self, grace_s: float = ORDER_SHUTDOWN_GRACE_S) -> None:
        """Send nothing new; give the orders that are out ``grace_s`` to finish and be booked.

        An order cut off by the deadline stays journaled as sent, and the next start
        settles it (looks it up) before trading.
        """
        self._stopping = True
        self.discard()
        deadline = anyio.current_time() + grace_s
        for scope in self._inflight:
            scope.deadline = min(scope.deadline, deadline)
        if self._idle is not None and not self.busy:
            self._idle.set()

    async def _resolve_unknown_forever(self) -> None:
        """Look orders of unknown fate up again until the exchange knows them; book what they did.

        Until then the core holds the market closed for entries (and, for a sale, keeps
        the position it had): a human is told at once, and the bot catches up on its own
        as soon as the exchange answers.
        """
        while True:
            await anyio.sleep(self.resolve_interval_s)
            for key, (request, order) in list(self._unknown.items()):
                try:
                    with anyio.CancelScope(shield=True):
                        found = await self.executor.exchange.get_order(order.client_order_id)
                        if found is None or not found.status.is_final:
                            continue
                        done = await self.executor.settle(order, found)
                except Exception as exc:  # still unknown: tried again later
                    logger.warning("{}: order {} still unknown: {}", order.market, key, exc)
                    continue
                del self._unknown[key]
                fills = self._stamped(self.executor.take_fills(order.client_order_id))
                logger.warning(
                    "{}: order {} of unknown fate ended {} ({} executed); booked now",
                    order.market,
                    key,
                    done.status,
                    done.executed_volume,
                )
                assert self._sink is not None
                self._sink.on_order_result(request, fills, resolved=True)
                if self.after_booking is not None:
                    with anyio.CancelScope(shield=True):
                        await self.after_booking()

    def _stamped(self, fills: list[Fill]) -> list[Fill]:
        # Booked now: stamped now, so an account stored before this moment never seems to
        # hold them (a restart compares fill times with the stored account's time).
        now = self._clock()
        return [attrs.evolve(f, time_ms=max(f.time_ms, now)) for f in fills]

    # -- one order --------------------------------------------------------------------

    def _order_for(self, request: OrderRequest) -> Order:
        now = self._clock()
        if request.side is Side.BUY:
            cid = client_order_id_for(self.run_id, request.market, request.time_ms, request.reason)
            # A market buy is sent as a KRW amount (whole won).
            krw = float(math.floor(request.quantity * request.reference))
            volume, price = None, krw
        else:
            # Unique per decision: a retried exit is a new decision with a new id.
            self._sequence += 1
            purpose = f"{request.reason}{self._sequence}"
            cid = client_order_id_for(self.run_id, request.market, request.time_ms, purpose)
            volume, price = request.quantity, None
        return Order(
            client_order_id=cid,
            market=request.market,
            side=request.side,
            type=OrderType.MARKET,
            volume=volume,
            price=price,
            status=OrderStatus.NEW,
            created_ms=now,
            updated_ms=now,
            reason=request.reason,
            exit_plan=request.exit_plan,
        )

    async def _execute(self, request: OrderRequest, order: Order) -> None:
        executor = self.executor
        sink = self._sink
        assert sink is not None, "bind() the port to the core first"
        done: Order | None = None
        failure: str | None = None
        unknown = transient = False
        # Shielded: cancelling the bot does not cut an order in half. The executor's own
        # deadlines bound the time; begin_shutdown() sets a tighter one for a stopping bot.
        with anyio.CancelScope(shield=True) as scope:
            self._inflight.add(scope)
            try:
                # Its id holds the run id: no earlier process can have used it.
                done = await executor.submit(order, new_id=True)
                if not done.status.is_final and done.status is not OrderStatus.UNKNOWN:
                    done = await executor.confirm(done)
                    if not done.status.is_final:
                        done = await executor.cancel(done)
            except StorageError as exc:  # a buy the store could not take: never sent
                failure, transient = f"not sent: {exc}", True
            except Exception as exc:  # journaled; looked up again below and at restart
                failure, unknown = f"{type(exc).__name__}: {exc}", True
            finally:
                self._inflight.discard(scope)
        if done is None and failure is None and scope.cancelled_caught:
            failure, unknown = "cut off by the shutdown", True
        fills = self._stamped(executor.take_fills(order.client_order_id))
        if done is not None and failure is None:
            booked = sum(f.quantity for f in fills)
            if done.status is OrderStatus.UNKNOWN:
                failure, unknown = "fate unknown after the look-ups", True
            elif done.executed_volume > booked + 1e-12:
                # Executed, but the exchange gave no price yet: the fill cannot be booked
                # truthfully; keep asking instead of forgetting it.
                failure, unknown = f"{done.executed_volume} executed without a price", True
            elif not fills:
                failure = f"{done.status.value}: {done.reason}"
                transient = done.reason in (NOT_SENT, NOT_RECEIVED)
        if unknown:
            self._unknown[order.client_order_id] = (request, done or order)
        sink.on_order_result(request, fills, failure, unknown=unknown, transient=transient)
        if self.after_booking is not None:
            with anyio.CancelScope(shield=True):
                await self.after_booking()
