"""The store for async code: the same calls as :class:`~tradekit.store.store.Store`, in threads."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Self, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.engine import URL

from tradekit.events import DailyReport, Event
from tradekit.models import Bar, Fill, Order, Position, Signal, Timeframe
from tradekit.store.retry import RetryPolicy
from tradekit.store.store import Store

__all__ = ["AsyncStore"]

T = TypeVar("T")


class AsyncStore:
    """The :class:`Store` API for async code: each call runs in a worker thread.

    Writes go one at a time and in call order (one writer); a cancelled caller still lets
    a started write finish, so cancellation never loses a half-sent record.

    Args:
        store: the store to wrap (closed by :meth:`aclose`).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._write_limiter: anyio.CapacityLimiter | None = None

    @classmethod
    async def open(cls, url: str | URL, *, retry: RetryPolicy | None = None) -> AsyncStore:
        """:meth:`Store.open` in a worker thread."""
        store = await anyio.to_thread.run_sync(functools.partial(Store.open, url, retry=retry))
        return cls(store)

    async def aclose(self) -> None:
        """Close the wrapped store."""
        await anyio.to_thread.run_sync(self.store.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def run_id(self) -> str | None:
        """The current run's id."""
        return self.store.run_id

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._write_limiter is None:
            self._write_limiter = anyio.CapacityLimiter(1)
        call = functools.partial(fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._write_limiter)

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def start_run(
        self, mode: str, *, config_digest: str | None = None, run_id: str | None = None
    ) -> str:
        """See :meth:`Store.start_run`."""
        return await self._write(
            self.store.start_run, mode, config_digest=config_digest, run_id=run_id
        )

    async def end_run(self, ended_ms: int | None = None) -> None:
        """See :meth:`Store.end_run`."""
        await self._write(self.store.end_run, ended_ms)

    async def record_order(self, order: Order) -> None:
        """See :meth:`Store.record_order`."""
        await self._write(self.store.record_order, order)

    async def order(self, client_order_id: str) -> Order | None:
        """See :meth:`Store.order`."""
        return await self._read(self.store.order, client_order_id)

    async def update_order(self, order: Order) -> None:
        """See :meth:`Store.update_order`."""
        await self._write(self.store.update_order, order)

    async def record_fill(self, fill: Fill) -> None:
        """See :meth:`Store.record_fill`."""
        await self._write(self.store.record_fill, fill)

    async def record_signal(self, signal: Signal) -> None:
        """See :meth:`Store.record_signal`."""
        await self._write(self.store.record_signal, signal)

    async def upsert_position(self, position: Position, updated_ms: int | None = None) -> None:
        """See :meth:`Store.upsert_position`."""
        await self._write(self.store.upsert_position, position, updated_ms)

    async def record_event(self, event: Event) -> None:
        """See :meth:`Store.record_event`."""
        await self._write(self.store.record_event, event)

    async def record_daily_performance(self, report: DailyReport) -> None:
        """See :meth:`Store.record_daily_performance`."""
        await self._write(self.store.record_daily_performance, report)

    async def save_candles(self, timeframe: Timeframe | str, bars: Iterable[Bar]) -> int:
        """See :meth:`Store.save_candles`."""
        return await self._write(self.store.save_candles, timeframe, list(bars))

    async def orders(self, **filters: Any) -> list[Order]:
        """See :meth:`Store.orders`."""
        return await self._read(self.store.orders, **filters)

    async def open_orders(self, market: str | None = None) -> list[Order]:
        """See :meth:`Store.open_orders`."""
        return await self._read(self.store.open_orders, market)

    async def reconcile_candidates(self) -> list[Order]:
        """See :meth:`Store.reconcile_candidates`."""
        return await self._read(self.store.reconcile_candidates)

    async def fills(self, **filters: Any) -> list[Fill]:
        """See :meth:`Store.fills`."""
        return await self._read(self.store.fills, **filters)

    async def positions(self, *, include_closed: bool = False) -> list[Position]:
        """See :meth:`Store.positions`."""
        return await self._read(self.store.positions, include_closed=include_closed)

    async def events(self, **filters: Any) -> list[Event | dict[str, Any]]:
        """See :meth:`Store.events`."""
        return await self._read(self.store.events, **filters)

    async def performance(self) -> list[DailyReport]:
        """See :meth:`Store.performance`."""
        return await self._read(self.store.performance)

    async def candles(
        self,
        market: str,
        timeframe: Timeframe | str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[Bar]:
        """See :meth:`Store.candles`."""
        return await self._read(self.store.candles, market, timeframe, since, until)
