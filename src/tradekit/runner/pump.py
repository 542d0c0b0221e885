"""The event pump: durable events written first, in order; notifiers fed from their own queue.

Everything the core and the order executor emit enters here, synchronously and never
dropped. One writer task stores the events in the order they came; a store failure does
not lose them: the writer keeps the event, says so loudly once, tells the bot (which stops
new entries) and tries again with backoff until the store is back. Only stored events move
on to the notifiers, which drain from a queue of their own, each call with its own deadline,
so a hung Slack webhook never delays the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio
import attrs
from loguru import logger

from tradekit.backoff import backoff_delay
from tradekit.errors import StorageError
from tradekit.event_text import describe_event
from tradekit.events import (
    DailyReport,
    ErrorEvent,
    Event,
    FillEvent,
    OrderEvent,
    PositionClosed,
    PositionOpened,
    SignalEvent,
)
from tradekit.models import Fill, Order, PositionStatus

if TYPE_CHECKING:
    from tradekit.interfaces import Notifier
    from tradekit.runner.metrics import Metrics
    from tradekit.store import AsyncStore

__all__ = ["NOTIFY_TIMEOUT_S", "EventPump"]

NOTIFY_TIMEOUT_S = 30.0  # a notifier that hangs longer is abandoned for that event
_RETRY_CAP_S = 10.0


class _Pending:
    """One event waiting for the writer; ``done`` is set once it is stored."""

    __slots__ = ("done", "event", "notified")

    def __init__(self, event: Event, *, notified: bool = False) -> None:
        self.event = event
        self.done: anyio.Event | None = None
        self.notified = notified  # already sent to the notifiers (a storage alarm)


class EventPump:
    """Stores events in order, then hands them to the notifiers.

    Args:
        store: where durable events go (None: nowhere, e.g. before the store is open).
        notifiers: receive every stored event.
        metrics: counts every event as it is emitted.
        on_store_state: called with a reason when the store starts failing and with None
            when it is back (the bot refuses new entries in between).
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        metrics: Metrics | None = None,
        on_store_state: Callable[[str | None], None] | None = None,
    ) -> None:
        self.store: AsyncStore | None = None
        self.notifiers = list(notifiers)
        self.metrics = metrics
        self.on_store_state = on_store_state
        self.failing: str | None = None  # why the store is failing, while it is
        self._durable: deque[_Pending] = deque()
        self._notify: deque[Event] = deque()
        self._durable_wake: anyio.Event | None = None
        self._notify_wake: anyio.Event | None = None
        self._drained: anyio.Event | None = None

    # -- entering ---------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Queue ``event`` for the store and then the notifiers (sync; never blocks)."""
        if isinstance(event, ErrorEvent):  # loud in the log too, not only in the events table
            logger.error("{}", describe_event(event))
        if self.metrics is not None:
            self.metrics.observe_event(event)
        self._durable.append(_Pending(event))
        if self._durable_wake is not None:
            self._durable_wake.set()

    async def write(self, event: OrderEvent) -> None:
        """Queue an order event and return once it is stored (what the executor calls).

        Raises:
            StorageError: the store is failing; the event stays queued and is written later.
        """
        pending = _Pending(event)
        pending.done = anyio.Event()
        self._durable.append(pending)
        if self._durable_wake is not None:
            self._durable_wake.set()
        await self._wait(pending)

    async def flush(self) -> None:
        """Return once every event queued so far is stored.

        Raises:
            StorageError: the store is failing (the events stay queued).
        """
        if not self._durable:
            return
        marker = _Pending(_FLUSH)
        marker.done = anyio.Event()
        self._durable.append(marker)
        if self._durable_wake is not None:
            self._durable_wake.set()
        await self._wait(marker)

    async def _wait(self, pending: _Pending) -> None:
        assert pending.done is not None
        if self.failing is None:
            await pending.done.wait()
        # Released early when the store started failing: the event is not stored yet.
        if self.failing is not None and pending in self._durable:
            raise StorageError(f"the store is failing: {self.failing}")

    # -- what the executor reads back ---------------------------------------------------

    async def fills(self, *, client_order_id: str) -> list[Fill]:
        """Fills stored for one order."""
        assert self.store is not None
        return await self.store.fills(client_order_id=client_order_id)

    async def reconcile_candidates(self) -> list[Order]:
        """Stored orders that are not final."""
        assert self.store is not None
        return await self.store.reconcile_candidates()

    # -- the two tasks ----------------------------------------------------------------

    async def run_writer(self) -> None:
        """Store queued events in order, forever (until cancelled)."""
        while True:
            await self._write_queued()
            self._durable_wake = anyio.Event()
            if not self._durable:
                await self._durable_wake.wait()

    async def run_notifiers(self) -> None:
        """Hand stored events to the notifiers, forever (until cancelled)."""
        while True:
            while self._notify:
                await self._notify_all(self._notify.popleft())
            self._notify_wake = anyio.Event()
            if not self._notify:
                await self._notify_wake.wait()

    async def close(self, *, store_timeout_s: float = 30.0, notify_timeout_s: float = 5.0) -> None:
        """Store everything left (bounded), then give the notifiers a bounded time."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(store_timeout_s):
                await self._write_queued()
            if self._durable:
                lost = [p.event.kind for p in self._durable if p.event is not _FLUSH]
                logger.error(
                    "stopping with {} event(s) the store could not take: {}",
                    len(lost),
                    ", ".join(lost[:20]),
                )
            with anyio.move_on_after(notify_timeout_s) as scope:
                while self._notify:
                    await self._notify_all(self._notify.popleft())
            if scope.cancelled_caught:
                logger.warning("notifiers: {} event(s) not sent at shutdown", len(self._notify))

    async def _write_queued(self) -> None:
        attempt = 0
        while self._durable:
            pending = self._durable[0]
            try:
                with anyio.CancelScope(shield=True):  # a write is never cut in half
                    await self._persist(pending.event)
            except StorageError as exc:
                if self.failing is None:
                    self.failing = str(exc)
                    logger.error(
                        "the store is failing ({}); trading goes on in memory, new entries "
                        "wait, and every event is written when it is back",
                        exc,
                    )
                    alarm = ErrorEvent(pending.event.time_ms, "storage", str(exc))
                    self._notify.append(alarm)  # people hear of it now...
                    self._durable.append(_Pending(alarm, notified=True))  # ...the store later
                    self._wake_notifiers()
                    if self.on_store_state is not None:
                        self.on_store_state(str(exc))
                    self._release_waiters()
                await anyio.sleep(backoff_delay(attempt, 0.5, _RETRY_CAP_S))
                attempt += 1
                continue
            attempt = 0
            self._durable.popleft()
            if pending.done is not None:
                pending.done.set()
            if self.failing is not None:
                logger.warning("the store is back; {} event(s) written late", 1)
                self.failing = None
                if self.on_store_state is not None:
                    self.on_store_state(None)
            if pending.event is not _FLUSH and not pending.notified:
                self._notify.append(pending.event)
                self._wake_notifiers()

    def _release_waiters(self) -> None:
        # Whoever waits for a write hears that the store is failing (StorageError) at once.
        for pending in self._durable:
            if pending.done is not None and not pending.done.is_set():
                pending.done.set()

    def _wake_notifiers(self) -> None:
        if self._notify_wake is not None:
            self._notify_wake.set()

    async def _persist(self, event: Event) -> None:
        store = self.store
        if store is None or event is _FLUSH:
            return
        if isinstance(event, OrderEvent):
            await store.update_order(event.order)
            return
        if isinstance(event, FillEvent):
            await store.record_fill(event.fill)
        elif isinstance(event, SignalEvent):
            await store.record_signal(event.signal)
        elif isinstance(event, PositionOpened):
            await store.upsert_position(event.position, event.time_ms)
        elif isinstance(event, PositionClosed):
            closed = attrs.evolve(event.position, quantity=0.0, status=PositionStatus.CLOSED)
            await store.upsert_position(closed, event.time_ms)
        elif isinstance(event, DailyReport):
            await store.record_daily_performance(event)
        if not isinstance(event, SignalEvent | FillEvent):
            await store.record_event(event)

    async def _notify_all(self, event: Event) -> None:
        for notifier in self.notifiers:
            try:
                with anyio.fail_after(NOTIFY_TIMEOUT_S):
                    await notifier.notify(event)
            except Exception as exc:  # a notifier must never stop trading
                logger.warning(
                    "notifier {} failed on a {} event: {}: {}",
                    type(notifier).__name__,
                    event.kind,
                    type(exc).__name__,
                    exc,
                )


_FLUSH = Event(0)  # a marker in the queue: everything before it is stored once it is reached
