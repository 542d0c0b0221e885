"""BithumbClient against the fake Bithumb server on 127.0.0.1, with injected faults."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from tradekit_bithumb.client import Backoff, BithumbClient
from tradekit_bithumb.testing import FakeBithumb

from tradekit.errors import (
    AuthenticationError,
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
    TemporaryExchangeError,
)
from tradekit.models import OrderStatus, Side, Timeframe

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class Sleeps:
    """Records retry delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(server: FakeBithumb, sleeps: Sleeps, **options: Any) -> BithumbClient:
    settings: dict[str, Any] = {
        "api_key": server.api_key,
        "api_secret": server.api_secret,
        "timeout": 2.0,
        "backoff": Backoff(0.01, 0.05),
        "sleep": sleeps,
    }
    settings.update(options)
    return BithumbClient(server.base_url, **settings)


def token_claims(headers: Mapping[str, str]) -> dict[str, Any]:
    payload = headers["authorization"].split(" ")[1].split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(fake_bithumb: FakeBithumb, sleeps: Sleeps) -> AsyncIterator[BithumbClient]:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    async with make_client(fake_bithumb, sleeps) as c:
        yield c


@pytest.fixture
async def impatient(fake_bithumb: FakeBithumb, sleeps: Sleeps) -> AsyncIterator[BithumbClient]:
    """A client that gives up on an answer after 0.3 s (for timeout-after-accept faults)."""
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    async with make_client(fake_bithumb, sleeps, timeout=0.3) as c:
        yield c


async def buy_limit(client: BithumbClient, client_order_id: str | None = "sig-1") -> Any:
    return await client.place_order(
        "KRW-BTC",
        "bid",
        "limit",
        price=Decimal(40_000_000),
        volume=Decimal("0.01"),
        client_order_id=client_order_id,
    )


# ---- plain round trips -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_public_market_data(fake_bithumb: FakeBithumb, client: BithumbClient) -> None:
    fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.5", time_ms=T0, ask_bid="ASK")
    markets = await client.markets()
    assert [m.market for m in markets] == ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    (ticker,) = await client.tickers(["KRW-BTC"])
    assert ticker.price == Decimal(50_100_000)
    (book,) = await client.orderbooks(["KRW-BTC"])
    assert len(book.asks) == 30
    assert book.asks[0][0] > book.bids[0][0]
    (trade,) = await client.recent_trades("KRW-BTC", count=5)
    assert (trade.time_ms, trade.price, trade.side) == (T0, 50_100_000, Side.SELL)


@pytest.mark.anyio
async def test_order_life_cycle(fake_bithumb: FakeBithumb, client: BithumbClient) -> None:
    placed = await buy_limit(client)
    assert placed.status is OrderStatus.OPEN
    fetched = await client.get_order(uuid=placed.exchange_order_id)
    assert fetched is not None
    assert (fetched.status, fetched.client_order_id, fetched.price) == (
        OrderStatus.OPEN,
        "sig-1",
        40_000_000,
    )
    listed = await client.list_orders("KRW-BTC", states=["wait"])
    assert [o.exchange_order_id for o in listed] == [placed.exchange_order_id]
    assert await client.cancel_order(uuid=placed.exchange_order_id) == placed.exchange_order_id
    cancelled = await client.get_order(client_order_id="sig-1")
    assert cancelled is not None
    assert cancelled.status is OrderStatus.CANCELLED
    with pytest.raises(ExchangeError) as info:
        await client.cancel_order(uuid=placed.exchange_order_id)
    assert info.value.code == "order_not_found"
    assert fake_bithumb.balance("KRW").locked == 0


@pytest.mark.anyio
async def test_exchange_rejections(fake_bithumb: FakeBithumb, client: BithumbClient) -> None:
    with pytest.raises(OrderRejected) as off_tick:
        await client.place_order(
            "KRW-BTC",
            "bid",
            "limit",
            price=Decimal(40_000_500),
            volume=Decimal("0.01"),
            client_order_id="a",
        )
    assert off_tick.value.code == "invalid_price_bid"
    with pytest.raises(OrderRejected) as poor:
        await client.place_order(
            "KRW-BTC",
            "bid",
            "limit",
            price=Decimal(40_000_000),
            volume=Decimal(1),
            client_order_id="b",
        )
    assert poor.value.code == "insufficient_funds_bid"
    with pytest.raises(OrderRejected) as tiny:
        await client.place_order(
            "KRW-BTC", "bid", "price", price=Decimal(1000), client_order_id="c"
        )
    assert tiny.value.code == "under_min_total_bid"
    assert fake_bithumb.orders == []
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 3  # none retried


@pytest.mark.anyio
async def test_chance_and_accounts(fake_bithumb: FakeBithumb, client: BithumbClient) -> None:
    fake_bithumb.set_balance("BTC", "0.5", avg_buy_price=45_000_000)
    chance = await client.order_chance("KRW-BTC")
    assert (chance.bid_fee, chance.bid_min_total) == (Decimal("0.0025"), Decimal(5000))
    balances = await client.accounts()
    assert balances["KRW"].free == Decimal(10_000_000)
    assert balances["BTC"].free == Decimal("0.5")
    assert balances["BTC"].average_buy_price == Decimal(45_000_000)


# ---- candles ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_candle_pagination_across_more_than_200(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    rows = [(T0 + i * HOUR_MS, 100 + i, 110 + i, 90 + i, 105 + i, 1 + i) for i in range(450)]
    fake_bithumb.load_candles("KRW-BTC", 60, rows)
    bars = await client.candles_between("KRW-BTC", Timeframe("1h"), T0)
    assert [b.time_ms for b in bars] == [T0 + i * HOUR_MS for i in range(450)]
    assert (bars[0].open, bars[-1].close, bars[-1].volume) == (100, 554, 450)
    pages = fake_bithumb.requests_to("GET", "/v1/candles/minutes/60")
    assert [r.params.get("to") for r in pages] == [
        None,
        "2024-01-11T19:00:00",  # KST, naive: the oldest candle of page 1 (T0 + 250 h)
        "2024-01-03T11:00:00",  # the oldest of page 2 (T0 + 50 h)
    ]
    assert all(r.params["count"] == "200" for r in pages)


@pytest.mark.anyio
async def test_candle_range_is_half_open_and_stops_early(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    rows = [(T0 + i * HOUR_MS, 100, 110, 90, 105, 1) for i in range(450)]
    fake_bithumb.load_candles("KRW-BTC", 60, rows)
    bars = await client.candles_between(
        "KRW-BTC", Timeframe("1h"), T0 + 100 * HOUR_MS, T0 + 350 * HOUR_MS
    )
    assert bars[0].time_ms == T0 + 100 * HOUR_MS
    assert bars[-1].time_ms == T0 + 349 * HOUR_MS
    assert len(bars) == 250
    assert len(fake_bithumb.requests_to("GET", "/v1/candles/minutes/60")) == 2


@pytest.mark.anyio
async def test_day_candles_open_at_kst_midnight(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    day0 = T0 - 9 * HOUR_MS  # 2024-01-01 00:00 KST
    fake_bithumb.load_candles(
        "KRW-BTC", "days", [(day0 + d * 24 * HOUR_MS, 100, 120, 90, 110, 1) for d in range(3)]
    )
    bars = await client.candles_between("KRW-BTC", Timeframe("1d"), day0)
    assert [b.time_ms for b in bars] == [day0, day0 + 24 * HOUR_MS, day0 + 48 * HOUR_MS]


# ---- faults ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_5xx_then_success(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    fake_bithumb.faults.fail_next("/v1/accounts", status=503, times=2)
    balances = await client.accounts()
    assert balances["KRW"].free == Decimal(10_000_000)
    assert [r.fault for r in fake_bithumb.requests_to("GET", "/v1/accounts")] == [
        "fail",
        "fail",
        None,
    ]
    assert len(sleeps.delays) == 2


@pytest.mark.anyio
async def test_429_backs_off_per_retry_after(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    fake_bithumb.faults.rate_limit_next(2, "/v1/market/all", retry_after=1.5)
    assert len(await client.markets()) == 3
    assert fake_bithumb.faults.count("rate_limit") == 2
    assert sleeps.delays == [1.5, 1.5]  # the server's hint beats the tiny backoff


@pytest.mark.anyio
async def test_429_without_hint_uses_exponential_backoff(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    fake_bithumb.faults.rate_limit_next(3, "/v1/market/all")
    async with make_client(fake_bithumb, sleeps, rng=lambda: 0.5) as client:
        assert len(await client.markets()) == 3
    # 0.01 s doubling; equal jitter at rng=0.5 keeps 3/4 of each step.
    assert sleeps.delays == pytest.approx([0.0075, 0.015, 0.03])


@pytest.mark.anyio
async def test_wrong_secret_is_an_authentication_error_without_retries(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    secret = "a-wrong-secret-that-is-long-enough-for-hs256"
    async with make_client(fake_bithumb, sleeps, api_secret=secret) as wrong:
        with pytest.raises(AuthenticationError) as info:
            await wrong.accounts()
    assert info.value.code == "jwt_verification"
    assert secret not in str(info.value)
    assert len(fake_bithumb.requests_to("GET", "/v1/accounts")) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_unknown_access_key_is_an_authentication_error(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    async with make_client(fake_bithumb, sleeps, api_key="someone-else") as wrong:
        with pytest.raises(AuthenticationError):
            await wrong.order_chance("KRW-BTC")


@pytest.mark.anyio
async def test_order_not_ready_is_retried(fake_bithumb: FakeBithumb, client: BithumbClient) -> None:
    placed = await buy_limit(client)
    fake_bithumb.faults.order_not_ready_next(2)
    found = await client.get_order(uuid=placed.exchange_order_id)
    assert found is not None
    assert fake_bithumb.faults.count("order_not_ready") == 2


# ---- placing an order: one attempt, classified ----------------------------------------------
#
# The connector never retries an order nor looks it up (the OrderExecutor owns both): each
# outcome is one POST, no look-up, no backoff sleep, and an exception that says what the POST
# proves about the order.


def posts(server: FakeBithumb, path: str = "/v2/orders") -> list[Any]:
    return server.requests_to("POST", path)


def assert_one_attempt(server: FakeBithumb, sleeps: Sleeps, path: str = "/v2/orders") -> None:
    assert len(posts(server, path)) == 1
    assert server.requests_to("GET", "/v1/order") == []  # no look-up
    assert server.requests_to("GET", "/v1/orders") == []
    assert sleeps.delays == []  # no backoff: nothing was retried


@pytest.mark.anyio
async def test_placed_order_is_sent_once_and_returned(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    placed = await buy_limit(client, "sig-ok")
    (created,) = fake_bithumb.orders
    assert placed.exchange_order_id == created.order_id
    assert (placed.status, placed.client_order_id) == (OrderStatus.OPEN, "sig-ok")
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
async def test_refused_order_is_order_rejected(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    with pytest.raises(OrderRejected) as info:
        await client.place_order(
            "KRW-BTC",
            "bid",
            "limit",
            price=Decimal(40_000_000),
            volume=Decimal(1),  # 40,000,000 KRW > the 10,000,000 KRW balance
            client_order_id="sig-poor",
        )
    assert info.value.code == "insufficient_funds_bid"
    assert fake_bithumb.orders == []
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
async def test_429_is_order_not_sent_with_the_servers_hint(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    fake_bithumb.faults.rate_limit_next(1, "POST /v2/orders", retry_after=1.5)
    with pytest.raises(OrderNotSent) as info:
        await buy_limit(client, "sig-429")
    assert isinstance(info.value, TemporaryExchangeError)  # safe to send again
    assert not isinstance(info.value, RateLimited)
    assert (info.value.code, info.value.retry_after) == ("too_many_requests", 1.5)
    assert fake_bithumb.orders == []
    assert [r.status for r in posts(fake_bithumb)] == [429]
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
async def test_refused_connection_is_order_not_sent(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with BithumbClient(
        f"http://127.0.0.1:{port}",
        api_key=fake_bithumb.api_key,
        api_secret=fake_bithumb.api_secret,
        sleep=sleeps,
    ) as nowhere:
        with pytest.raises(OrderNotSent) as info:
            await buy_limit(nowhere, "sig-refused")
    assert info.value.code == "connect_error"
    assert info.value.retry_after is None
    assert sleeps.delays == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_order_state_unknown(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps, status: int
) -> None:
    fake_bithumb.faults.fail_next("POST /v2/orders", status=status)
    with pytest.raises(OrderStateUnknown) as info:
        await buy_limit(client, "sig-5xx")
    assert info.value.code == "order_state_unknown"
    assert not isinstance(info.value, TemporaryExchangeError)  # never re-sent blindly
    assert f"HTTP {status}" in str(info.value)
    assert [(p.status, p.fault) for p in posts(fake_bithumb)] == [(status, "fail")]
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
@pytest.mark.parametrize("drop", [False, True], ids=["timeout", "dropped-connection"])
async def test_lost_answer_is_order_state_unknown_and_the_order_exists_once(
    fake_bithumb: FakeBithumb, impatient: BithumbClient, sleeps: Sleeps, drop: bool
) -> None:
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", delay=10, drop=drop)
    with pytest.raises(OrderStateUnknown) as info:
        await buy_limit(impatient, "sig-lost")
    assert info.value.code == "order_state_unknown"
    # Bithumb did create it: only a look-up (the caller's) can tell.
    assert len(fake_bithumb.orders_for_client_order_id("sig-lost")) == 1
    assert fake_bithumb.balance("KRW").locked == Decimal(401_000)  # locked once
    assert_one_attempt(fake_bithumb, sleeps)
    found = await impatient.get_order(client_order_id="sig-lost")
    assert found is not None
    assert found.exchange_order_id == fake_bithumb.orders[0].order_id


@pytest.mark.anyio
async def test_unreadable_success_answer_is_order_state_unknown(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    # A 200 whose body is not an order (no order_id): garbled, so the order may exist.
    fake_bithumb.faults.fail_next("POST /v2/orders", status=200, name="garbled")
    with pytest.raises(OrderStateUnknown) as info:
        await buy_limit(client, "sig-garbled")
    assert "malformed response" in str(info.value)
    assert isinstance(info.value.__cause__, ExchangeError)
    assert info.value.__cause__.code == "malformed_response"
    assert [p.status for p in posts(fake_bithumb)] == [200]
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
async def test_refused_key_is_an_authentication_error(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    secret = "a-wrong-secret-that-is-long-enough-for-hs256"
    async with make_client(fake_bithumb, sleeps, api_secret=secret) as wrong:
        with pytest.raises(AuthenticationError):
            await buy_limit(wrong, "sig-auth")
    assert fake_bithumb.orders == []
    assert_one_attempt(fake_bithumb, sleeps)


@pytest.mark.anyio
async def test_taken_client_order_id_is_order_state_unknown(sleeps: Sleeps) -> None:
    # A Bithumb that refuses a re-sent id (instead of answering with the existing order):
    # the order exists, so it is neither rejected nor returned here; the caller looks it up.
    with FakeBithumb(duplicate_client_order_id="reject") as server:
        server.set_price("KRW-BTC", 50_000_000)
        async with make_client(server, sleeps) as client:
            first = await buy_limit(client, "dup")
            with pytest.raises(OrderStateUnknown) as info:
                await buy_limit(client, "dup")
        assert "duplicate_client_order_id" in str(info.value)
        assert server.duplicate_client_order_ids == ["dup"]
        assert [o.order_id for o in server.orders] == [first.exchange_order_id]
        assert len(posts(server)) == 2  # one per call
        assert server.requests_to("GET", "/v1/order") == []
        assert sleeps.delays == []


@pytest.mark.anyio
async def test_caller_resends_after_not_sent_with_the_same_id_and_one_order_results(
    fake_bithumb: FakeBithumb, client: BithumbClient, sleeps: Sleeps
) -> None:
    # What the OrderExecutor does after OrderNotSent: send the very same order again.
    fake_bithumb.faults.rate_limit_next(1, "POST /v2/orders")
    with pytest.raises(OrderNotSent):
        await buy_limit(client, "sig-again")
    placed = await buy_limit(client, "sig-again")
    (created,) = fake_bithumb.orders
    assert placed.exchange_order_id == created.order_id
    sent = posts(fake_bithumb)
    assert [p.status for p in sent] == [429, 201]
    # The refused POST is not parsed by the fake; its signed query hash shows that both
    # attempts sent the very same order, client_order_id included.
    body = "market=KRW-BTC&side=bid&order_type=limit&price=40000000&volume=0.01"
    expected = hashlib.sha512(f"{body}&client_order_id=sig-again".encode()).hexdigest()
    assert [token_claims(p.headers)["query_hash"] for p in sent] == [expected, expected]
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_resent_id_is_answered_with_the_existing_order(
    fake_bithumb: FakeBithumb, client: BithumbClient
) -> None:
    # Bithumb's documented idempotency (the fake's default): no second order is created.
    first = await buy_limit(client, "sig-same")
    again = await buy_limit(client, "sig-same")
    assert again.exchange_order_id == first.exchange_order_id
    assert len(fake_bithumb.orders) == 1
    assert len(posts(fake_bithumb)) == 2


@pytest.mark.anyio
async def test_v1_lost_answer_is_order_state_unknown(
    fake_bithumb: FakeBithumb, sleeps: Sleeps
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v1/orders", delay=10)
    async with make_client(fake_bithumb, sleeps, timeout=0.3, order_endpoint="v1") as v1:
        with pytest.raises(OrderStateUnknown) as info:
            await buy_limit(v1, None)
    assert info.value.code == "order_state_unknown"
    assert len(fake_bithumb.orders) == 1
    assert_one_attempt(fake_bithumb, sleeps, "/v1/orders")


@pytest.mark.anyio
async def test_v1_429_is_order_not_sent(fake_bithumb: FakeBithumb, sleeps: Sleeps) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.rate_limit_next(1, "POST /v1/orders")
    async with make_client(fake_bithumb, sleeps, order_endpoint="v1") as v1:
        with pytest.raises(OrderNotSent):
            await buy_limit(v1, None)
        placed = await buy_limit(v1, None)  # the caller's decision to send it again
    assert placed.status is OrderStatus.OPEN  # v1 answers with the full order
    assert len(fake_bithumb.orders) == 1
    assert [r.status for r in posts(fake_bithumb, "/v1/orders")] == [429, 201]
    assert sleeps.delays == []
