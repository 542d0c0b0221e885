"""Client-side rate limiting: one async token bucket per API category.

Bithumb counts requests per category (public, private, order) and blocks a category for a
while when it is exceeded, failed calls included (docs/bithumb.md#trading-rules); waiting a few
milliseconds here is much cheaper than a ban.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

import anyio

__all__ = ["Category", "RateLimiter", "TokenBucket"]

Category = Literal["public", "private", "order"]


class TokenBucket:
    """Allows ``rate`` acquisitions per second on average and bursts of ``capacity``.

    Waiters are served one at a time in arrival order (an anyio lock is fair enough here),
    so a burst of callers is spread out instead of all waking at once.

    Args:
        rate: Tokens added per second (> 0).
        capacity: Largest burst; default ``max(1, rate)`` (one second's worth).
        clock: Monotonic seconds; replaceable in tests.
        sleep: Async sleep; replaceable in tests.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self.rate = rate
        self.capacity = max(1.0, rate) if capacity is None else capacity
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity!r}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock: anyio.Lock | None = None

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        if self._lock is None:
            # Created on first use so the bucket can be built outside an event loop.
            self._lock = anyio.Lock()
        waited = 0.0
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                await self._sleep(delay)
                waited += delay
                self._refill()
            self._tokens -= 1
        return waited


class RateLimiter:
    """A :class:`TokenBucket` per category."""

    def __init__(
        self,
        rates: Mapping[Category, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.buckets: dict[Category, TokenBucket] = {
            category: TokenBucket(rate, clock=clock, sleep=sleep)
            for category, rate in rates.items()
        }

    async def acquire(self, category: Category) -> float:
        """Wait for the category's budget; returns the seconds waited."""
        return await self.buckets[category].acquire()
