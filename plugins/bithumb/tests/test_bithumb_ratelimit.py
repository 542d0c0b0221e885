"""The token bucket, on a fake clock (no real waiting, no wall-clock assertions)."""

from __future__ import annotations

import anyio
import pytest
from tradekit_bithumb.ratelimit import RateLimiter, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.anyio
async def test_burst_then_paced_at_the_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10, capacity=3, clock=fake.clock, sleep=fake.sleep)
    waits = [await bucket.acquire() for _ in range(6)]
    assert waits[:3] == [0, 0, 0]  # the burst
    assert waits[3:] == pytest.approx([0.1, 0.1, 0.1])
    assert fake.now == pytest.approx(0.3)


@pytest.mark.anyio
async def test_idle_time_refills_up_to_capacity_only() -> None:
    fake = FakeTime()
    bucket = TokenBucket(2, capacity=2, clock=fake.clock, sleep=fake.sleep)
    for _ in range(2):
        await bucket.acquire()
    fake.now += 100  # a long pause must not bank 200 tokens
    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == [0, 0, pytest.approx(0.5)]


@pytest.mark.anyio
async def test_concurrent_callers_are_spread_out() -> None:
    fake = FakeTime()
    bucket = TokenBucket(5, capacity=1, clock=fake.clock, sleep=fake.sleep)
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(bucket.acquire)
    assert sum(fake.sleeps) == pytest.approx(0.6)  # 3 waits of 1/5 s, one after another


@pytest.mark.anyio
async def test_categories_have_separate_budgets() -> None:
    fake = FakeTime()
    limiter = RateLimiter({"public": 1, "order": 1}, clock=fake.clock, sleep=fake.sleep)
    assert await limiter.acquire("public") == 0
    assert await limiter.acquire("order") == 0  # not slowed by the public call
    assert await limiter.acquire("public") == pytest.approx(1.0)


def test_invalid_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(5, capacity=0.5)
