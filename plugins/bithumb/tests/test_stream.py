"""TradeStream against the fake Bithumb server (and a scripted server) over real sockets."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable, Iterator
from http import HTTPStatus
from typing import Any

import anyio
import anyio.abc
import pytest
from loguru import logger
from tradekit_bithumb.stream import TradeStream
from tradekit_bithumb.testing import FakeBithumb
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from tradekit.models import Side, Trade

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

pytestmark = pytest.mark.anyio


@pytest.fixture
def logs() -> Iterator[list[str]]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="DEBUG")
    yield messages
    logger.remove(handler)


def make_stream(url: str, markets: tuple[str, ...] = ("KRW-BTC",), **options: Any) -> TradeStream:
    """A stream with tiny backoff, so reconnections take milliseconds."""
    settings: dict[str, Any] = {
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "stale_after": 10.0,
        "ping_interval": 5.0,
        "rng": random.Random(7),
    }
    return TradeStream(url, markets, **(settings | options))


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        # The condition changes on the fake server's thread: polling is the simple way.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def pump(stream: TradeStream, condition: Callable[[], bool]) -> list[Trade]:
    """Keep the stream reading (and so reconnecting) until ``condition()``; the trades read."""
    trades = []
    with anyio.fail_after(5):
        while not condition():
            trade = await stream.receive(0.02)
            if trade is not None:
                trades.append(trade)
    return trades


async def next_trade(stream: TradeStream) -> Trade:
    with anyio.fail_after(5):
        return await anext(stream)


# ---- against the fake server -------------------------------------------------------------------


async def test_receives_trades_as_core_models(fake_bithumb: FakeBithumb) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    async with make_stream(fake_bithumb.ws_url, ("krw-btc", "KRW-ETH")) as stream:
        assert stream.markets == ("KRW-BTC", "KRW-ETH")
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        (subscription,) = fake_bithumb.ws_subscriptions
        assert subscription.types == {"trade": frozenset({"KRW-BTC", "KRW-ETH"})}
        assert subscription.format == "DEFAULT"

        fake_bithumb.push_trade("KRW-BTC", 50_001_000, "0.3", time_ms=T0, ask_bid="ASK")
        fake_bithumb.push_trade("KRW-ETH", 3_000_000, "1.5", time_ms=T0 + 1, ask_bid="BID")
        fake_bithumb.push_trade("KRW-XRP", 900, "10")  # not subscribed
        first, second = await next_trade(stream), await next_trade(stream)
        assert first == Trade("KRW-BTC", T0, 50_001_000, 0.3, Side.SELL, first.trade_id)
        assert second == Trade("KRW-ETH", T0 + 1, 3_000_000, 1.5, Side.BUY, second.trade_id)
        assert first.trade_id != second.trade_id
        assert stream.is_live
        assert stream.stats.trades == 2
    assert stream.closed
    assert not stream.is_live


async def test_reconnects_after_a_dropped_connection_and_resubscribes(
    fake_bithumb: FakeBithumb, logs: list[str]
) -> None:
    clock_ms = [T0]
    events: list[tuple[str, int, int | None]] = []
    stream = make_stream(
        fake_bithumb.ws_url,
        clock=lambda: clock_ms[0],
        on_connect=lambda live: events.append(("connect", live, None)),
        on_disconnect=lambda since: events.append(("disconnect", since, None)),
        on_reconnect=lambda start, end: events.append(("reconnect", start, end)),
    )
    async with stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        a = await next_trade(stream)
        clock_ms[0] = T0 + 5_000

        assert fake_bithumb.faults.drop_ws() == 1
        fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.2", time_ms=T0 + 1_000)
        # B arrives once: live if the new subscription came first, else as its snapshot.
        b = await next_trade(stream)
        fake_bithumb.push_trade("KRW-BTC", 50_200_000, "0.3", time_ms=T0 + 2_000)
        c = await next_trade(stream)

    assert [t.price for t in (a, b, c)] == [50_000_000, 50_100_000, 50_200_000]
    assert fake_bithumb.ws_connects == 2
    first, second = fake_bithumb.ws_subscriptions
    assert first.types == second.types == {"trade": frozenset({"KRW-BTC"})}
    assert first.ticket != second.ticket
    assert events == [
        ("connect", T0, None),
        ("disconnect", T0, None),
        ("reconnect", T0, T0 + 5_000),
    ]
    assert (stream.stats.connects, stream.stats.drops) == (2, 1)
    assert any("connection lost" in line and "reconnecting" in line for line in logs)


async def test_a_replayed_trade_after_reconnecting_is_dropped(fake_bithumb: FakeBithumb) -> None:
    async with make_stream(fake_bithumb.ws_url) as stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        await next_trade(stream)
        fake_bithumb.faults.drop_ws()
        # The new subscription's snapshot repeats the last trade, which was already yielded.
        replayed = await pump(stream, lambda: stream.stats.duplicates == 1)
        assert replayed == []
        fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.1", time_ms=T0 + 1)
        assert (await next_trade(stream)).price == 50_100_000
    assert stream.stats.trades == 2
    assert fake_bithumb.ws_connects == 2


async def test_a_silent_connection_is_replaced(fake_bithumb: FakeBithumb, logs: list[str]) -> None:
    disconnects: list[int] = []
    # No text PINGs within stale_after, so silence means staleness.
    stream = make_stream(
        fake_bithumb.ws_url, stale_after=0.2, ping_interval=30, on_disconnect=disconnects.append
    )
    async with stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        await next_trade(stream)
        assert await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) >= 2) == []
        fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.1", time_ms=T0 + 1)
        assert (await next_trade(stream)).price == 50_100_000
    assert fake_bithumb.ws_connects >= 2
    assert len(disconnects) >= 1
    assert any("no message for 0.2 s" in line for line in logs)


async def test_keep_alive_pings_keep_a_quiet_market_connected(fake_bithumb: FakeBithumb) -> None:
    # The server answers each text PING, so silence from the market is not staleness.
    async with make_stream(fake_bithumb.ws_url, stale_after=0.6, ping_interval=0.05) as stream:
        with anyio.move_on_after(1.2):
            await pump(stream, lambda: False)
        assert stream.stats.drops == 0
        assert stream.is_live  # the PING answers made it live without any trade
    assert fake_bithumb.ws_connects == 1


async def test_malformed_messages_are_skipped_with_a_log_line(
    fake_bithumb: FakeBithumb, logs: list[str]
) -> None:
    async with make_stream(fake_bithumb.ws_url) as stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        # Not JSON, missing fields, wrong types, an array, a binary frame that is not UTF-8.
        fake_bithumb.faults.malformed_ws_next(5)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        assert (await next_trade(stream)).price == 50_000_000
    skipped = [line for line in logs if "skipped a malformed message" in line]
    assert len(skipped) == 5
    assert any("not JSON" in line for line in skipped)
    assert any("not UTF-8" in line for line in skipped)
    assert any("missing 'trade_price'" in line for line in skipped)
    assert any("trade_price must be a number" in line for line in skipped)
    assert any("expected a JSON object" in line for line in skipped)
    assert stream.stats.malformed == 5
    assert fake_bithumb.ws_connects == 1  # never a reason to reconnect


async def test_binary_frames_are_decoded() -> None:
    with FakeBithumb(ws_binary_frames=True) as server:
        async with make_stream(server.ws_url) as stream:
            await pump(stream, lambda: len(server.ws_subscriptions) == 1)
            server.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
            assert (await next_trade(stream)).time_ms == T0


async def test_ticker_subscription_updates_prices_and_yields_only_trades(
    fake_bithumb: FakeBithumb,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 49_000_000)
    async with make_stream(fake_bithumb.ws_url, include_ticker=True) as stream:
        await pump(stream, lambda: stream.last_prices.get("KRW-BTC") == 49_000_000)
        (subscription,) = fake_bithumb.ws_subscriptions
        assert set(subscription.types) == {"trade", "ticker"}
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        assert (await next_trade(stream)).price == 50_000_000
        await pump(stream, lambda: stream.last_prices["KRW-BTC"] == 50_000_000)


async def test_aclose_ends_iteration(fake_bithumb: FakeBithumb) -> None:
    stream = make_stream(fake_bithumb.ws_url)
    await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
    await stream.aclose()
    await stream.aclose()
    with anyio.fail_after(5):
        assert [trade async for trade in stream] == []
    with pytest.raises(anyio.ClosedResourceError):
        await stream.receive(0.01)
    await until(lambda: fake_bithumb.ws_connection_count == 0)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="markets"):
        TradeStream("ws://127.0.0.1:1/websocket/v1", [])
    with pytest.raises(ValueError, match="stale_after"):
        TradeStream("ws://127.0.0.1:1/websocket/v1", ["KRW-BTC"], stale_after=0)
    with pytest.raises(ValueError, match="backoff_initial"):
        TradeStream("ws://127.0.0.1:1/websocket/v1", ["KRW-BTC"], backoff_initial=5, backoff_max=1)
    with pytest.raises(Exception, match="valid URI"):
        TradeStream("http://127.0.0.1:1/", ["KRW-BTC"])
    with pytest.raises(ValueError, match="max_ahead"):
        TradeStream("ws://127.0.0.1:1/websocket/v1", ["KRW-BTC"], max_ahead=-1)


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    yield messages
    logger.remove(handler)


HOUR = 3_600_000


async def test_a_trade_stamped_ahead_of_the_clock_is_skipped_with_one_warning(
    fake_bithumb: FakeBithumb, warnings: list[str]
) -> None:
    now = T0 + 60_000
    async with make_stream(fake_bithumb.ws_url, clock=lambda: now) as stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        # Two hours ahead (a bad exchange clock), then more of the same: one warning only.
        for i in range(4):
            fake_bithumb.push_trade("KRW-BTC", 60_000_000, "0.1", time_ms=now + 2 * HOUR + i)
        fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.1", time_ms=now + 5_000)  # tolerated
        fake_bithumb.push_trade("KRW-BTC", 50_200_000, "0.1", time_ms=now + 1_000)
        trades = await pump(stream, lambda: stream.stats.trades == 3)
    assert [(t.time_ms, t.price) for t in trades] == [
        (T0, 50_000_000),
        (now + 5_000, 50_100_000),
        (now + 1_000, 50_200_000),
    ]
    assert stream.stats.ahead == 4
    assert stream.stats.malformed == 0
    assert warnings == [
        f"bithumb ws: KRW-BTC: skipped a trade stamped {now + 2 * HOUR} "
        "(2024-01-01 02:01:00 UTC), 7200.0 s ahead of this machine's clock (more than 5 s is "
        "refused); if this repeats, check the clock"
    ]
    assert fake_bithumb.ws_connects == 1  # never a reason to reconnect


async def test_trades_skipped_quietly_are_summed_up_once_an_interval_has_passed(
    fake_bithumb: FakeBithumb, warnings: list[str]
) -> None:
    now = T0
    stream = make_stream(
        fake_bithumb.ws_url, ("KRW-ETH",), clock=lambda: now, ahead_warning_interval=0.2
    )
    async with stream:
        await pump(stream, lambda: len(fake_bithumb.ws_subscriptions) == 1)
        for i in range(3):
            fake_bithumb.push_trade("KRW-ETH", 3_000_000, "1", time_ms=T0 + HOUR + i)
        await pump(stream, lambda: stream.stats.ahead == 3)
        with anyio.move_on_after(0.3):  # the interval passes
            await pump(stream, lambda: False)
        fake_bithumb.push_trade("KRW-ETH", 3_000_000, "1", time_ms=T0)
        await pump(stream, lambda: stream.stats.trades == 1)
    assert len(warnings) == 2
    assert warnings[0].startswith("bithumb ws: KRW-ETH: skipped a trade stamped")
    # The two skipped without a warning are reported with the next good trade.
    assert warnings[1] == (
        "bithumb ws: KRW-ETH: 2 more trades stamped ahead of this machine's clock were skipped"
    )


# ---- against a scripted server -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def scripted_server(frames: list[str | bytes], refuse_first: int = 0) -> AsyncIterator[str]:
    """A WebSocket server that answers the subscription with ``frames``; it refuses the first
    ``refuse_first`` handshakes with HTTP 429 (as Bithumb does to connection storms)."""
    refused = [0]

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()
        for frame in frames:
            await connection.send(frame)
        await connection.wait_closed()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if refused[0] < refuse_first:
            refused[0] += 1
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many connections\n")
        return None

    async with serve(
        handler, "127.0.0.1", 0, process_request=process_request, ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/websocket/v1"


def trade_message(sequential_id: str | int, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "trade",
        "code": "KRW-BTC",
        "trade_price": 50_000_000,
        "trade_volume": 0.5,
        "ask_bid": "BID",
        "trade_timestamp": T0,
        "sequential_id": sequential_id,
        "stream_type": "REALTIME",
    }
    return message | fields


async def test_numbers_as_strings_or_numbers_and_every_kind_of_bad_message(
    logs: list[str],
) -> None:
    good = [
        trade_message("1"),
        trade_message(
            2, trade_price="50001000.5", trade_volume="0.25", trade_timestamp=str(T0 + 1)
        ),
        trade_message("3", trade_timestamp=(T0 + 2) * 1000 + 999),  # microseconds
        trade_message("4", ask_bid=None),
    ]
    bad: list[str | bytes] = [
        json.dumps(trade_message("b1", trade_price="NaN")),
        json.dumps(trade_message("b2", trade_price=float("nan"))),  # the bare NaN token
        json.dumps(trade_message("b3", trade_volume=float("inf"))),
        json.dumps(trade_message("b4", trade_volume=-1)),
        json.dumps(trade_message("b5", trade_price=0)),
        json.dumps(trade_message("b6", trade_price=True)),
        json.dumps(trade_message("b7", trade_price="1,000")),
        json.dumps(trade_message("b8", trade_timestamp=None)),
        json.dumps(trade_message("b9", trade_timestamp=T0 + 0.5)),
        json.dumps(trade_message(None)),
        json.dumps(trade_message("b11", code=None)),
        json.dumps({"code": "KRW-BTC"}),
        "{broken",
        "[1, 2]",
        b"\xff\xfe binary garbage",
    ]
    ignored = [
        '{"status":"UP"}',
        json.dumps({"error": {"name": "INVALID_PARAM", "message": "nope"}}),
        json.dumps({"type": "orderbook", "code": "KRW-BTC"}),
        json.dumps(trade_message("1")),  # a repeat of a trade already yielded
    ]
    frames: list[str | bytes] = [json.dumps(good[0]), json.dumps(good[1]), *bad, *ignored]
    frames += [json.dumps(good[2]).encode(), json.dumps(good[3])]  # a valid binary frame too
    async with scripted_server(frames) as url, make_stream(url) as stream:
        trades = [await next_trade(stream) for _ in good]
    assert [t.trade_id for t in trades] == ["1", "2", "3", "4"]
    assert trades[1] == Trade("KRW-BTC", T0 + 1, 50_001_000.5, 0.25, Side.BUY, "2")
    assert trades[2].time_ms == T0 + 2
    assert trades[3].side is None
    assert (stream.stats.malformed, stream.stats.duplicates) == (len(bad), 1)
    assert sum("skipped a malformed message" in line for line in logs) == len(bad)
    assert any("server error" in line and "INVALID_PARAM" in line for line in logs)


async def test_refused_handshakes_are_retried_with_backoff(logs: list[str]) -> None:
    frames: list[str | bytes] = [json.dumps(trade_message("1"))]
    async with scripted_server(frames, refuse_first=3) as url, make_stream(url) as stream:
        assert (await next_trade(stream)).trade_id == "1"
    assert (stream.stats.drops, stream.stats.connects) == (3, 1)
    assert sum("cannot connect" in line for line in logs) == 3


async def test_an_unreachable_server_never_raises(logs: list[str]) -> None:
    with anyio.fail_after(5):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()  # nothing listens there any more
    async with make_stream(f"ws://127.0.0.1:{port}/websocket/v1") as stream:
        assert await pump(stream, lambda: stream.stats.drops >= 3) == []
        assert not stream.is_live
    assert any("cannot connect" in line for line in logs)
    # Which host, why, and which setting to check.
    assert any(
        f"cannot connect to 127.0.0.1:{port} (ConnectionRefusedError: connection refused, so "
        "nothing listens on that port): check the network connection and exchange.ws_url" in line
        for line in logs
    )


async def test_time_away_from_the_stream_does_not_count_as_silence(
    fake_bithumb: FakeBithumb,
) -> None:
    async with make_stream(fake_bithumb.ws_url, stale_after=0.2, ping_interval=0.05) as stream:
        await pump(stream, lambda: stream.is_live)
        await anyio.sleep(0.5)  # the consumer is busy elsewhere; the market is quiet
        with anyio.move_on_after(0.3):
            await pump(stream, lambda: False)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1", time_ms=T0)
        assert (await next_trade(stream)).price == 50_000_000
    assert stream.stats.drops == 0
    assert fake_bithumb.ws_connects == 1
