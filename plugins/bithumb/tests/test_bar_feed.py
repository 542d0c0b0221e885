"""LiveBarFeed against the fake Bithumb server: trade-built bars, REST backfill, REST wins.

The tests drive a simulated clock (the fake prints trades at chosen 2024 times): the clock is
moved to a trade's time just before the trade is printed, and only after every earlier trade
was read, so the clock never closes a bar before its trades are in.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from loguru import logger
from tradekit_bithumb.bar_feed import Backfill, LiveBarFeed
from tradekit_bithumb.candle_builder import CandleBuilder
from tradekit_bithumb.stream import TradeStream
from tradekit_bithumb.testing import FakeBithumb
from tradekit_bithumb.testing.rules import KST

from tradekit.errors import TemporaryExchangeError
from tradekit.models import Bar, Timeframe

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MARKET = "KRW-BTC"
CANDLES = "/v1/candles/minutes/1"

pytestmark = pytest.mark.anyio


@pytest.fixture
def logs() -> Iterator[list[str]]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="DEBUG")
    yield messages
    logger.remove(handler)


class SimClock:
    """Unix ms that the test sets."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def rest_backfill(base_url: str) -> Backfill:
    """Minute candles from the fake's REST endpoint, shaped like ``fetch_candles``."""

    async def backfill(
        market: str, timeframe: Timeframe, since_ms: int, until_ms: int
    ) -> Sequence[Bar]:
        unit = timeframe.milliseconds // MINUTE
        to = datetime.fromtimestamp(until_ms / 1000, KST).strftime("%Y-%m-%dT%H:%M:%S")
        params: dict[str, str | int] = {"market": market, "count": 200, "to": to}
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            response = await http.get(f"/v1/candles/minutes/{unit}", params=params)
        if response.status_code >= 500:
            raise TemporaryExchangeError(f"HTTP {response.status_code}")
        response.raise_for_status()
        bars = []
        for row in response.json():
            opened = datetime.fromisoformat(row["candle_date_time_utc"]).replace(tzinfo=UTC)
            bars.append(
                Bar(
                    market,
                    int(opened.timestamp() * 1000),
                    row["opening_price"],
                    row["high_price"],
                    row["low_price"],
                    row["trade_price"],
                    row["candle_acc_trade_volume"],
                )
            )
        return sorted(
            (b for b in bars if since_ms <= b.time_ms < until_ms), key=lambda b: b.time_ms
        )

    return backfill


Tick = tuple[int, int, str]  # time_ms, price, volume


def make_ticks(minutes: range, seed: int = 3) -> list[Tick]:
    """Trades at 5, 20, 35 and 50 s into each minute, on a random walk of whole prices."""
    rng = random.Random(seed)
    price, ticks = 50_000_000, []
    for minute in minutes:
        for second in (5, 20, 35, 50):
            price += rng.choice((-3, -1, 1, 2, 4)) * 1_000
            volume = f"0.{rng.randint(1, 999):03d}"
            ticks.append((T0 + minute * MINUTE + second * 1000, price, volume))
    return ticks


def candles(ticks: Sequence[Tick]) -> dict[int, Bar]:
    """The true minute bars of these trades, by open time."""
    groups: dict[int, list[Tick]] = {}
    for tick in ticks:
        groups.setdefault(tick[0] - tick[0] % MINUTE, []).append(tick)
    out = {}
    for start, group in sorted(groups.items()):
        prices = [p for _, p, _ in group]
        volume = float(sum(Decimal(v) for _, _, v in group))
        out[start] = Bar(MARKET, start, prices[0], max(prices), min(prices), prices[-1], volume)
    return out


def load(fake: FakeBithumb, bars: Sequence[Bar]) -> None:
    rows = [(b.time_ms, b.open, b.high, b.low, b.close, repr(b.volume)) for b in bars]
    fake.load_candles(MARKET, 1, rows)


class Run:
    """A feed read by a background task, and the trades the test prints into it."""

    def __init__(self, fake: FakeBithumb, feed: LiveBarFeed, clock: SimClock) -> None:
        self.fake, self.feed, self.stream, self.clock = fake, feed, feed.stream, clock
        self.bars: list[Bar] = []
        self.read = 0  # trades the stream has yielded so far, as far as the test expects

    async def collect(self) -> None:
        async for bar in self.feed:
            self.bars.append(bar)

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(5):
            # The conditions change in the feed's task and on the fake's thread: poll them.
            while not condition():  # noqa: ASYNC110
                await anyio.sleep(0.002)

    async def trade(self, tick: Tick, *, delivered: bool = True) -> None:
        time_ms, price, volume = tick
        self.clock.now_ms = max(self.clock.now_ms, time_ms)
        self.fake.push_trade(MARKET, price, volume, time_ms=time_ms)
        if delivered:
            self.read += 1
            await self.until(lambda: self.stream.stats.trades >= self.read)

    async def bars_up_to(self, time_ms: int) -> None:
        await self.until(lambda: bool(self.bars) and self.bars[-1].time_ms >= time_ms)


@asynccontextmanager
async def running_feed(
    fake: FakeBithumb, clock: SimClock, backfill: Backfill, **feed_options: Any
) -> AsyncIterator[Run]:
    stream = TradeStream(
        fake.ws_url,
        [MARKET],
        clock=clock,
        # Reconnecting takes >= 0.3 s, so trades printed right after a drop are surely missed.
        backoff_initial=0.6,
        ping_interval=0.5,
        stale_after=5,
        rng=random.Random(5),
    )
    builder = CandleBuilder(Timeframe("1m"), grace_s=2)
    feed = LiveBarFeed(stream, builder, backfill, poll_interval=0.005, **feed_options)
    run = Run(fake, feed, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run.collect)
        await run.until(lambda: len(fake.ws_subscriptions) == 1)
        yield run
        await feed.aclose()


async def drop_and_miss(run: Run, gap: Sequence[Tick]) -> None:
    """Drop the WebSocket, print ``gap`` while it is down, wait until it is live again."""
    drops = run.stream.stats.drops
    run.fake.faults.drop_ws()
    await run.until(lambda: run.stream.stats.drops > drops)
    for tick in gap:
        await run.trade(tick, delivered=False)
    assert len(run.fake.ws_subscriptions) == 1, "reconnected before the gap trades: too slow"
    # The new subscription's snapshot delivers the last gap trade.
    run.read += 1
    await run.until(lambda: run.stream.is_live and run.stream.stats.trades >= run.read)


async def test_a_dropped_connection_leaves_no_missing_bar(fake_bithumb: FakeBithumb) -> None:
    ticks = make_ticks(range(10))
    truth = candles(ticks)
    load(fake_bithumb, list(truth.values()))  # REST agrees with the trades
    before, gap, after = ticks[:20], ticks[20:28], ticks[28:]  # minutes 0-4 | 5-6 | 7-9
    clock = SimClock(T0)
    async with running_feed(fake_bithumb, clock, rest_backfill(fake_bithumb.base_url)) as run:
        for tick in before:
            await run.trade(tick)
        await run.bars_up_to(T0 + 3 * MINUTE)
        await drop_and_miss(run, gap)
        for tick in after:
            await run.trade(tick)
        await run.bars_up_to(T0 + 8 * MINUTE)

    assert run.bars == [truth[T0 + m * MINUTE] for m in range(9)]
    assert run.stream.stats.trades == len(before) + 1 + len(after)  # 7 gap trades never seen
    # REST was asked for the start (minute 0) and for the minutes touching the gap (4-6) only.
    asked = {r.params["to"] for r in fake_bithumb.requests_to("GET", CANDLES) if r.status == 200}
    assert asked <= {
        "2024-01-01T09:01:00",
        "2024-01-01T09:05:00",
        "2024-01-01T09:06:00",
        "2024-01-01T09:07:00",
    }
    assert "2024-01-01T09:01:00" in asked
    assert "2024-01-01T09:07:00" in asked


async def test_rest_wins_for_intervals_touching_a_gap(
    fake_bithumb: FakeBithumb, logs: list[str]
) -> None:
    ticks = make_ticks(range(10))
    truth = candles(ticks)
    # REST disagrees with the trades everywhere: more volume and a higher high.
    rest = {
        t: Bar(MARKET, t, b.open, b.high + 5_000, b.low, b.close, b.volume + 100)
        for t, b in truth.items()
    }
    load(fake_bithumb, list(rest.values()))
    before, gap, after = ticks[:20], ticks[20:28], ticks[28:]
    clock = SimClock(T0)
    async with running_feed(fake_bithumb, clock, rest_backfill(fake_bithumb.base_url)) as run:
        for tick in before:
            await run.trade(tick)
        await run.bars_up_to(T0 + 3 * MINUTE)
        await drop_and_miss(run, gap)
        for tick in after:
            await run.trade(tick)
        await run.bars_up_to(T0 + 8 * MINUTE)

    from_rest = {0, 4, 5, 6}  # the start, and the minutes the gap touched
    expected = [(rest if m in from_rest else truth)[T0 + m * MINUTE] for m in range(9)]
    assert run.bars == expected
    # Minutes 0, 4 and 6 had trade-built bars that lost; minute 5 had none.
    assert sum("differs from the trades seen; using REST" in line for line in logs) == 3


async def test_temporary_backfill_errors_are_retried(
    fake_bithumb: FakeBithumb, logs: list[str]
) -> None:
    ticks = make_ticks(range(3))
    truth = candles(ticks)
    load(fake_bithumb, list(truth.values()))
    fake_bithumb.faults.fail_next(CANDLES, status=503, times=2)
    clock = SimClock(T0)
    backfill = rest_backfill(fake_bithumb.base_url)
    async with running_feed(fake_bithumb, clock, backfill, backoff_initial=0.01) as run:
        for tick in ticks:
            await run.trade(tick)
        await run.bars_up_to(T0 + MINUTE)
    assert run.bars == [truth[T0], truth[T0 + MINUTE]]
    assert fake_bithumb.faults.count("fail") == 2
    assert sum("backfill of" in line and "retrying" in line for line in logs) == 2


async def test_warm_up_history_comes_from_rest_then_live_bars_follow(
    fake_bithumb: FakeBithumb,
) -> None:
    ticks = make_ticks(range(8))
    truth = candles(ticks)
    load(fake_bithumb, list(truth.values()))
    live = ticks[20:]  # minutes 0-4 happened before the feed started: REST only
    clock = SimClock(T0 + 5 * MINUTE + 3_000)  # minute 4 has just closed
    backfill = rest_backfill(fake_bithumb.base_url)
    async with running_feed(fake_bithumb, clock, backfill, start_ms=T0) as run:
        # Closed history arrives at once, before any live trade.
        await run.bars_up_to(T0 + 4 * MINUTE)
        assert run.bars == [truth[T0 + m * MINUTE] for m in range(5)]
        for tick in live:
            await run.trade(tick)
        await run.bars_up_to(T0 + 6 * MINUTE)
    assert run.bars == [truth[T0 + m * MINUTE] for m in range(7)]


async def test_a_refused_backfill_ends_the_feed(fake_bithumb: FakeBithumb) -> None:
    async def refuse(market: str, timeframe: Timeframe, since_ms: int, until_ms: int) -> list[Bar]:
        raise ValueError("not a temporary problem")

    clock = SimClock(T0)
    stream = TradeStream(fake_bithumb.ws_url, [MARKET], clock=clock)
    feed = LiveBarFeed(stream, CandleBuilder(Timeframe("1m")), refuse, poll_interval=0.005)
    clock.now_ms = T0 + 10 * MINUTE  # the start interval has closed: time to backfill it
    with anyio.fail_after(5), pytest.raises(ValueError, match="not a temporary"):
        await anext(feed)
    await feed.aclose()
    with anyio.fail_after(5), pytest.raises(StopAsyncIteration):
        await anext(feed)


async def test_a_trade_stamped_hours_ahead_neither_closes_nor_opens_a_bar(
    fake_bithumb: FakeBithumb, logs: list[str]
) -> None:
    ticks = make_ticks(range(6))
    truth = candles(ticks)
    load(fake_bithumb, list(truth.values()))
    clock = SimClock(T0)
    async with running_feed(fake_bithumb, clock, rest_backfill(fake_bithumb.base_url)) as run:
        for tick in ticks[:6]:  # minute 0 and half of minute 1
            await run.trade(tick)
        # A trade stamped two hours ahead of this machine's clock, in the middle of minute 1:
        # built into a bar, it would close minute 1 early and make every later trade "late".
        fake_bithumb.push_trade(MARKET, 99_000_000, "5", time_ms=clock.now_ms + 120 * MINUTE)
        await run.until(lambda: run.stream.stats.ahead == 1)
        for tick in ticks[6:]:
            await run.trade(tick)
        await run.bars_up_to(T0 + 4 * MINUTE)
        assert run.feed.builder.open_bar(MARKET) == truth[T0 + 5 * MINUTE]  # still open
    assert run.bars == [truth[T0 + m * MINUTE] for m in range(5)]
    assert run.stream.stats.trades == len(ticks)
    assert not any("late trade" in line for line in logs)
    assert sum("skipped a trade stamped" in line for line in logs) == 1
