"""Replay mode of the fake Bithumb: bar paths, replay steps, fills at the replayed price."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from itertools import pairwise
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekit_bithumb.client import BithumbClient
from tradekit_bithumb.testing import (
    KRW_TICKS,
    BarReplay,
    FakeBithumb,
    ReplayStep,
    bar_path,
    krw_tick,
)
from websockets.asyncio.client import ClientConnection, connect

from tradekit.models import Bar, OrderStatus, Timeframe

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
FEE_RATE = Decimal("0.0025")
BARS = [
    (T0, 50_000_000, 50_010_000, 49_990_000, 50_005_000, "1.5"),
    (T0 + HOUR_MS, 50_006_000, 50_020_000, 50_001_000, 50_015_000, "2.25"),
    (T0 + 2 * HOUR_MS, 50_015_000, 50_016_000, 50_013_000, 50_014_000, "0.00000007"),
]


def on_grid(price: Decimal) -> bool:
    return price % krw_tick(price) == 0


def grid_around(center: Decimal, n: int = 300) -> list[Decimal]:
    """Grid prices within n ticks either side of ``center`` (the ticks may differ either side)."""
    below, above = krw_tick(center - KRW_TICKS[-1][1]), krw_tick(center)
    prices = [center - i * below for i in range(n, 0, -1)] + [center + i * above for i in range(n)]
    return [p for p in prices if p > 0]


# Band edges (where the tick changes) and a few prices well inside bands.
CENTERS = [lower for lower, _ in KRW_TICKS if lower > 0] + [
    Decimal("0.5"),
    Decimal("3.217"),
    Decimal(777),
    Decimal(123_456_000),
]


@st.composite
def grid_bars(draw: st.DrawFn) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(open, high, low, close) on the KRW grid, often straddling a band edge."""
    grid = grid_around(draw(st.sampled_from(CENTERS)))
    o, c, a, b = (draw(st.sampled_from(grid)) for _ in range(4))
    return o, max(o, c, a, b), min(o, c, a, b), c


def legs_monotonic(path: list[Decimal], low: Decimal, high: Decimal) -> None:
    """The path goes down to the low, up to the high, then down (never up) to the close."""
    i_low = path.index(low)
    i_high = i_low + path[i_low:].index(high)
    assert all(a > b for a, b in pairwise(path[: i_low + 1]))
    assert all(a < b for a, b in pairwise(path[i_low : i_high + 1]))
    assert all(a > b for a, b in pairwise(path[i_high:]))


# ---- bar_path ------------------------------------------------------------------------------


@given(grid_bars())
@settings(max_examples=300, deadline=None)
def test_path_walks_open_low_high_close_one_tick_at_a_time(
    bar: tuple[Decimal, Decimal, Decimal, Decimal],
) -> None:
    o, h, lo, c = bar
    path = bar_path(o, h, lo, c, krw_tick)
    assert (path[0], path[-1]) == (o, c)
    assert (min(path), max(path)) == (lo, h)
    assert lo in path
    assert h in path
    # The low comes before the last visit of the high.
    assert path.index(lo) <= len(path) - 1 - path[::-1].index(h)
    assert all(on_grid(p) for p in path)
    for a, b in pairwise(path):
        assert a != b
        assert abs(a - b) == krw_tick(min(a, b)), (a, b)
    legs_monotonic(path, lo, h)


def test_path_across_a_band_edge() -> None:
    path = bar_path(10_010, 10_020, 9_990, 10_000)
    assert path == [
        Decimal(p)
        for p in (10_010, 10_000, 9_995, 9_990, 9_995, 10_000, 10_010, 10_020, 10_010, 10_000)
    ]
    assert bar_path(1, 1, 1, 1) == [Decimal(1)]
    assert bar_path("1.001", "1.001", "0.9999", "0.9999") == [
        Decimal("1.001"),
        Decimal("1.000"),
        Decimal("0.9999"),
        Decimal("1.000"),
        Decimal("1.001"),
        Decimal("1.000"),
        Decimal("0.9999"),
    ]


def test_open_at_the_low_or_high_and_floats() -> None:
    # open == low: the first leg is empty; close == high: the last leg is empty.
    assert bar_path(100.0, 102.0, 100.0, 102.0) == [Decimal(p) for p in (100, 101, 102)]
    # open == high: the high is the first price and is visited again after the low.
    assert bar_path(5_010, 5_010, 5_000, 5_005) == [
        Decimal(p) for p in (5_010, 5_005, 5_000, 5_005, 5_010, 5_005)
    ]


def test_off_grid_prices_are_kept_exactly() -> None:
    path = bar_path("10003", "10020", "9990.5", "10000")
    assert path[0] == Decimal(10_003)
    assert Decimal("9990.5") in path
    assert path[-1] == Decimal(10_000)
    inner = [p for p in path if p not in (Decimal(10_003), Decimal("9990.5"))]
    assert all(on_grid(p) for p in inner)
    for a, b in pairwise(path):
        assert 0 < abs(a - b) <= krw_tick(min(a, b))


@given(grid_bars(), st.integers(1, 40))
@settings(max_examples=200, deadline=None)
def test_max_steps_per_leg_coarsens_evenly(
    bar: tuple[Decimal, Decimal, Decimal, Decimal], cap: int
) -> None:
    o, h, lo, c = bar
    path = bar_path(o, h, lo, c, max_steps_per_leg=cap)
    assert (path[0], path[-1], min(path), max(path)) == (o, c, lo, h)
    assert all(on_grid(p) for p in path)
    legs_monotonic(path, lo, h)
    i_low = path.index(lo)
    i_high = i_low + path[i_low:].index(h)
    legs = [(path[: i_low + 1], o, lo), (path[i_low : i_high + 1], lo, h), (path[i_high:], h, c)]
    for leg, start, end in legs:
        assert len(leg) - 1 <= cap  # prices after the leg's start
        full = len(bar_path(start, max(start, end), min(start, end), end)) - 1
        if full <= cap:
            continue  # not coarsened: tick by tick as without the cap
        # Coarsened: every step is at most an even share of the leg plus one tick.
        share = abs(end - start) / cap
        for a, b in pairwise(leg):
            assert abs(a - b) <= share + krw_tick(max(a, b))


def test_uncoarsened_legs_are_unchanged_and_big_legs_shrink() -> None:
    assert bar_path(10_010, 10_020, 9_990, 10_000, max_steps_per_leg=50) == bar_path(
        10_010, 10_020, 9_990, 10_000
    )
    full = bar_path(50_000_000, 51_000_000, 49_000_000, 50_500_000)
    assert len(full) == 1 + 1000 + 2000 + 500
    coarse = bar_path(50_000_000, 51_000_000, 49_000_000, 50_500_000, max_steps_per_leg=10)
    assert len(coarse) == 1 + 10 + 10 + 10
    assert coarse[:3] == [Decimal(50_000_000), Decimal(49_900_000), Decimal(49_800_000)]


@pytest.mark.parametrize(
    "ohlc",
    [(100, 99, 98, 99), (100, 101, 100.5, 100), (100, 101, 99, 102), (0, 1, 0, 1)],
)
def test_bad_bars_are_refused(ohlc: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="bad bar"):
        bar_path(*ohlc)
    with pytest.raises(ValueError, match="max_steps_per_leg"):
        bar_path(100, 101, 99, 100, max_steps_per_leg=0)


# ---- replay steps (no server needed) -------------------------------------------------------


@given(grid_bars(), st.sampled_from([60_000, 300_000, HOUR_MS]), st.decimals("0", "1000", places=8))
@settings(max_examples=200, deadline=None)
def test_steps_are_inside_the_bar_with_its_volume(
    bar: tuple[Decimal, Decimal, Decimal, Decimal], interval: int, volume: Decimal
) -> None:
    o, h, lo, c = bar
    replay = BarReplay(FakeBithumb(), "KRW-BTC", [(T0, o, h, lo, c, volume)], interval)
    steps = replay.bar_steps(0)
    assert [s.price for s in steps] == bar_path(o, h, lo, c)
    times = [s.time_ms for s in steps]
    assert times[0] == T0
    assert all(a < b for a, b in pairwise(times))
    assert times[-1] < T0 + interval
    assert sum((s.volume for s in steps), Decimal(0)) == volume
    assert all(s.volume >= 0 for s in steps)
    # What a client reads off the WebSocket (JSON floats) adds up to the same volume.
    assert sum((Decimal(repr(float(s.volume))) for s in steps), Decimal(0)) == volume
    assert [s.index for s in steps] == list(range(len(steps)))
    assert [s.last for s in steps] == [False] * (len(steps) - 1) + [True]
    for previous, step in pairwise(steps):
        assert step.ask_bid == ("BID" if step.price > previous.price else "ASK")


def test_bars_as_objects_and_validation() -> None:
    server = FakeBithumb()
    bars = [Bar("KRW-BTC", *row[:5], float(row[5])) for row in BARS]
    replay = BarReplay(server, "KRW-BTC", bars, HOUR_MS)
    assert replay.bars[1].open == Decimal(50_006_000)
    assert [s.bar_index for s in replay.steps()][-1] == 2
    with pytest.raises(ValueError, match="starts before"):
        BarReplay(server, "KRW-BTC", [BARS[0], BARS[0]], HOUR_MS)
    with pytest.raises(ValueError, match="bad bar"):
        BarReplay(server, "KRW-BTC", [(T0, 100, 99, 98, 99, 1)], HOUR_MS)
    with pytest.raises(ValueError, match="not listed"):
        BarReplay(server, "KRW-DOGE", BARS, HOUR_MS)
    with pytest.raises(ValueError, match="REST serves no"):
        BarReplay(server, "KRW-BTC", BARS, 7_000)
    tiny = BarReplay(
        server, "KRW-BTC", [(T0, 10_000, 10_500, 9_500, 10_000, 1)], 50, candles="none"
    )
    with pytest.raises(ValueError, match="max_steps_per_leg"):
        tiny.bar_steps(0)
    capped = BarReplay(
        server,
        "KRW-BTC",
        [(T0, 10_000, 10_500, 9_500, 10_000, 1)],
        50,
        candles="none",
        max_steps_per_leg=10,
    )
    assert len(capped.bar_steps(0)) == 31


# ---- against the running fake ----------------------------------------------------------------


@pytest.fixture
async def client(fake_bithumb: FakeBithumb) -> AsyncIterator[BithumbClient]:
    async with BithumbClient(
        fake_bithumb.base_url,
        api_key=fake_bithumb.api_key,
        api_secret=fake_bithumb.api_secret,
        timeout=5.0,
    ) as c:
        yield c


async def filled(client: BithumbClient, order_id: str | None) -> Any:
    assert order_id is not None
    order = await client.get_order(uuid=order_id)
    assert order is not None
    assert order.status is OrderStatus.FILLED
    return order


@pytest.mark.anyio
async def test_market_orders_fill_at_the_replayed_price(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    fake_bithumb.set_balance("BTC", "0.1")
    replay = BarReplay(fake_bithumb, "KRW-BTC", BARS, HOUR_MS)
    steps = replay.bar_steps(0)
    # Down to the first step at or below a stop of 49,993,500: one tick (1,000) from it.
    stop = Decimal(49_993_500)
    hit = next(s for s in steps if s.price <= stop)
    for step in steps[: hit.index + 1]:
        replay.play(step)
    assert hit.price == Decimal(49_993_000)
    assert stop - hit.price < krw_tick(hit.price)
    (ticker,) = await client.tickers(["KRW-BTC"])
    assert ticker.price == hit.price
    krw_before = fake_bithumb.balance("KRW").balance

    placed = await client.place_order("KRW-BTC", "ask", "market", volume=Decimal("0.01"))
    sold = await filled(client, placed.exchange_order_id)
    funds = hit.price * Decimal("0.01")
    assert Decimal(repr(sold.average_price)) == hit.price
    assert sold.executed_volume == 0.01
    assert Decimal(repr(sold.fee)) == funds * FEE_RATE
    assert fake_bithumb.balance("KRW").balance == krw_before + funds - funds * FEE_RATE
    # Replay mode: the account's own fill prints no public trade.
    trades = await client.recent_trades("KRW-BTC", count=500)
    assert [t.time_ms for t in trades] == [s.time_ms for s in reversed(steps[: hit.index + 1])]

    # The rest of the bar, then the bar ends: the price is the next open, no trade printed.
    for step in steps[hit.index + 1 :]:
        replay.play(step)
    assert replay.end_bar(0) == Decimal(50_006_000)
    assert replay.now_ms == T0 + HOUR_MS
    (ticker,) = await client.tickers(["KRW-BTC"])
    assert ticker.price == Decimal(50_006_000)
    assert len(await client.recent_trades("KRW-BTC", count=500)) == len(steps)

    # A market buy by KRW amount decided on the close fills at open[1].
    amount = Decimal(100_000)
    placed = await client.place_order("KRW-BTC", "bid", "price", price=amount)
    bought = await filled(client, placed.exchange_order_id)
    volume = (amount / Decimal(50_006_000)).quantize(Decimal("0.00000001"), ROUND_DOWN)
    assert volume == Decimal("0.00199976")
    assert Decimal(repr(bought.executed_volume)) == volume
    assert Decimal(repr(bought.average_price)) == Decimal(50_006_000)
    assert Decimal(repr(bought.fee)) == volume * 50_006_000 * FEE_RATE
    assert fake_bithumb.balance("BTC").balance == Decimal("0.09") + volume


@pytest.mark.anyio
async def test_own_fills_print_at_the_replay_clock_when_asked(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    replay = BarReplay(fake_bithumb, "KRW-BTC", BARS, HOUR_MS, print_own_fills=True)
    step = replay.bar_steps(1)[3]
    replay.play(step)
    await client.place_order("KRW-BTC", "bid", "price", price=Decimal(10_000))
    own, played = await client.recent_trades("KRW-BTC", count=2)
    assert step.price == Decimal(50_003_000)
    assert (own.time_ms, own.price, own.volume) == (step.time_ms, 50_003_000.0, 0.00019998)
    assert (played.time_ms, played.price) == (step.time_ms, 50_003_000.0)


@pytest.mark.anyio
async def test_rest_candles_are_the_replayed_bars(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    BarReplay(fake_bithumb, "KRW-BTC", BARS, HOUR_MS)
    candles = await client.candles_between("KRW-BTC", Timeframe("1h"), T0, T0 + 3 * HOUR_MS)
    assert [(b.time_ms, b.open, b.high, b.low, b.close, b.volume) for b in candles] == [
        (t, float(o), float(h), float(lo), float(c), float(v)) for t, o, h, lo, c, v in BARS
    ]


@pytest.mark.anyio
async def test_closed_mode_serves_a_bar_once_it_ended(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    replay = BarReplay(fake_bithumb, "KRW-BTC", BARS, HOUR_MS, candles="closed")
    hour = Timeframe("1h")
    assert await client.candles("KRW-BTC", hour, to_ms=T0 + 3 * HOUR_MS) == []
    replay.load_candles(1)  # warm-up history
    assert [b.time_ms for b in await client.candles("KRW-BTC", hour, to_ms=T0 + 3 * HOUR_MS)] == [
        T0
    ]
    assert replay.play_bar(1) == Decimal(50_015_000)
    got = await client.candles("KRW-BTC", hour, to_ms=T0 + 3 * HOUR_MS)
    assert [b.time_ms for b in got] == [T0 + HOUR_MS, T0]
    assert replay.play_bar(2) is None
    (ticker,) = await client.tickers(["KRW-BTC"])
    assert ticker.price == Decimal(50_014_000)


async def recv_json(ws: ClientConnection) -> Any:
    with anyio.fail_after(5):
        return json.loads(await ws.recv())


@pytest.mark.anyio
async def test_played_trades_arrive_on_the_websocket(fake_bithumb: FakeBithumb) -> None:
    replay = BarReplay(fake_bithumb, "KRW-BTC", BARS, HOUR_MS)
    async with connect(fake_bithumb.ws_url) as ws:
        request = [{"ticket": str(uuid.uuid4())}, {"type": "trade", "codes": ["KRW-BTC"]}]
        await ws.send(json.dumps(request))
        await fake_bithumb.ws_subscribed(1)
        played: list[ReplayStep] = []
        assert replay.play_bar(0, played.append) == Decimal(50_006_000)
        assert played == replay.bar_steps(0)
        received = [await recv_json(ws) for _ in played]
        assert [
            (m["trade_timestamp"], Decimal(repr(m["trade_price"])), m["ask_bid"]) for m in received
        ] == [(s.time_ms, s.price, s.ask_bid) for s in played]
        assert all(m["stream_type"] == "REALTIME" for m in received)
        volume = sum((Decimal(repr(m["trade_volume"])) for m in received), Decimal(0))
        assert volume == Decimal("1.5")
        # end_bar moved the price without a trade: the next message is bar 1's open.
        first = replay.bar_steps(1)[0]
        replay.play(first)
        message = await recv_json(ws)
        assert (message["trade_timestamp"], message["trade_price"]) == (T0 + HOUR_MS, 50_006_000)
