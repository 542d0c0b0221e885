"""BithumbClient request building and answer handling, with pytest-httpx (no sockets)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pytest_httpx import HTTPXMock
from tradekit_bithumb.client import Backoff, BithumbClient, candle_path

from tradekit.errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
    TemporaryExchangeError,
)
from tradekit.models import OrderStatus, OrderType, Side, Timeframe

BASE = "https://api.test"
KEY = "access-key-1"
SECRET = "secret-key-that-is-long-enough-0123456789"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class Sleeps:
    """Records retry delays instead of waiting (tests never wait for real)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[BithumbClient]:
    async with BithumbClient(
        BASE,
        api_key=KEY,
        api_secret=SECRET,
        backoff=Backoff(0.1, 1.0),
        sleep=sleeps,
        rng=lambda: 0.5,
        rate_limits={"public": 1e6, "private": 1e6, "order": 1e6},
    ) as c:
        yield c


def claims(request: httpx.Request) -> dict[str, Any]:
    """The verified JWT claims of a request (checks the HS256 signature with SECRET)."""
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    header, payload, signature = token.split(".")
    expected = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def raw_query(request: httpx.Request) -> str:
    return request.url.query.decode()


# ---- request building ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_public_request_is_unsigned(client: BithumbClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        json=[
            {
                "market": "KRW-BTC",
                "korean_name": "비트코인",
                "english_name": "Bitcoin",
                "market_warning": "NONE",
            }
        ]
    )
    (market,) = await client.markets()
    assert (market.market, market.warning) == ("KRW-BTC", "NONE")
    request = httpx_mock.get_request()
    assert request is not None
    assert str(request.url) == f"{BASE}/v1/market/all?isDetails=true"
    assert "Authorization" not in request.headers
    assert request.headers["Accept"] == "application/json"


@pytest.mark.anyio
async def test_private_get_hashes_exactly_the_query_it_sends(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"bid_fee": "0.0025", "ask_fee": "0.0025"})
    chance = await client.order_chance("KRW-BTC")
    assert chance.bid_fee == Decimal("0.0025")
    request = httpx_mock.get_request()
    assert request is not None
    assert raw_query(request) == "market=KRW-BTC"
    got = claims(request)
    assert got["access_key"] == KEY
    assert got["query_hash"] == hashlib.sha512(b"market=KRW-BTC").hexdigest()
    assert got["query_hash_alg"] == "SHA512"


@pytest.mark.anyio
async def test_private_call_without_params_has_no_query_hash(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=[{"currency": "KRW", "balance": "10", "locked": "0"}])
    balances = await client.accounts()
    assert balances["KRW"].free == Decimal(10)
    request = httpx_mock.get_request()
    assert request is not None
    assert set(claims(request)) == {"access_key", "nonce", "timestamp"}


@pytest.mark.anyio
async def test_list_orders_sends_array_params_with_brackets(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=[])
    await client.list_orders("KRW-BTC", uuids=["a", "b"], states=["wait", "done"], limit=50)
    request = httpx_mock.get_request()
    assert request is not None
    query = raw_query(request)
    assert query == (
        "market=KRW-BTC&uuids[]=a&uuids[]=b&states[]=wait&states[]=done"
        "&page=1&limit=50&order_by=desc"
    )
    assert claims(request)["query_hash"] == hashlib.sha512(query.encode()).hexdigest()


@pytest.mark.anyio
async def test_place_order_posts_decimal_strings_as_json(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=201,
        json={
            "order_id": "C0101000000000000007",
            "market": "KRW-BTC",
            "side": "bid",
            "order_type": "limit",
            "created_at": "2024-01-01T09:00:00+09:00",
            "stp_type": "cancel_taker",
        },
    )
    order = await client.place_order(
        "KRW-BTC",
        "bid",
        "limit",
        price=Decimal("5E+7"),
        volume=Decimal("0.00001000"),
        client_order_id="sig-1",
    )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.method == "POST"
    assert request.url.path == "/v2/orders"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.content == (
        b'{"market":"KRW-BTC","side":"bid","order_type":"limit","price":"50000000",'
        b'"volume":"0.00001","client_order_id":"sig-1"}'
    )
    hashed = (
        "market=KRW-BTC&side=bid&order_type=limit&price=50000000&volume=0.00001"
        "&client_order_id=sig-1"
    )
    assert claims(request)["query_hash"] == hashlib.sha512(hashed.encode()).hexdigest()
    assert order.exchange_order_id == "C0101000000000000007"
    assert (order.status, order.side, order.type) == (OrderStatus.OPEN, Side.BUY, OrderType.LIMIT)
    assert (order.price, order.volume, order.client_order_id) == (50_000_000, 0.00001, "sig-1")
    assert order.created_ms == T0


@pytest.mark.anyio
async def test_the_query_encoder_is_swappable_for_urls_and_hashes_alike(
    sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    def plus_style(params: Mapping[str, Any]) -> str:
        # The official Python sample's style (space -> '+'), one of the candidates in
        # docs/bithumb.md#known-pitfalls.
        return urlencode({k: v for k, v in params.items() if v is not None})

    httpx_mock.add_response(method="GET", json=[])
    httpx_mock.add_response(
        method="POST",
        status_code=201,
        json={"order_id": "C1", "created_at": "2024-01-01T09:00:00+09:00"},
    )
    async with BithumbClient(
        BASE, api_key=KEY, api_secret=SECRET, query_encoder=plus_style, sleep=sleeps
    ) as custom:
        await custom.list_orders("KRW-BTC", states=["wait"])
        await custom.place_order(
            "KRW-BTC", "bid", "price", price=Decimal(10_000), client_order_id="a b"
        )
    get, post = httpx_mock.get_requests()
    assert raw_query(get) == "market=KRW-BTC&state=wait&page=1&limit=100&order_by=desc"
    hashed = "market=KRW-BTC&side=bid&order_type=price&price=10000&client_order_id=a+b"
    assert claims(post)["query_hash"] == hashlib.sha512(hashed.encode()).hexdigest()
    assert json.loads(post.content)["client_order_id"] == "a b"


@pytest.mark.anyio
async def test_v1_order_endpoint_uses_ord_type_and_returns_the_full_order(
    sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=201,
        json={
            "uuid": "C1",
            "side": "ask",
            "ord_type": "market",
            "price": None,
            "state": "done",
            "market": "KRW-BTC",
            "created_at": "2024-01-01T09:00:00+09:00",
            "volume": "0.5",
            "executed_volume": "0.5",
            "executed_funds": "25000000",
            "paid_fee": "62500",
        },
    )
    async with BithumbClient(
        BASE, api_key=KEY, api_secret=SECRET, order_endpoint="v1", sleep=sleeps
    ) as v1:
        order = await v1.place_order(
            "KRW-BTC", "ask", "market", volume=Decimal("0.5"), client_order_id="ignored-by-v1"
        )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1/orders"
    assert json.loads(request.content) == {
        "market": "KRW-BTC",
        "side": "ask",
        "ord_type": "market",
        "volume": "0.5",
    }
    assert (order.status, order.average_price, order.fee) == (OrderStatus.FILLED, 50_000_000, 62500)


@pytest.mark.anyio
async def test_candle_requests_send_naive_kst_to_and_count(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=[])
    await client.candles("KRW-BTC", Timeframe("1h"), to_ms=T0 + 1)  # rounded up to a second
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1/candles/minutes/60"
    assert raw_query(request) == "market=KRW-BTC&to=2024-01-01T09%3A00%3A01&count=200"


def test_candle_paths() -> None:
    assert candle_path(Timeframe("1m")) == "/v1/candles/minutes/1"
    assert candle_path(Timeframe("4h")) == "/v1/candles/minutes/240"
    assert candle_path(Timeframe("240m")) == "/v1/candles/minutes/240"
    assert candle_path(Timeframe("1d")) == "/v1/candles/days"
    assert candle_path(Timeframe("1w")) == "/v1/candles/weeks"
    with pytest.raises(ConfigError, match="timeframe 2h"):
        candle_path(Timeframe("2h"))


@pytest.mark.anyio
async def test_tickers_are_asked_200_markets_at_a_time(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    markets = [f"KRW-C{i}" for i in range(250)]
    httpx_mock.add_response(
        json=[{"market": "KRW-C0", "trade_price": 1, "timestamp": T0}], is_reusable=True
    )
    tickers = await client.tickers(markets)
    requests = httpx_mock.get_requests()
    assert [len(r.url.params["markets"].split(",")) for r in requests] == [200, 50]
    assert len(tickers) == 2


@pytest.mark.anyio
async def test_cancel_endpoints(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"order_id": "C1", "created_at": "2024-01-01T09:00:00+09:00"})
    assert await client.cancel_order(uuid="C1") == "C1"
    httpx_mock.add_response(json={"uuid": "C2", "state": "cancel"})
    async with BithumbClient(
        BASE, api_key=KEY, api_secret=SECRET, order_endpoint="v1", sleep=sleeps
    ) as v1:
        assert await v1.cancel_order(uuid="C2") == "C2"
    first, second = httpx_mock.get_requests()
    assert (first.method, first.url.path, raw_query(first)) == (
        "DELETE",
        "/v2/order",
        "order_id=C1",
    )
    assert (second.method, second.url.path, raw_query(second)) == ("DELETE", "/v1/order", "uuid=C2")


# ---- answers ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_malformed_json_is_an_error_and_not_retried(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(content=b'[{"market": "KRW-BTC", ')
    with pytest.raises(
        ExchangeError, match="malformed response: HTTP 200 body is not JSON"
    ) as info:
        await client.markets()
    assert info.value.code == "malformed_response"
    assert not isinstance(info.value, TemporaryExchangeError)
    assert len(httpx_mock.get_requests()) == 1


# ---- placing an order: one attempt, classified (never retried, never looked up) ---------------


async def buy(client: BithumbClient) -> Any:
    return await client.place_order(
        "KRW-BTC", "bid", "price", price=Decimal(10_000), client_order_id="sig-9"
    )


@pytest.mark.anyio
async def test_unreadable_order_answer_is_state_unknown_not_looked_up(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="POST", status_code=201, content=b"<html>oops")
    with pytest.raises(OrderStateUnknown) as info:
        await buy(client)
    assert info.value.code == "order_state_unknown"
    assert "body is not JSON" in str(info.value)
    assert [r.method for r in httpx_mock.get_requests()] == ["POST"]  # no look-up, no re-send
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_unreadable_v1_order_answer_is_state_unknown(
    sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="POST", status_code=201, json={"no": "id"})
    async with BithumbClient(
        BASE, api_key=KEY, api_secret=SECRET, order_endpoint="v1", sleep=sleeps
    ) as v1:
        with pytest.raises(OrderStateUnknown) as info:
            await v1.place_order("KRW-BTC", "bid", "price", price=Decimal(10_000))
    assert info.value.code == "order_state_unknown"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ConnectTimeout("no answer to SYN"), "connect_error"),
        (httpx.PoolTimeout("no free connection"), "pool_timeout"),
    ],
    ids=["connect-error", "connect-timeout", "pool-timeout"],
)
async def test_order_that_never_left_is_not_sent(
    client: BithumbClient,
    sleeps: Sleeps,
    httpx_mock: HTTPXMock,
    failure: httpx.HTTPError,
    code: str,
) -> None:
    httpx_mock.add_exception(failure, method="POST")
    with pytest.raises(OrderNotSent) as info:
        await buy(client)
    assert info.value.code == code
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("no answer"),
        httpx.WriteTimeout("stuck while writing"),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.DecodingError("bad gzip"),
    ],
    ids=lambda exc: type(exc).__name__,
)
async def test_order_that_may_have_left_is_state_unknown(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock, failure: httpx.HTTPError
) -> None:
    httpx_mock.add_exception(failure, method="POST")
    with pytest.raises(OrderStateUnknown) as info:
        await buy(client)
    assert info.value.code == "order_state_unknown"
    assert type(failure).__name__ in str(info.value)
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (500, "server_error", OrderStateUnknown),
        (502, None, OrderStateUnknown),
        (504, None, OrderStateUnknown),
        (429, "too_many_requests", OrderNotSent),
        (400, "invalid_volume_bid", OrderRejected),
        (400, "invalid_parameter", OrderRejected),
        (401, "jwt_verification", AuthenticationError),
    ],
)
async def test_order_answers_are_classified_after_one_post(
    client: BithumbClient,
    sleeps: Sleeps,
    httpx_mock: HTTPXMock,
    status: int,
    name: str | None,
    kind: type[Exception],
) -> None:
    body = {"error": {"name": name, "message": "x"}} if name else None
    httpx_mock.add_response(method="POST", status_code=status, json=body)
    with pytest.raises(kind):
        await buy(client)
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_order_429_keeps_retry_after_and_is_never_waited_out(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        method="POST",
        status_code=429,
        headers={"Retry-After": "600"},  # beyond max_retry_after: still only reported
        json={"error": {"name": "too_many_requests", "message": "Too many API requests."}},
    )
    with pytest.raises(OrderNotSent) as info:
        await buy(client)
    assert info.value.retry_after == 600
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_missing_order_endpoint_is_not_a_rejection(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    # A wrong endpoint (e.g. v2 unavailable behind a proxy) is a configuration problem.
    httpx_mock.add_response(
        method="POST", status_code=404, json={"error": {"name": "not_found", "message": "x"}}
    )
    with pytest.raises(ExchangeError) as info:
        await buy(client)
    assert type(info.value) is ExchangeError
    assert info.value.code == "not_found"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.anyio
async def test_wrong_shape_is_an_error(client: BithumbClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"status": "0000", "data": []})  # a legacy-style envelope
    with pytest.raises(ExchangeError, match="expected a JSON array"):
        await client.candles("KRW-BTC", Timeframe("1h"))


@pytest.mark.anyio
async def test_5xx_is_retried_with_growing_jittered_delays(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=503, json={"error": {"name": "server_error", "message": ""}}
    )
    httpx_mock.add_response(status_code=502, content=b"<html>bad gateway</html>")
    httpx_mock.add_response(json=[])
    assert await client.markets() == []
    # base 0.1, doubling; equal jitter with rng=0.5 gives 3/4 of each step.
    assert sleeps.delays == pytest.approx([0.075, 0.15])


@pytest.mark.anyio
async def test_retries_are_bounded(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500, is_reusable=True)
    with pytest.raises(TemporaryExchangeError, match="HTTP 500"):
        await client.markets()
    assert len(httpx_mock.get_requests()) == 4  # 1 + max_retries
    assert len(sleeps.delays) == 3
    assert sleeps.delays[-1] <= 1.0  # capped


@pytest.mark.anyio
async def test_timeouts_are_retried(client: BithumbClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(json=[])
    assert await client.markets() == []
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.anyio
async def test_rejections_and_auth_errors_are_not_retried(
    client: BithumbClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=400, json={"error": {"name": "insufficient_funds_bid", "message": "no"}}
    )
    with pytest.raises(OrderRejected):
        await client.place_order(
            "KRW-BTC", "bid", "price", price=Decimal(10_000), client_order_id="x"
        )
    httpx_mock.add_response(
        status_code=401, json={"error": {"name": "jwt_verification", "message": "bad"}}
    )
    with pytest.raises(ExchangeError) as info:
        await client.accounts()
    assert info.value.code == "jwt_verification"
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.anyio
async def test_429_waits_at_least_retry_after(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=429,
        headers={"Retry-After": "2"},
        json={"error": {"name": "too_many_requests", "message": "Too many API requests."}},
    )
    httpx_mock.add_response(json=[])
    assert await client.markets() == []
    assert sleeps.delays == [2.0]


@pytest.mark.anyio
async def test_429_asking_for_too_long_a_wait_is_raised(
    client: BithumbClient, sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as info:
        await client.markets()
    assert info.value.retry_after == 600
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_order_not_found_lookup_is_none(client: BithumbClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=404, json={"error": {"name": "order_not_found", "message": "없음"}}
    )
    assert await client.get_order(client_order_id="nope") is None


@pytest.mark.anyio
async def test_private_calls_need_keys_and_send_nothing_without(
    sleeps: Sleeps, httpx_mock: HTTPXMock
) -> None:
    async with BithumbClient(BASE, sleep=sleeps) as public_only:
        with pytest.raises(ConfigError, match=r"api_key and exchange\.api_secret are required"):
            await public_only.accounts()
    assert httpx_mock.get_requests() == []


def test_repr_hides_the_keys() -> None:
    client = BithumbClient(BASE, api_key=KEY, api_secret=SECRET)
    assert KEY not in repr(client)
    assert SECRET not in repr(client)
