"""The store: durable records of runs, orders, fills, positions, signals, events and candles.

Every write is its own transaction, committed before the method returns, so an order recorded
before it is sent survives a crash a millisecond later. A locked SQLite file or an unreachable
server is retried with bounded backoff and then raised as
:class:`~tradekit.errors.StorageError`: nothing is dropped silently.

:class:`Store` is synchronous (SQLAlchemy is); :class:`~tradekit.store.async_store.AsyncStore`
runs the same calls in worker threads for the async runner. When to try again lives in
:mod:`~tradekit.store.retry`, the shared SQL in :mod:`~tradekit.store.sql`.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from loguru import logger
from sqlalchemy.engine import URL, Connection, Engine

from tradekit import __version__
from tradekit.errors import StorageError
from tradekit.events import DailyReport, Event
from tradekit.models import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    Position,
    PositionStatus,
    Signal,
    Timeframe,
)
from tradekit.store import rows, tables
from tradekit.store.engine import SQLITE_BEGIN, make_engine, safe_url
from tradekit.store.retry import RetryPolicy, is_transient, reason
from tradekit.store.schema import check_schema
from tradekit.store.sql import insert_if_absent, select_bars, select_order, upsert

__all__ = [
    "NON_FINAL_STATUSES",
    "RetryPolicy",
    "Store",
    "now_ms",
]

T = TypeVar("T")

#: Orders in these states may still change on the exchange; a restarted runner looks them up.
NON_FINAL_STATUSES = tuple(s for s in OrderStatus if not s.is_final)

_CANDLE_CHUNK = 5000


def now_ms() -> int:
    """The current time in UTC milliseconds."""
    return time.time_ns() // 1_000_000


class Store:
    """Durable storage over one SQLAlchemy engine.

    Use :meth:`open` to connect by URL (it checks the schema and owns the engine), or pass an
    engine you manage. Close it (or use it as a context manager) to release connections.

    Args:
        engine: the database.
        retry: how locked or unreachable databases are retried.
        run_id: rows written are tied to this run (see :meth:`start_run`).
    """

    def __init__(
        self, engine: Engine, *, retry: RetryPolicy | None = None, run_id: str | None = None
    ) -> None:
        self.engine = engine
        self.retry = retry or RetryPolicy()
        self.run_id = run_id
        self._owns_engine = False

    @classmethod
    def open(
        cls, url: str | URL, *, retry: RetryPolicy | None = None, busy_timeout_ms: int = 5000
    ) -> Store:
        """Connect to ``url``, create a new database or check an existing one's schema.

        Raises:
            StorageError: the database is unreachable or at another schema revision.
        """
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        store = cls(engine, retry=retry)
        store._owns_engine = True
        try:
            store._retrying("schema check", lambda: check_schema(engine))
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release the connections (the engine is disposed if the store created it)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({safe_url(self.engine.url)!r})"

    # -- plumbing ------------------------------------------------------------------------

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        dialect = self.engine.dialect.name
        delays = self.retry.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except StorageError as exc:
                cause = exc.__cause__
                if not isinstance(cause, sa.exc.SQLAlchemyError) or not is_transient(
                    cause, dialect
                ):
                    raise
                error: sa.exc.SQLAlchemyError = cause
            except sa.exc.SQLAlchemyError as exc:
                if not is_transient(exc, dialect):
                    raise StorageError(
                        f"{what} failed ({safe_url(self.engine.url)}): {reason(exc)}"
                    ) from exc
                error = exc
            delay = next(delays, None)
            if delay is None:
                raise StorageError(
                    f"{what} failed after {attempt} attempts ({safe_url(self.engine.url)}): "
                    f"{reason(error)}"
                ) from error
            logger.warning(
                "store: {} failed ({}); retry {} of {} in {:.2f}s",
                what,
                reason(error),
                attempt,
                self.retry.attempts - 1,
                delay,
            )
            self.retry.sleep(delay)

    def _transaction(self, what: str, work: Callable[[Connection], T], *, write: bool) -> T:
        def once() -> T:
            with self.engine.connect() as conn:
                if write:
                    # Take SQLite's write lock at BEGIN, where busy_timeout waits for it.
                    conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                with conn.begin():
                    return work(conn)

        return self._retrying(what, once)

    def _write(self, what: str, work: Callable[[Connection], T]) -> T:
        return self._transaction(what, work, write=True)

    def _read(self, what: str, work: Callable[[Connection], T]) -> T:
        return self._transaction(what, work, write=False)

    # -- runs ----------------------------------------------------------------------------

    def _read_ordered(
        self,
        what: str,
        stmt: sa.Select[Any],
        keys: Sequence[sa.ColumnElement[Any]],
        convert: Callable[[Any], T],
        limit: int | None = None,
        latest: int | None = None,
    ) -> list[T]:
        """Rows of ``stmt`` oldest first by ``keys``: the first ``limit`` or the last ``latest``."""
        newest_first = latest is not None
        stmt = stmt.order_by(*(k.desc() for k in keys) if newest_first else keys)
        count = latest if newest_first else limit
        if count is not None:
            stmt = stmt.limit(count)
        found = self._read(what, lambda c: [convert(r._mapping) for r in c.execute(stmt)])
        return found[::-1] if newest_first else found

    def start_run(
        self,
        mode: str,
        *,
        config_digest: str | None = None,
        started_ms: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record the start of a run; later rows are tied to it. Returns the run id.

        Args:
            mode: ``backtest``, ``paper`` or ``live``.
            config_digest: see :func:`config_digest`; never pass the config itself.
            started_ms: start time (now by default).
            run_id: the id to use (32 characters at most; a new random one by default).
        """
        run_id = run_id or uuid.uuid4().hex
        row = {
            "id": run_id,
            "mode": mode,
            "started_ms": now_ms() if started_ms is None else started_ms,
            "ended_ms": None,
            "config_digest": config_digest,
            "version": __version__,
        }
        self._write("start run", lambda conn: conn.execute(tables.runs.insert(), row))
        self.run_id = run_id
        return run_id

    def end_run(self, ended_ms: int | None = None) -> None:
        """Record the end of the current run (no-op without one)."""
        if self.run_id is None:
            return
        stmt = (
            tables.runs.update()
            .where(tables.runs.c.id == self.run_id)
            .values(ended_ms=now_ms() if ended_ms is None else ended_ms)
        )
        self._write("end run", lambda conn: conn.execute(stmt))

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, as dicts of the ``runs`` columns."""
        stmt = sa.select(tables.runs).order_by(tables.runs.c.started_ms, tables.runs.c.id)
        return self._read("read runs", lambda c: [dict(r._mapping) for r in c.execute(stmt)])

    # -- orders --------------------------------------------------------------------------

    def record_order(self, order: Order) -> None:
        """Store a new order; committed on return. Call it *before* sending the order.

        Recording the same order again (e.g. a retry after a lost commit) is harmless.

        Raises:
            StorageError: another order with this client order id exists, or the database
                cannot be written.
        """
        row = rows.order_to_row(order, self.run_id)

        def work(conn: Connection) -> None:
            if insert_if_absent(conn, tables.orders, row, ["client_order_id"]):
                return
            stored = select_order(conn, order.client_order_id)
            if stored != order:
                raise StorageError(
                    f"order {order.client_order_id!r} is already stored with other values"
                )

        self._write(f"record order {order.client_order_id}", work)

    def update_order(self, order: Order) -> None:
        """Store a new state of an order (inserted if it was never recorded).

        A state older than the stored one (smaller ``updated_ms``) is ignored, so late
        answers cannot roll an order back.
        """
        row = rows.order_to_row(order, self.run_id)
        # The request (and its exit plan) is fixed when the order is first stored.
        keep = {"client_order_id", "run_id", "created_ms", "exit_plan"}
        t = tables.orders

        def work(conn: Connection) -> None:
            upsert(
                conn,
                t,
                [row],
                ["client_order_id"],
                [c for c in row if c not in keep],
                newer=lambda new: t.c.updated_ms <= new.updated_ms,
            )

        self._write(f"update order {order.client_order_id}", work)

    def order(self, client_order_id: str) -> Order | None:
        """The stored order with this client order id, if any."""
        return self._read("read order", lambda conn: select_order(conn, client_order_id))

    def orders(
        self,
        *,
        market: str | None = None,
        statuses: Iterable[OrderStatus] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
        latest: int | None = None,
    ) -> list[Order]:
        """Stored orders, oldest first, optionally filtered.

        ``limit`` keeps the oldest matches; ``latest`` keeps the newest (still oldest first).
        """
        t = tables.orders
        stmt = sa.select(t)
        if market is not None:
            stmt = stmt.where(t.c.market == market)
        if statuses is not None:
            stmt = stmt.where(t.c.status.in_([OrderStatus(s).value for s in statuses]))
        if since_ms is not None:
            stmt = stmt.where(t.c.created_ms >= since_ms)
        keys = (t.c.created_ms, t.c.id)
        return self._read_ordered("read orders", stmt, keys, rows.order_from_row, limit, latest)

    def open_orders(self, market: str | None = None) -> list[Order]:
        """Orders the exchange accepted that are still open (status ``open``)."""
        return self.orders(market=market, statuses=[OrderStatus.OPEN])

    def reconcile_candidates(self) -> list[Order]:
        """Orders whose fate may have changed unseen: ``new``, ``submitted``, ``open``, ``unknown``.

        After a crash the runner looks each one up on the exchange (by client order id) before
        trading; a ``new`` order may or may not have been sent.
        """
        return self.orders(statuses=NON_FINAL_STATUSES)

    # -- fills, signals, positions, performance, events ------------------------------------

    def record_fill(self, fill: Fill) -> None:
        """Store a fill; committed on return."""
        self.record_fills([fill])

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """Store many fills in one transaction (e.g. a backtest's); returns how many."""
        batch = [rows.fill_to_row(fill, self.run_id) for fill in fills]
        if batch:
            self._write("record fills", lambda conn: conn.execute(tables.fills.insert(), batch))
        return len(batch)

    def fills(
        self,
        *,
        market: str | None = None,
        client_order_id: str | None = None,
        since_ms: int | None = None,
        latest: int | None = None,
    ) -> list[Fill]:
        """Stored fills in time order, optionally filtered; ``latest`` keeps the newest N."""
        t = tables.fills
        stmt = sa.select(t)
        if market is not None:
            stmt = stmt.where(t.c.market == market)
        if client_order_id is not None:
            stmt = stmt.where(t.c.client_order_id == client_order_id)
        if since_ms is not None:
            stmt = stmt.where(t.c.time_ms >= since_ms)
        keys = (t.c.time_ms, t.c.id)
        return self._read_ordered("read fills", stmt, keys, rows.fill_from_row, None, latest)

    def record_signal(self, signal: Signal) -> None:
        """Store a strategy's signal; committed on return."""
        row = rows.signal_to_row(signal, self.run_id)
        self._write("record signal", lambda conn: conn.execute(tables.signals.insert(), row))

    def signals(self, *, market: str | None = None, since_ms: int | None = None) -> list[Signal]:
        """Stored signals in time order."""
        t = tables.signals
        stmt = sa.select(t).order_by(t.c.time_ms, t.c.id)
        if market is not None:
            stmt = stmt.where(t.c.market == market)
        if since_ms is not None:
            stmt = stmt.where(t.c.time_ms >= since_ms)
        return self._read(
            "read signals", lambda c: [rows.signal_from_row(r._mapping) for r in c.execute(stmt)]
        )

    def upsert_position(self, position: Position, updated_ms: int | None = None) -> None:
        """Store the current state of a position (one row per market and entry time).

        A state older than the stored one (smaller ``updated_ms``) is ignored.
        """
        updated = now_ms() if updated_ms is None else updated_ms
        row = rows.position_to_row(position, updated, self.run_id)
        keys = ["market", "entry_time_ms"]
        t = tables.positions

        def work(conn: Connection) -> None:
            upsert(
                conn,
                t,
                [row],
                keys,
                [c for c in row if c not in {*keys, "run_id"}],
                newer=lambda new: t.c.updated_ms <= new.updated_ms,
            )

        self._write(f"store position {position.market}", work)

    def positions(self, *, include_closed: bool = False) -> list[Position]:
        """Stored positions (open ones only, unless ``include_closed``), oldest first."""
        t = tables.positions
        stmt = sa.select(t).order_by(t.c.entry_time_ms, t.c.id)
        if not include_closed:
            stmt = stmt.where(t.c.status == PositionStatus.OPEN.value)
        return self._read(
            "read positions",
            lambda c: [rows.position_from_row(r._mapping) for r in c.execute(stmt)],
        )

    def record_daily_performance(self, report: DailyReport) -> None:
        """Store a day's performance; a second report for the same day replaces the first."""
        row = rows.daily_report_to_row(report, self.run_id)
        cols = [c for c in row if c not in {"trading_day", "run_id"}]
        self._write(
            f"record performance {report.trading_day}",
            lambda conn: upsert(conn, tables.daily_performance, [row], ["trading_day"], cols),
        )

    def performance(self) -> list[DailyReport]:
        """Stored daily performance, oldest day first."""
        t = tables.daily_performance
        stmt = sa.select(t).order_by(t.c.trading_day)
        return self._read(
            "read performance",
            lambda c: [rows.daily_report_from_row(r._mapping) for r in c.execute(stmt)],
        )

    def record_event(self, event: Event) -> None:
        """Store an event as JSON under its ``kind``; committed on return."""
        self.record_events([event])

    def record_events(self, events: Iterable[Event]) -> int:
        """Store many events in one transaction; returns how many."""
        batch = [rows.event_to_row(event, self.run_id) for event in events]
        if batch:
            self._write("record events", lambda c: c.execute(tables.events.insert(), batch))
        return len(batch)

    def events(
        self,
        *,
        kind: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
        latest: int | None = None,
    ) -> list[Event | dict[str, Any]]:
        """Stored events in the order they were written (a kind this version does not know
        comes as a dict). ``limit`` keeps the first matches, ``latest`` the last ones.
        """
        t = tables.events
        stmt = sa.select(t)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        if since_ms is not None:
            stmt = stmt.where(t.c.time_ms >= since_ms)
        # Insertion order: event times come from different clocks (bars, wall clock).
        return self._read_ordered(
            "read events", stmt, (t.c.id,), rows.event_from_row, limit, latest
        )

    # -- candles -------------------------------------------------------------------------

    def save_candles(self, timeframe: Timeframe | str, bars: Iterable[Bar]) -> int:
        """Store bars; a bar already stored (market, timeframe, time) is overwritten.

        Saving the same bars twice leaves one copy. Bars are written in transactions of a few
        thousand, so a huge download does not hold the write lock for long.

        Returns:
            The number of bars written.
        """
        tf = Timeframe(str(timeframe))
        t = tables.candles
        keys = ["market", "timeframe", "time_ms"]
        values = ["open", "high", "low", "close", "volume"]
        total = 0
        chunk: list[dict[str, Any]] = []

        def flush() -> None:
            batch = list(chunk)
            self._write(
                f"save {len(batch)} {tf} candles",
                lambda conn: upsert(conn, t, batch, keys, values),
            )
            chunk.clear()

        for bar in bars:
            chunk.append(rows.bar_to_row(bar, tf))
            if len(chunk) >= _CANDLE_CHUNK:
                total += len(chunk)
                flush()
        if chunk:
            total += len(chunk)
            flush()
        return total

    def iter_candles(
        self,
        market: str,
        timeframe: Timeframe | str,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Iterator[Bar]:
        """Stored bars with ``since_ms <= time_ms < until_ms``, oldest first, read in pages.

        Each page is its own short read, so iterating slowly never holds a transaction open.
        """
        t = tables.candles
        tf = str(Timeframe(str(timeframe)))
        after = None if since_ms is None else since_ms - 1
        while True:
            stmt = (
                sa.select(t)
                .where(t.c.market == market, t.c.timeframe == tf)
                .order_by(t.c.time_ms)
                .limit(_CANDLE_CHUNK)
            )
            if after is not None:
                stmt = stmt.where(t.c.time_ms > after)
            if until_ms is not None:
                stmt = stmt.where(t.c.time_ms < until_ms)
            page = self._read("read candles", functools.partial(select_bars, stmt))
            yield from page
            if len(page) < _CANDLE_CHUNK:
                return
            after = page[-1].time_ms

    def candles(
        self,
        market: str,
        timeframe: Timeframe | str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[Bar]:
        """Stored bars with ``since <= time_ms < until`` (UTC ms), oldest first."""
        return list(self.iter_candles(market, timeframe, since, until))

    def last_candle_time(self, market: str, timeframe: Timeframe | str) -> int | None:
        """Open time of the newest stored bar (for resuming a download), or None."""
        t = tables.candles
        stmt = sa.select(sa.func.max(t.c.time_ms)).where(
            t.c.market == market, t.c.timeframe == str(Timeframe(str(timeframe)))
        )
        value = self._read("read candles", lambda c: c.execute(stmt).scalar())
        return None if value is None else int(value)
