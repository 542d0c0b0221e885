"""Live order execution: store before send, look up instead of re-sending, fills exactly once.

:class:`OrderExecutor` drives one :class:`~tradekit.models.Order` through its life cycle on a
real exchange and journals every state as an :class:`~tradekit.events.OrderEvent`:

``NEW`` (durable) -> ``SUBMITTED`` (durable) -> sent -> ``OPEN`` / ``FILLED`` /
``REJECTED``, or ``UNKNOWN`` when the answer was lost, which is resolved by looking the order
up by its ``client_order_id`` -- never by sending it again. Fills are derived from the
exchange's cumulative executed quantity, price and fee, minus what was already booked for
the order, so repeated polls, restarts and reconciliation never count a fill twice.

This is the one place that retries orders: the connector makes one attempt and classifies it
(placed, :class:`~tradekit.errors.OrderRejected`, :class:`~tradekit.errors.OrderNotSent`,
:class:`~tradekit.errors.OrderStateUnknown`); an order that provably never arrived is sent
again with the same id, one of unknown fate is looked up, all within one total deadline.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

import anyio
import attrs
from loguru import logger

from tradekit.backoff import backoff_delay
from tradekit.errors import (
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
    StorageError,
    TemporaryExchangeError,
)
from tradekit.events import OrderEvent
from tradekit.interfaces import Exchange
from tradekit.models import Fill, Order, OrderStatus, Side

__all__ = [
    "CLIENT_ORDER_ID_PATTERN",
    "NEVER_SENT",
    "NOT_RECEIVED",
    "NOT_SENT",
    "OrderExecutor",
    "OrderJournal",
    "StoreJournal",
    "client_order_id_for",
]

#: What Bithumb accepts as a ``client_order_id`` (the strictest exchange we support).
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
#: Reason of an order the exchange never received (safe to replace with a new order and id).
NOT_RECEIVED = "not received by the exchange"
#: Reason of an order left ``NEW`` by a crash: it was provably never sent.
NEVER_SENT = "never sent (crash before submit)"
#: Reason of an order that could not reach the exchange before the deadline.
NOT_SENT = "not sent: the exchange could not be reached in time"

_MAX_LOOKUP_DELAY_S = 30.0
_ZERO = Decimal(0)


def client_order_id_for(run_id: str, market: str, time_ms: int, purpose: str) -> str:
    """A deterministic client order id for one decision (same inputs, same id).

    The id is ``<purpose slug>-<24 hex digits of a SHA-256>`` (at most 33 characters of
    ``[A-Za-z0-9_-]``), so a retried submit of the same decision carries the same id and the
    exchange cannot create a second order for it.

    Args:
        run_id: the run making the decision.
        market: e.g. ``KRW-BTC``.
        time_ms: the time the decision belongs to (e.g. the signal bar's open time).
        purpose: what the order is for (``entry``, ``stop_loss``, ...).

    Raises:
        ValueError: ``purpose`` is empty.
    """
    if not purpose:
        raise ValueError("purpose must not be empty")
    # The separator cannot occur in an int, so distinct inputs never hash the same text.
    text = "\x1f".join((run_id, market, str(int(time_ms)), purpose))
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    slug = re.sub(r"[^A-Za-z0-9]", "", purpose)[:8] or "order"
    return f"{slug}-{digest}"


class OrderJournal(Protocol):
    """Where the executor's order events go, and what it reads back after a restart.

    ``write`` returns once the event is durable; it raises
    :class:`~tradekit.errors.StorageError` when that could not be done in time (the event is
    then still kept and written later by the runner's event pump).
    """

    async def write(self, event: OrderEvent) -> None: ...

    async def fills(self, *, client_order_id: str) -> list[Fill]: ...

    async def reconcile_candidates(self) -> list[Order]: ...


class StoreJournal:
    """An :class:`OrderJournal` writing straight to a store (tools, tests, benchmarks)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def write(self, event: OrderEvent) -> None:
        """Store the order's new state."""
        await self.store.update_order(event.order)

    async def fills(self, *, client_order_id: str) -> list[Fill]:
        """Fills stored for one order."""
        fills: list[Fill] = await self.store.fills(client_order_id=client_order_id)
        return fills

    async def reconcile_candidates(self) -> list[Order]:
        """Stored orders that are not final."""
        orders: list[Order] = await self.store.reconcile_candidates()
        return orders


@attrs.define
class _Executed:
    """Totals of the fills already stored for one order."""

    quantity: Decimal = _ZERO
    funds: Decimal = _ZERO
    fee: Decimal = _ZERO


@attrs.frozen
class _LookUp:
    """The outcome of bounded look-ups: ``found``, or whether the last answer was "unknown"."""

    found: Order | None
    not_found: bool  # the last look-up was answered "no such order" (not an error)


def _dec(value: float | None) -> Decimal:
    # Through str: the float's shortest repr, so 0.1 stays 0.1 rather than 0.1000000000000000055.
    return _ZERO if value is None else Decimal(str(value))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class OrderExecutor:
    """Sends orders to a live exchange and journals what happened to them.

    The executor never sends an order of unknown fate again: a lost answer is resolved by
    looking the order up by ``client_order_id``. Only an order that provably never reached
    the exchange (:class:`~tradekit.errors.OrderNotSent`) is sent again, with the same id.

    Args:
        exchange: the exchange connector (one attempt per call to ``place_order``).
        journal: where order states go (durable) and fills are read back after a restart.
        clock: current time in UTC milliseconds (``updated_ms``, fill times, deadlines).
        sleep: async sleep between polls and look-ups (tests pass one that does not wait).
        confirm_timeout_s: how long :meth:`confirm` polls before returning an open order.
        poll_interval_s: seconds between polls; also the first retry and look-up backoff
            (doubled each time, at most 30 s).
        max_lookups: look-ups of an order of unknown fate before deciding it was never received.
        deadline_s: the total time :meth:`submit` may spend sending an order again after
            :class:`~tradekit.errors.OrderNotSent` answers.
        journal_wait_s: how long a sale, and any state after sending, waits for the journal
            before going on without it (the journal writes it later); a buy waits five times
            as long, then is not sent.
    """

    def __init__(
        self,
        exchange: Exchange,
        journal: OrderJournal,
        *,
        clock: Callable[[], int] = _now_ms,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        confirm_timeout_s: float = 30.0,
        poll_interval_s: float = 1.0,
        max_lookups: int = 5,
        deadline_s: float = 30.0,
        journal_wait_s: float = 2.0,
    ) -> None:
        if max_lookups < 1:
            raise ValueError(f"max_lookups must be at least 1, got {max_lookups}")
        if confirm_timeout_s < 0 or poll_interval_s < 0 or deadline_s < 0:
            raise ValueError("confirm_timeout_s, poll_interval_s and deadline_s must be >= 0")
        self.exchange = exchange
        self.journal = journal
        self._clock = clock
        self._sleep = sleep
        self.confirm_timeout_s = confirm_timeout_s
        self.poll_interval_s = poll_interval_s
        self.max_lookups = max_lookups
        self.deadline_s = deadline_s
        self.journal_wait_s = journal_wait_s
        self._claimed: set[str] = set()
        self._executed: dict[str, _Executed] = {}
        self._new_fills: dict[str, list[Fill]] = {}
        self._lock: anyio.Lock | None = None  # made lazily: it belongs to the running loop

    async def _load_booked(self, order: Order) -> None:
        """What earlier processes booked for this id (normally nothing: ids are per run).

        Raises:
            ValueError: the id was already filled: it is never sent again.
        """
        cid = order.client_order_id
        prior: list[Fill] = []
        try:
            if order.side is Side.SELL:  # a stop does not wait for a slow store
                with anyio.move_on_after(self.journal_wait_s):
                    prior = await self.journal.fills(client_order_id=cid)
            else:
                prior = await self.journal.fills(client_order_id=cid)
        except StorageError:
            if order.side is not Side.SELL:
                raise  # the store is failing; a sale goes out all the same
        if prior:
            raise ValueError(f"order {cid} was already sent and filled; it is never sent twice")
        self._executed[cid] = _Executed()

    def take_fills(self, client_order_id: str) -> list[Fill]:
        """The fills found for an order since the last call (each is handed out once)."""
        return self._new_fills.pop(client_order_id, [])

    # ---- submit ------------------------------------------------------------------------

    async def submit(self, order: Order, *, new_id: bool = False) -> Order:
        """Journal ``order``, send it, and journal what became of it.

        With ``new_id`` the caller vouches that no earlier process used this client order id
        (it holds the run's id): the fills stored for it are then not read back first.

        The order is durable as ``NEW`` and ``SUBMITTED`` before anything is sent. A refusal
        ends ``REJECTED`` (never retried); an order that provably did not arrive is sent again
        with the same id until ``deadline_s`` (then ``REJECTED`` with :data:`NOT_SENT`); a lost
        answer ends ``UNKNOWN`` and is looked up; an order the exchange still does not know
        after the look-ups ends ``REJECTED`` with reason :data:`NOT_RECEIVED`.

        A sale goes out even when the journal cannot make it durable in time (a stop must not
        wait for a locked database; the runner writes it as soon as it can); a buy does not.

        Returns:
            The order as it stands: ``OPEN``, ``FILLED``, ``CANCELLED``, ``REJECTED``, or
            ``UNKNOWN`` when the look-ups themselves kept failing. Its fills are handed out
            by :meth:`take_fills`.

        Raises:
            ValueError: the order is not ``NEW``, its id is invalid, or this executor was
                already given an order with this id.
            StorageError: a buy could not be made durable; nothing was sent.
            ExchangeError: any other exchange failure (the order is journaled ``UNKNOWN``
                and :meth:`reconcile` resolves it later).
        """
        cid = order.client_order_id
        if order.status is not OrderStatus.NEW:
            raise ValueError(f"order {cid}: only a NEW order can be submitted, not {order.status}")
        if not CLIENT_ORDER_ID_PATTERN.match(cid):
            raise ValueError(f"client_order_id {cid!r}: expected 1-36 chars of [A-Za-z0-9_-]")
        # Claimed before the first await, so two concurrent submits cannot both send it.
        if cid in self._claimed:
            raise ValueError(f"order {cid} was already submitted; it is never sent twice")
        self._claimed.add(cid)
        if new_id:
            self._executed[cid] = _Executed()
        else:
            await self._load_booked(order)
        submitted = attrs.evolve(order, status=OrderStatus.SUBMITTED, updated_ms=self._now(order))
        # A stop must not wait for a locked database: a sale waits a short while and goes
        # out anyway; a buy waits a little longer and is not sent without its row.
        wait = self.journal_wait_s if order.side is Side.SELL else 5 * self.journal_wait_s
        try:
            await self._write(order, wait)
            await self._write(submitted, wait)
        except StorageError as exc:
            if order.side is not Side.SELL:
                await self._mark(submitted, OrderStatus.REJECTED, f"not sent: {exc}", durable=False)
                raise
            logger.error(
                "order {}: the store is failing ({}); selling anyway, the order is written "
                "as soon as the store is back",
                cid,
                exc,
            )
        logger.info(
            "order {}: sending {} {} {} volume={} price={}",
            cid,
            order.market,
            order.side,
            order.type,
            order.volume,
            order.price,
        )
        deadline = self._clock() + int(self.deadline_s * 1000)
        for attempt in itertools.count():
            try:
                placed = await self.exchange.place_order(order)
            except OrderRejected as exc:
                reason = f"rejected: {exc.code}: {exc}" if exc.code else f"rejected: {exc}"
                logger.warning("order {}: {}", cid, reason)
                return await self._mark(submitted, OrderStatus.REJECTED, reason, durable=False)
            except OrderNotSent as exc:
                wait = backoff_delay(attempt, self.poll_interval_s, _MAX_LOOKUP_DELAY_S)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    wait = max(wait, float(retry_after))
                if self._clock() + wait * 1000 > deadline:
                    logger.error("order {}: not sent before the deadline: {}", cid, exc)
                    return await self._mark(
                        submitted, OrderStatus.REJECTED, NOT_SENT, durable=False
                    )
                logger.warning("order {}: not sent ({}); sending again in {:.2f}s", cid, exc, wait)
                await self._sleep(wait)
                continue
            except (OrderStateUnknown, TemporaryExchangeError) as exc:
                logger.warning("order {}: fate unknown after {}; looking it up", cid, exc)
                unknown = await self._mark(submitted, OrderStatus.UNKNOWN, durable=False)
                return await self._resolve_unknown(unknown)
            except ExchangeError as exc:
                await self._mark(submitted, OrderStatus.UNKNOWN, durable=False)
                logger.error("order {}: sending failed ({}); left UNKNOWN for reconcile", cid, exc)
                raise
            break
        current = await self._apply(submitted, placed)
        logger.info("order {}: accepted as {}", cid, current.status)
        return current

    async def _resolve_unknown(self, order: Order) -> Order:
        """Look an order of unknown fate up; never re-send it."""
        result = await self._look_up(order, stop_when_not_found=False)
        if result.found is not None:
            return await self._apply(order, result.found)
        if result.not_found and order.exchange_order_id is None:
            logger.warning(
                "order {}: not found after {} look-ups; it was never created",
                order.client_order_id,
                self.max_lookups,
            )
            return await self._mark(order, OrderStatus.REJECTED, NOT_RECEIVED, durable=False)
        logger.error(
            "order {}: fate still unknown after {} look-ups; left UNKNOWN for reconcile",
            order.client_order_id,
            self.max_lookups,
        )
        return order

    async def _look_up(self, order: Order, *, stop_when_not_found: bool) -> _LookUp:
        """Up to ``max_lookups`` look-ups with doubling waits; stops when the order is found.

        Only a "no such order" answer counts as not found; errors prove nothing. With
        ``stop_when_not_found`` the first such answer ends the search.
        """
        cid = order.client_order_id
        not_found = False
        for attempt in range(self.max_lookups):
            if attempt:
                await self._sleep(
                    backoff_delay(attempt - 1, self.poll_interval_s, _MAX_LOOKUP_DELAY_S)
                )
            try:
                found = await self.exchange.get_order(cid)
            except TemporaryExchangeError as exc:
                logger.warning("order {}: look-up {} failed: {}", cid, attempt + 1, exc)
                not_found = False
                continue
            except ExchangeError as exc:
                # Not temporary (e.g. the exchange cannot look this order up): asking again
                # will not help, and it proves nothing about the order.
                logger.error("order {}: look-up failed: {}", cid, exc)
                return _LookUp(None, False)
            if found is not None:
                return _LookUp(found, False)
            not_found = True
            if stop_when_not_found:
                break
        return _LookUp(None, not_found)

    async def settle(self, order: Order, found: Order) -> Order:
        """Take the exchange's later answer for an order of unknown fate; its fills follow."""
        return await self._apply(order, found)

    # ---- confirm -----------------------------------------------------------------------

    async def confirm(self, order: Order) -> Order:
        """Poll the order until it is final or ``confirm_timeout_s`` passed.

        Every change is journaled, and each newly executed quantity becomes one fill.

        Returns:
            The last known state (still ``OPEN`` after a timeout).

        Raises:
            ValueError: the order was never submitted (``NEW``).
        """
        cid = order.client_order_id
        if order.status is OrderStatus.NEW:
            raise ValueError(f"order {cid} is NEW: submit it before confirming it")
        current = order
        deadline = self._clock() + int(self.confirm_timeout_s * 1000)
        while not current.status.is_final:
            try:
                found = await self.exchange.get_order(cid)
            except TemporaryExchangeError as exc:
                logger.warning("order {}: poll failed: {}", cid, exc)
            else:
                if found is None:
                    logger.warning("order {}: the exchange does not know it (yet)", cid)
                else:
                    current = await self._apply(current, found)
            if current.status.is_final:
                break
            if self._clock() >= deadline:
                logger.warning(
                    "order {}: still {} after {:g}s; returning the last known state",
                    cid,
                    current.status,
                    self.confirm_timeout_s,
                )
                break
            await self._sleep(self.poll_interval_s)
        return current

    # ---- cancel ------------------------------------------------------------------------

    async def cancel(self, order: Order) -> Order:
        """Cancel a resting order and journal how it ended (fills before the cancel included).

        Raises:
            ExchangeError: the exchange refused or does not know the order; nothing changes.
        """
        logger.info("order {}: cancelling", order.client_order_id)
        ended = await self.exchange.cancel_order(order)
        return await self._apply(order, ended)

    # ---- reconcile ---------------------------------------------------------------------

    async def reconcile(self) -> list[Order]:
        """Bring every stored non-final order in line with the exchange; nothing is sent.

        * found on the exchange: its state is journaled, and fills not booked yet are handed
          out by :meth:`take_fills`;
        * ``NEW`` and not found: it was never sent -> ``REJECTED`` (:data:`NEVER_SENT`);
        * ``SUBMITTED``/``UNKNOWN`` never acknowledged and not found after the look-ups ->
          ``REJECTED`` (:data:`NOT_RECEIVED`);
        * ``OPEN`` (or acknowledged once) and not found -> ``UNKNOWN``, logged as an error:
          a human has to check the account.

        Returns:
            The orders whose state changed, in their new state.
        """
        changed: list[Order] = []
        for stored in await self.journal.reconcile_candidates():
            self._claimed.add(stored.client_order_id)  # it must not be submitted again here
            now = await self._reconcile_one(stored)
            if now != stored:
                changed.append(now)
        if changed:
            logger.info("reconcile: {} order(s) changed", len(changed))
        return changed

    async def _reconcile_one(self, stored: Order) -> Order:
        cid = stored.client_order_id
        # NEW was provably never sent and OPEN was provably received: one clear answer
        # settles them. SUBMITTED/UNKNOWN may still be appearing, so they get every look-up.
        decisive = stored.status in (OrderStatus.NEW, OrderStatus.OPEN)
        result = await self._look_up(stored, stop_when_not_found=decisive)
        if result.found is not None:
            return await self._apply(stored, result.found)
        if not result.not_found:
            logger.error("reconcile: order {}: look-ups failed; left {}", cid, stored.status)
            return stored
        if stored.status is OrderStatus.NEW:
            return await self._mark(stored, OrderStatus.REJECTED, NEVER_SENT)
        if stored.status is OrderStatus.OPEN or stored.exchange_order_id is not None:
            logger.error(
                "reconcile: order {} (exchange id {}) was accepted but the exchange no longer "
                "knows it; marked UNKNOWN -- check the account by hand",
                cid,
                stored.exchange_order_id,
            )
            if stored.status is OrderStatus.UNKNOWN:
                return stored
            return await self._mark(stored, OrderStatus.UNKNOWN)
        return await self._mark(stored, OrderStatus.REJECTED, NOT_RECEIVED)

    # ---- bookkeeping -------------------------------------------------------------------

    def _now(self, previous: Order) -> int:
        """A time for a new state: never before the previous one (the store drops older)."""
        return max(self._clock(), previous.updated_ms)

    async def _write(self, order: Order, wait_s: float | None = None) -> None:
        """Journal ``order``; with ``wait_s``, give up waiting after that long.

        Raises:
            StorageError: the journal failed, or did not confirm within ``wait_s`` (the event
                stays queued in the journal and is written later).
        """
        event = OrderEvent(order.updated_ms, order)
        if wait_s is None:
            await self.journal.write(event)
            return
        with anyio.move_on_after(wait_s) as scope:
            await self.journal.write(event)
        if scope.cancelled_caught:
            raise StorageError(f"the journal did not confirm within {wait_s:g}s")

    async def _mark(
        self, order: Order, status: OrderStatus, reason: str | None = None, *, durable: bool = True
    ) -> Order:
        """Journal ``order`` in ``status`` (and with ``reason``, when given)."""
        changes: dict[str, Any] = {"status": status, "updated_ms": self._now(order)}
        if reason is not None:
            changes["reason"] = reason
        marked = attrs.evolve(order, **changes)
        try:
            await self._write(marked, None if durable else self.journal_wait_s)
        except StorageError as exc:
            if durable:
                raise
            logger.error("order {}: could not journal {}: {}", order.client_order_id, status, exc)
        return marked

    async def _apply(self, current: Order, found: Order) -> Order:
        """Merge the exchange's view into ``current``; journal the change and find new fills.

        The request (id, market, side, type, reason, creation time, exit plan) stays ours; the
        execution (status, exchange id, executed quantity, average price, fee) is the
        exchange's. A journal that cannot keep up does not stop the order being followed.
        """
        merged = attrs.evolve(
            current,
            status=found.status,
            exchange_order_id=found.exchange_order_id or current.exchange_order_id,
            volume=found.volume if found.volume is not None else current.volume,
            price=found.price if found.price is not None else current.price,
            executed_volume=found.executed_volume,
            average_price=found.average_price,
            fee=found.fee,
        )
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            await self._find_new_fills(merged)
            if _execution(merged) == _execution(current):
                return current
            merged = attrs.evolve(merged, updated_ms=self._now(current))
        try:
            await self._write(merged, self.journal_wait_s)
        except StorageError as exc:
            logger.error(
                "order {}: journal behind ({}); kept for later", merged.client_order_id, exc
            )
        if merged.status is not current.status:
            logger.info(
                "order {}: {} -> {} (executed {})",
                merged.client_order_id,
                current.status,
                merged.status,
                merged.executed_volume,
            )
        return merged

    async def _find_new_fills(self, order: Order) -> None:
        """The executed quantity not yet covered by booked fills, as one new fill."""
        cid = order.client_order_id
        done = self._executed.get(cid)
        if done is None:  # an order of an earlier run: what it booked is in the store
            done = _Executed()
            for fill in await self.journal.fills(client_order_id=cid):
                quantity = _dec(fill.quantity)
                done.quantity += quantity
                done.funds += _dec(fill.price) * quantity
                done.fee += _dec(fill.fee)
            self._executed[cid] = done
        executed = _dec(order.executed_volume)
        quantity = executed - done.quantity
        if quantity <= 0:
            if quantity < 0:
                logger.error(
                    "order {}: the exchange reports {} executed, less than the {} recorded",
                    cid,
                    executed,
                    done.quantity,
                )
            return
        if order.average_price is None:
            # Without a price the fill cannot be recorded truthfully; a later poll brings it.
            logger.warning("order {}: {} executed without a price yet", cid, quantity)
            return
        funds = _dec(order.average_price) * executed
        fee = max(_dec(order.fee) - done.fee, _ZERO)
        fill = Fill(
            time_ms=self._clock(),
            market=order.market,
            side=order.side,
            price=float((funds - done.funds) / quantity),
            quantity=float(quantity),
            fee=float(fee),
            reason=order.reason[:32],  # the fills table keeps a short label
            client_order_id=cid,
        )
        self._new_fills.setdefault(cid, []).append(fill)
        done.quantity, done.funds, done.fee = executed, funds, done.fee + fee
        logger.info("order {}: filled {} at {}", cid, fill.quantity, fill.price)


def _execution(order: Order) -> tuple[object, ...]:
    """The fields the exchange changes; a new value is a change worth storing."""
    return (
        order.status,
        order.exchange_order_id,
        order.executed_volume,
        order.average_price,
        order.fee,
    )
