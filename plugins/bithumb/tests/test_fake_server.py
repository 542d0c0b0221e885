"""Tests of the fake Bithumb server itself, with plain httpx, websockets and PyJWT clients."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
import jwt
import pytest
from tradekit_bithumb.testing import FakeBithumb, krw_tick
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HOUR_MS = 3_600_000
# 2024-01-01T00:00:00Z, a whole hour in both UTC and KST.
T0 = 1_704_067_200_000


def make_token(
    server: FakeBithumb,
    hashed: str | None = None,
    *,
    nonce: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
) -> str:
    payload: dict[str, Any] = {
        "access_key": server.api_key,
        "nonce": nonce or str(uuid.uuid4()),
        "timestamp": timestamp if timestamp is not None else int(time.time() * 1000),
    }
    if hashed is not None:
        payload["query_hash"] = hashlib.sha512(hashed.encode()).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return jwt.encode(payload, secret or server.api_secret, algorithm="HS256")


def private_get(
    client: httpx.Client, server: FakeBithumb, path: str, query: str = "", **token: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {make_token(server, query or None, **token)}"}
    url = f"{path}?{query}" if query else path
    return client.get(url, headers=headers)


def private_delete(
    client: httpx.Client, server: FakeBithumb, path: str, query: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {make_token(server, query)}"}
    return client.delete(f"{path}?{query}", headers=headers)


def private_post(
    client: httpx.Client, server: FakeBithumb, path: str, body: dict[str, str], **token: Any
) -> httpx.Response:
    hashed = urlencode(body)
    headers = {
        "Authorization": f"Bearer {make_token(server, hashed, **token)}",
        "Content-Type": "application/json; charset=utf-8",
    }
    return client.post(path, content=json.dumps(body), headers=headers)


def error_name(response: httpx.Response) -> Any:
    return response.json()["error"]["name"]


@pytest.fixture
def client(fake_bithumb: FakeBithumb) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_bithumb.base_url, timeout=5) as http:
        yield http


def buy_limit(
    client: httpx.Client, server: FakeBithumb, price: str, volume: str, **extra: str
) -> httpx.Response:
    body = {"market": "KRW-BTC", "side": "bid", "order_type": "limit", "price": price}
    body |= {"volume": volume, **extra}
    return private_post(client, server, "/v2/orders", body)


# ---- lifecycle and public REST ---------------------------------------------------------------


def test_binds_ephemeral_ports_and_stops_cleanly() -> None:
    server = FakeBithumb().start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.ws_url.startswith("ws://127.0.0.1:")
        assert server.ws_url.endswith("/websocket/v1")
        assert httpx.get(f"{server.base_url}/v1/market/all").status_code == 200
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/v1/market/all")


def test_market_all_lists_markets_with_warning_on_request(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.add_market("KRW-DOGE", "도지코인", "Dogecoin", warning="CAUTION")
    plain = client.get("/v1/market/all").json()
    assert {"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"} in plain
    detailed = client.get("/v1/market/all", params={"isDetails": "true"}).json()
    assert {row["market"]: row["market_warning"] for row in detailed}["KRW-DOGE"] == "CAUTION"


def test_minute_candles_newest_first_before_exclusive_kst_to(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    rows = [(T0 + i * HOUR_MS, 100 + i, 110 + i, 90 + i, 105 + i, 2) for i in range(5)]
    fake_bithumb.load_candles("KRW-BTC", 60, rows)
    # 2024-01-01 12:00 KST == 03:00 UTC: candles opening at 00, 01, 02 UTC are strictly before.
    got = client.get(
        "/v1/candles/minutes/60",
        params={"market": "KRW-BTC", "to": "2024-01-01T12:00:00", "count": 2},
    ).json()
    assert [c["candle_date_time_utc"] for c in got] == [
        "2024-01-01T02:00:00",
        "2024-01-01T01:00:00",
    ]
    first = got[0]
    assert first["candle_date_time_kst"] == "2024-01-01T11:00:00"
    assert (first["opening_price"], first["high_price"], first["low_price"]) == (102, 112, 92)
    assert first["trade_price"] == 107
    assert first["candle_acc_trade_volume"] == 2
    assert first["candle_acc_trade_price"] == 214
    assert first["unit"] == 60
    assert first["market"] == "KRW-BTC"
    spaced = client.get(
        "/v1/candles/minutes/60", params={"market": "KRW-BTC", "to": "2024-01-01 12:00:00"}
    ).json()
    assert [c["candle_date_time_utc"] for c in spaced] == ["2024-01-01T02:00:00"]
    latest = client.get("/v1/candles/minutes/60", params={"market": "KRW-BTC", "count": 200})
    assert len(latest.json()) == 5


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/candles/minutes/60", {"market": "KRW-BTC", "to": "2024-01-01T12:00:00Z"}),
        ("/v1/candles/minutes/60", {"market": "KRW-BTC", "to": "2024-01-01T12:00:00+09:00"}),
        ("/v1/candles/minutes/60", {"market": "KRW-BTC", "count": "201"}),
        ("/v1/candles/minutes/60", {"market": "KRW-BTC", "count": "0"}),
        ("/v1/candles/minutes/7", {"market": "KRW-BTC"}),
        ("/v1/candles/days", {"market": "KRW-NOPE"}),
    ],
)
def test_candles_reject_invalid_parameters(
    client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400
    assert error_name(response) == "invalid_parameter"


def test_candles_missing_market_is_the_numeric_400_error(client: httpx.Client) -> None:
    response = client.get("/v1/candles/days")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "name": 400,
            "message": "Missing request parameter error. Check the required parameters!",
        }
    }


def test_day_candles_carry_previous_close_and_change(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    day0 = T0 - 9 * HOUR_MS  # 2024-01-01 00:00 KST
    fake_bithumb.load_candles(
        "KRW-BTC",
        "days",
        [(day0, 100, 120, 90, 110, 1), (day0 + 24 * HOUR_MS, 110, 130, 100, 121, 1)],
    )
    newest, oldest = client.get("/v1/candles/days", params={"market": "KRW-BTC", "count": 5}).json()
    assert newest["candle_date_time_kst"] == "2024-01-02T00:00:00"
    assert newest["candle_date_time_utc"] == "2024-01-01T15:00:00"
    assert (newest["prev_closing_price"], newest["change_price"]) == (110, 11)
    assert newest["change_rate"] == pytest.approx(0.1)
    assert "unit" not in newest
    assert oldest["prev_closing_price"] == 100


def test_ticker_orderbook_and_trade_ticks(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.push_trade("KRW-BTC", 50_100_000, "0.5", time_ms=T0, ask_bid="ASK")
    fake_bithumb.push_trade("KRW-BTC", 50_200_000, "0.25", time_ms=T0 + 1000)
    (ticker,) = client.get("/v1/ticker", params={"markets": "KRW-BTC"}).json()
    assert ticker["trade_price"] == 50_200_000
    assert ticker["prev_closing_price"] == 50_000_000
    assert ticker["change"] == "RISE"
    assert ticker["signed_change_price"] == 200_000
    assert ticker["acc_trade_volume"] == 0.75
    assert (ticker["trade_date"], ticker["trade_time"], ticker["trade_time_kst"]) == (
        "20240101",
        "000001",
        "090001",
    )

    (book,) = client.get("/v1/orderbook", params={"markets": "KRW-BTC"}).json()
    assert len(book["orderbook_units"]) == 30
    best = book["orderbook_units"][0]
    assert (best["ask_price"], best["bid_price"]) == (50_200_000, 50_199_000)
    fake_bithumb.set_price("KRW-ETH", 3_000_000)
    books = client.get("/v1/orderbook", params={"markets": "KRW-BTC,KRW-ETH"}).json()
    assert [len(b["orderbook_units"]) for b in books] == [15, 15]

    ticks = client.get("/v1/trades/ticks", params={"market": "KRW-BTC", "count": 10}).json()
    assert [t["trade_price"] for t in ticks] == [50_200_000, 50_100_000]
    assert ticks[1]["ask_bid"] == "ASK"
    assert ticks[1]["trade_date_utc"] == "2024-01-01"
    assert ticks[1]["trade_time_utc"] == "00:00:00"
    older = client.get(
        "/v1/trades/ticks", params={"market": "KRW-BTC", "cursor": ticks[0]["sequential_id"]}
    ).json()
    assert [t["trade_price"] for t in older] == [50_100_000]


def test_ticker_without_price_explains_itself(client: httpx.Client) -> None:
    response = client.get("/v1/ticker", params={"markets": "KRW-BTC"})
    assert response.status_code == 400
    assert "set_price" in response.json()["error"]["message"]


# ---- JWT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "authorization"),
    [
        (
            "GET",
            "/v1/accounts",
            None,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMH0.kHQrDvfb_nrcMuK2SIb3L5DUt-Jgvr4LdK3czjwb3Kk",
        ),
        (
            "GET",
            "/v1/orders/chance?market=KRW-BTC",
            None,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFzaCI6ImI3NDlkZmMyZTE3Zjc1ZTViNDZjODE2MWY5N2ZlN2M5Mjk4ZWQ0MTY3ZWEyMWM1Yzk0ZDE2NTczZWZkOGE4MDEzNTE0NzBjMGZmMWE5YTNmMWU3NjNmODI0OTk2ODIxOGMwNGM1NzFjOGI0NWFhODBjZDQ1ODhlNmM0YmUwNzM4IiwicXVlcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.mTixFM_hTBzp0bZcFKq-hXQrCqpu79W7IbRC1-83oHU",
        ),
        (
            "GET",
            "/v1/orders?market=KRW-BTC&uuids[]=C0101000000000000001&uuids[]=C0101000000000000002&limit=100",
            None,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFzaCI6IjEzZWMyYzYyMzJhMmViZmQ3ZjI2ODc3YjFkN2QwOTI1OWIxZGMxMGI1ZTAxN2UwOGU0ZGU5YmMzNjg0YTBjODM2ZmRlNGJhMDRiNmZkMTJkMGM1NDE2ZTk4ZmU2ZWQ4NDk3OTM0NjJhYjkxOTdiNjE1MTY3ZmJkZDAyNTQ5MDVhIiwicXVlcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.IzTH6axtMQ0PK1v82xGNhZpacEA9-59rpS8pDif6LKA",
        ),
        (
            "POST",
            "/v2/orders",
            b'{"market":"KRW-BTC","side":"bid","volume":"0.001","price":"50000000","order_type":"limit"}',
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFzaCI6ImQ5NzI5NzE0ZjBjYjliNGJlYzFjNTgwYTYyNTUzYjk0YmI3NzQ2NWFhOTJhYzEzNzdjN2ZjNGIxZDI1NDQ0N2VjNjk4YmUwZWFlZmI5MTllZDZiZDJiODQ2MDJlNDBmOGE1NWQ4NDg1YmIxMjRkMmJlZDU0Yzc0NDk0YWUyMjdlIiwicXVlcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.I9tnVqJjAr_r_7lra2Szl2f6Gn4PtpJXcZmOxHGKrEE",
        ),
    ],
    ids=["J1-accounts", "J2-chance", "J3-orders-array", "J4-post-order"],
)
def test_accepts_the_reference_test_vectors(
    method: str, path: str, body: bytes | None, authorization: str
) -> None:
    # The vectors pin nonce and timestamp (2023), so the clock-skew check is off here.
    with (
        FakeBithumb(api_key="test-key", api_secret="test-secret", max_clock_skew=None) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        headers = {"Authorization": f"Bearer {authorization}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = http.request(method, path, content=body, headers=headers)
        assert response.is_success, response.text
        replay = http.request(method, path, content=body, headers=headers)
        assert replay.status_code == 401
        assert error_name(replay) == "jwt_verification"


def test_accepts_a_correct_token(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    response = private_get(client, fake_bithumb, "/v1/accounts")
    assert response.status_code == 200
    assert response.json() == [
        {
            "currency": "KRW",
            "balance": "10000000",
            "locked": "0",
            "avg_buy_price": "0",
            "avg_buy_price_modified": False,
            "unit_currency": "KRW",
        }
    ]


@pytest.mark.parametrize(
    ("token_args", "query", "expected"),
    [
        ({"secret": "a-wrong-secret-that-is-long-enough-for-hs256"}, "", "jwt_verification"),
        ({"timestamp": int(time.time())}, "", "expired_jwt"),  # seconds, not ms
        ({"hashed": "market=KRW-ETH"}, "market=KRW-BTC", "invalid_query_payload"),
        ({"hashed": None}, "market=KRW-BTC", "invalid_query_payload"),
    ],
    ids=["bad-signature", "seconds-timestamp", "wrong-query-hash", "missing-query-hash"],
)
def test_rejects_bad_tokens(
    fake_bithumb: FakeBithumb,
    client: httpx.Client,
    token_args: dict[str, Any],
    query: str,
    expected: str,
) -> None:
    path = "/v1/orders/chance" if query else "/v1/accounts"
    hashed = token_args.pop("hashed", query or None)
    token = make_token(fake_bithumb, hashed, **token_args)
    url = f"{path}?{query}" if query else path
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error_name(response) == expected


def test_rejects_reused_nonce_and_missing_header(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    assert private_get(client, fake_bithumb, "/v1/accounts", nonce="n-1").status_code == 200
    reused = private_get(client, fake_bithumb, "/v1/accounts", nonce="n-1")
    assert reused.status_code == 401
    assert error_name(reused) == "jwt_verification"
    assert "nonce" in reused.json()["error"]["message"]
    bare = client.get("/v1/accounts")
    assert bare.status_code == 401
    assert error_name(bare) == "jwt_verification"


def test_rejects_a_body_that_differs_from_the_hash(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    body = {"market": "KRW-BTC", "side": "bid", "order_type": "price", "price": "10000"}
    token = make_token(fake_bithumb, urlencode({**body, "price": "9000"}))
    response = client.post(
        "/v2/orders", content=json.dumps(body), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert error_name(response) == "invalid_query_payload"
    assert fake_bithumb.orders == []


# ---- orders and balances -----------------------------------------------------------------------


def test_limit_buy_rests_locks_funds_then_fills_when_price_crosses(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    created = buy_limit(client, fake_bithumb, "49000000", "0.01")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"order_id", "market", "side", "order_type", "created_at", "stp_type"}
    assert body["order_id"].startswith("C0101")
    assert body["created_at"].endswith("+09:00")
    order_id = body["order_id"]

    krw = fake_bithumb.balance("KRW")
    assert krw.locked == Decimal("491225")  # 490,000 + 0.25 % fee reserve
    assert krw.balance == Decimal("9508775")
    resting = private_get(client, fake_bithumb, "/v1/order", f"uuid={order_id}").json()
    assert resting["state"] == "wait"
    assert resting["ord_type"] == "limit"
    assert resting["locked"] == "491225"
    assert resting["remaining_volume"] == "0.01"
    assert resting["trades"] == []

    fake_bithumb.push_trade("KRW-BTC", 49_000_000, "1")
    done = private_get(client, fake_bithumb, "/v1/order", f"uuid={order_id}").json()
    assert done["state"] == "done"
    assert (done["executed_volume"], done["executed_funds"], done["paid_fee"]) == (
        "0.01",
        "490000",
        "1225",
    )
    assert done["trades_count"] == 1
    assert done["trades"][0]["price"] == "49000000"
    assert fake_bithumb.balance("KRW").balance == Decimal("9508775")
    assert fake_bithumb.balance("KRW").locked == 0
    accounts = {a["currency"]: a for a in private_get(client, fake_bithumb, "/v1/accounts").json()}
    assert accounts["BTC"]["balance"] == "0.01"
    assert accounts["BTC"]["avg_buy_price"] == "49000000"


def test_market_orders_fill_along_the_price_path_with_fees(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price_path("KRW-BTC", [50_000_000, 51_000_000])
    buy = private_post(
        client,
        fake_bithumb,
        "/v2/orders",
        {"market": "KRW-BTC", "side": "bid", "order_type": "price", "price": "1000000"},
    )
    assert buy.status_code == 201
    order = fake_bithumb.get_order(buy.json()["order_id"])
    assert order.state == "done"
    assert order.executed_volume == Decimal("0.02")
    assert order.paid_fee == Decimal("2500")
    assert fake_bithumb.balance("KRW").balance == Decimal(10_000_000 - 1_000_000 - 2500)
    assert fake_bithumb.balance("BTC").balance == Decimal("0.02")

    sell = private_post(
        client,
        fake_bithumb,
        "/v2/orders",
        {"market": "KRW-BTC", "side": "ask", "order_type": "market", "volume": "0.02"},
    )
    sold = fake_bithumb.get_order(sell.json()["order_id"])
    assert sold.fills[0].price == Decimal(51_000_000)  # the path advanced after the buy
    assert sold.paid_fee == Decimal("2550")
    assert fake_bithumb.balance("KRW").balance == Decimal(8_997_500 + 1_020_000 - 2550)
    assert fake_bithumb.balance("BTC").balance == 0


def test_classic_v1_order_endpoint_returns_the_full_order(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_balance("BTC", "1")
    response = private_post(
        client,
        fake_bithumb,
        "/v1/orders",
        {
            "market": "KRW-BTC",
            "side": "ask",
            "ord_type": "limit",
            "price": "60000000",
            "volume": "0.1",
        },
    )
    assert response.status_code == 201
    order = response.json()
    assert (order["ord_type"], order["state"], order["locked"]) == ("limit", "wait", "0.1")
    assert fake_bithumb.balance("BTC").locked == Decimal("0.1")
    cancelled = private_delete(client, fake_bithumb, "/v1/order", f"uuid={order['uuid']}")
    assert cancelled.json()["state"] == "cancel"
    assert fake_bithumb.balance("BTC").balance == 1


@pytest.mark.parametrize(
    ("body", "status", "name"),
    [
        ({"price": "50000001", "volume": "0.001"}, 400, "invalid_price_bid"),
        ({"price": "50000000", "volume": "0.00001"}, 400, "under_min_total_bid"),
        ({"price": "50000000", "volume": "1"}, 400, "insufficient_funds_bid"),
        ({"price": "0", "volume": "1"}, 400, "under_price_limit_bid"),
        ({"price": "50000000", "volume": "0.000000001"}, 400, "invalid_parameter"),
        (
            {"price": "50000000", "volume": "0.001", "time_in_force": "gtc"},
            400,
            "invalid_parameter",
        ),
        ({"price": "50000000"}, 400, 400),
    ],
)
def test_order_rejections(
    fake_bithumb: FakeBithumb,
    client: httpx.Client,
    body: dict[str, str],
    status: int,
    name: str | int,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    order = {"market": "KRW-BTC", "side": "bid", "order_type": "limit", **body}
    response = private_post(client, fake_bithumb, "/v2/orders", order)
    assert response.status_code == status
    assert error_name(response) == name
    assert fake_bithumb.orders == []


def test_sell_without_coins_is_insufficient_funds_ask(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    response = private_post(
        client,
        fake_bithumb,
        "/v2/orders",
        {"market": "KRW-BTC", "side": "ask", "order_type": "market", "volume": "0.01"},
    )
    assert response.status_code == 400
    assert error_name(response) == "insufficient_funds_ask"


def test_tick_table_matches_the_reference() -> None:
    assert krw_tick(Decimal(50_000_000)) == 1000
    assert krw_tick(Decimal(999_999)) == 500
    assert krw_tick(Decimal(150)) == 1
    assert krw_tick(Decimal(50)) == Decimal("0.01")
    assert krw_tick(Decimal("0.5")) == Decimal("0.0001")


def test_duplicate_client_order_id_returns_the_existing_order(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    first = buy_limit(client, fake_bithumb, "40000000", "0.01", client_order_id="sig-1")
    again = buy_limit(client, fake_bithumb, "40000000", "0.01", client_order_id="sig-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["order_id"] == first.json()["order_id"]
    assert len(fake_bithumb.orders_for_client_order_id("sig-1")) == 1
    assert len(fake_bithumb.orders) == 1
    assert fake_bithumb.duplicate_client_order_ids == ["sig-1"]
    assert fake_bithumb.balance("KRW").locked == Decimal("401000")  # locked once
    by_client_id = private_get(client, fake_bithumb, "/v1/order", "client_order_id=sig-1")
    assert by_client_id.json()["uuid"] == first.json()["order_id"]
    assert by_client_id.json()["client_order_id"] == "sig-1"


def test_duplicate_client_order_id_can_be_refused() -> None:
    with (
        FakeBithumb(duplicate_client_order_id="reject") as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        server.set_price("KRW-BTC", 50_000_000)
        assert buy_limit(http, server, "40000000", "0.01", client_order_id="x").status_code == 201
        refused = buy_limit(http, server, "40000000", "0.01", client_order_id="x")
        assert refused.status_code == 400
        assert error_name(refused) == "duplicate_client_order_id"
        assert len(server.orders) == 1


def test_list_cancel_and_chance(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    ids = [buy_limit(client, fake_bithumb, "40000000", "0.01").json()["order_id"] for _ in range(3)]
    query = f"market=KRW-BTC&uuids[]={ids[0]}&uuids[]={ids[2]}&limit=100"
    listed = private_get(client, fake_bithumb, "/v1/orders", query).json()
    assert [o["uuid"] for o in listed] == [ids[2], ids[0]]
    assert "trades" not in listed[0]

    cancelled = private_delete(client, fake_bithumb, "/v2/order", f"order_id={ids[0]}")
    assert cancelled.status_code == 200
    assert set(cancelled.json()) == {"order_id", "created_at"}
    again = private_delete(client, fake_bithumb, "/v2/order", f"order_id={ids[0]}")
    assert again.status_code == 404
    assert error_name(again) == "order_not_found"
    waiting = private_get(client, fake_bithumb, "/v1/orders", "state=wait").json()
    assert {o["uuid"] for o in waiting} == {ids[1], ids[2]}
    unknown = private_get(client, fake_bithumb, "/v1/order", "uuid=C0101999")
    assert unknown.status_code == 404

    chance = private_get(client, fake_bithumb, "/v1/orders/chance", "market=KRW-BTC").json()
    assert chance["bid_fee"] == "0.0025"
    assert chance["market"]["bid"] == {"currency": "KRW", "min_total": "5000"}
    assert chance["bid_account"]["locked"] == "802000"
    assert chance["ask_account"]["currency"] == "BTC"


def test_partial_fill_then_cancel_returns_the_rest(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    order_id = buy_limit(client, fake_bithumb, "40000000", "0.02").json()["order_id"]
    fake_bithumb.fill_order(order_id, volume="0.005")
    private_delete(client, fake_bithumb, "/v2/order", f"order_id={order_id}")
    order = fake_bithumb.get_order(order_id)
    assert (order.state, order.executed_volume) == ("cancel", Decimal("0.005"))
    krw = fake_bithumb.balance("KRW")
    assert krw.locked == 0
    assert krw.balance == Decimal(10_000_000 - 200_000 - 500)


# ---- faults ------------------------------------------------------------------------------------


def test_fail_next_answers_errors_then_recovers(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.faults.fail_next("/v1/market/all", status=503, times=2)
    assert client.get("/v1/market/all").status_code == 503
    failed = client.get("/v1/market/all")
    assert failed.status_code == 503
    assert error_name(failed) == "server_error"
    assert client.get("/v1/market/all").status_code == 200
    assert fake_bithumb.faults.count("fail") == 2
    assert [r.fault for r in fake_bithumb.requests] == ["fail", "fail", None]


def test_failed_order_post_creates_nothing(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.fail_next("POST /v2/orders")
    assert buy_limit(client, fake_bithumb, "40000000", "0.01").status_code == 500
    assert fake_bithumb.orders == []


def test_rate_limit_next(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    fake_bithumb.faults.rate_limit_next(1, retry_after=1)
    limited = client.get("/v1/market/all")
    assert limited.status_code == 429
    assert limited.json() == {
        "error": {"name": "too_many_requests", "message": "Too many API requests."}
    }
    assert limited.headers["Retry-After"] == "1"
    assert client.get("/v1/market/all").status_code == 200
    assert fake_bithumb.faults.count("rate_limit") == 1


def test_timeout_after_accept_creates_the_order_but_client_times_out(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders")
    body = {"market": "KRW-BTC", "side": "bid", "order_type": "limit", "price": "40000000"}
    body |= {"volume": "0.01", "client_order_id": "sig-timeout"}
    with (
        httpx.Client(base_url=fake_bithumb.base_url, timeout=0.3) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        private_post(impatient, fake_bithumb, "/v2/orders", body)
    (created,) = fake_bithumb.orders_for_client_order_id("sig-timeout")
    assert created.state == "wait"
    (record,) = fake_bithumb.requests_to("POST", "/v2/orders")
    assert (record.status, record.fault) == (201, "timeout_after_accept")
    looked_up = private_get(client, fake_bithumb, "/v1/order", "client_order_id=sig-timeout")
    assert looked_up.json()["uuid"] == created.order_id


def test_timeout_after_accept_can_drop_the_connection(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", drop=True)
    with pytest.raises(httpx.TransportError) as dropped:
        buy_limit(client, fake_bithumb, "40000000", "0.01")
    assert not isinstance(dropped.value, httpx.TimeoutException)
    assert len(fake_bithumb.orders) == 1
    assert fake_bithumb.faults.count("timeout_after_accept") == 1


def test_stop_ends_a_delayed_answer_at_once() -> None:
    server = FakeBithumb().start()
    server.faults.timeout_after_accept_next("GET /v1/market/all", delay=60)
    with (
        httpx.Client(base_url=server.base_url, timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get("/v1/market/all")
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5


def test_order_not_ready_next(fake_bithumb: FakeBithumb, client: httpx.Client) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    order_id = buy_limit(client, fake_bithumb, "40000000", "0.01").json()["order_id"]
    fake_bithumb.faults.order_not_ready_next(2)
    for _ in range(2):
        response = private_get(client, fake_bithumb, "/v1/order", f"uuid={order_id}")
        assert response.status_code == 422
        assert error_name(response) == "order_not_ready"
    assert private_get(client, fake_bithumb, "/v1/order", f"uuid={order_id}").status_code == 200
    assert fake_bithumb.faults.count("order_not_ready") == 2


# ---- WebSocket ---------------------------------------------------------------------------------


async def recv_json(ws: ClientConnection) -> Any:
    with anyio.fail_after(5):
        return json.loads(await ws.recv())


async def subscribe(ws: ClientConnection, *types: str, fmt: str = "DEFAULT") -> None:
    request: list[dict[str, Any]] = [{"ticket": str(uuid.uuid4())}]
    request += [{"type": kind, "codes": ["KRW-BTC"]} for kind in types]
    request.append({"format": fmt})
    await ws.send(json.dumps(request))


@pytest.mark.anyio
async def test_ws_subscribe_streams_snapshot_then_realtime_trades(
    fake_bithumb: FakeBithumb,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "ticker", "trade")
        snapshot = await recv_json(ws)
        assert (snapshot["type"], snapshot["code"], snapshot["stream_type"]) == (
            "ticker",
            "KRW-BTC",
            "SNAPSHOT",
        )
        assert snapshot["trade_price"] == 50_000_000
        await fake_bithumb.ws_subscribed(1)

        fake_bithumb.push_trade("KRW-BTC", 50_001_000, "0.3", time_ms=T0, ask_bid="ASK")
        trade = await recv_json(ws)
        assert trade["type"] == "trade"
        assert trade["stream_type"] == "REALTIME"
        assert (trade["trade_price"], trade["trade_volume"], trade["ask_bid"]) == (
            50_001_000,
            0.3,
            "ASK",
        )
        assert (trade["trade_date"], trade["trade_time"], trade["trade_timestamp"]) == (
            "2024-01-01",
            "00:00:00",
            T0,
        )
        assert isinstance(trade["sequential_id"], str)
        assert trade["prev_closing_price"] == 50_000_000
        ticker = await recv_json(ws)
        assert (ticker["type"], ticker["trade_price"]) == ("ticker", 50_001_000)
        assert ticker["trade_time"] == "090000"  # KST on the ticker stream

        fake_bithumb.push_trade("KRW-ETH", 3_000_000, "1")  # not subscribed
        fake_bithumb.push_trade("KRW-BTC", 50_002_000, "0.1")
        assert (await recv_json(ws))["trade_price"] == 50_002_000


@pytest.mark.anyio
async def test_ws_price_path_and_market_orders_print_trades(
    fake_bithumb: FakeBithumb, client: httpx.Client
) -> None:
    fake_bithumb.set_price_path("KRW-BTC", [50_000_000, 50_500_000])
    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "trade")
        await fake_bithumb.ws_subscribed(1)
        assert fake_bithumb.advance_price("KRW-BTC") == Decimal(50_500_000)
        assert (await recv_json(ws))["trade_price"] == 50_500_000
        assert fake_bithumb.advance_price("KRW-BTC") is None


@pytest.mark.anyio
async def test_ws_ping_text_and_bad_subscription(fake_bithumb: FakeBithumb) -> None:
    async with connect(fake_bithumb.ws_url) as ws:
        await ws.send("PING")
        assert await recv_json(ws) == {"status": "UP"}
        await ws.send(json.dumps([{"type": "trade", "codes": ["KRW-BTC"]}]))
        assert (await recv_json(ws))["error"]["name"] == "NO_TICKET"
        await ws.send("{not json")
        assert (await recv_json(ws))["error"]["name"] == "WRONG_FORMAT"
        with anyio.fail_after(5):
            await ws.ping()


@pytest.mark.anyio
async def test_ws_simple_format_abbreviates_keys(fake_bithumb: FakeBithumb) -> None:
    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "trade", fmt="SIMPLE")
        await fake_bithumb.ws_subscribed(1)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1")
        message = await recv_json(ws)
        assert (message["ty"], message["cd"], message["tp"], message["st"]) == (
            "trade",
            "KRW-BTC",
            50_000_000,
            "REALTIME",
        )


@pytest.mark.anyio
async def test_ws_malformed_messages_precede_the_next_good_one(fake_bithumb: FakeBithumb) -> None:
    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "trade")
        await fake_bithumb.ws_subscribed(1)
        fake_bithumb.faults.malformed_ws_next(5)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1")
        frames = []
        with anyio.fail_after(5):
            for _ in range(6):
                frames.append(await ws.recv())
        assert frames[0] == "this is not JSON {"
        assert set(json.loads(frames[1])) == {"type", "code"}
        assert json.loads(frames[2])["trade_price"] == "not-a-number"
        assert json.loads(frames[3]) == [1, 2, 3]
        assert isinstance(frames[4], bytes)
        assert json.loads(frames[5])["trade_price"] == 50_000_000
        assert fake_bithumb.faults.count("malformed_ws") == 5


@pytest.mark.anyio
async def test_ws_drop_closes_abruptly_and_clients_can_reconnect(fake_bithumb: FakeBithumb) -> None:
    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "trade")
        await fake_bithumb.ws_subscribed(1)
        assert fake_bithumb.faults.drop_ws() == 1
        with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is None  # no close frame: an abrupt drop
    assert fake_bithumb.faults.count("drop_ws") == 1

    async with connect(fake_bithumb.ws_url) as ws:
        await subscribe(ws, "trade")
        await fake_bithumb.ws_subscribed(2)
        fake_bithumb.push_trade("KRW-BTC", 50_000_000, "0.1")
        assert (await recv_json(ws))["type"] == "trade"
    assert fake_bithumb.ws_connects == 2


@pytest.mark.anyio
async def test_ws_binary_frames_option() -> None:
    with FakeBithumb(ws_binary_frames=True) as server:
        async with connect(server.ws_url) as ws:
            await subscribe(ws, "trade")
            await server.ws_subscribed(1)
            server.push_trade("KRW-BTC", 50_000_000, "0.1")
            with anyio.fail_after(5):
                frame = await ws.recv()
            assert isinstance(frame, bytes)
            assert json.loads(frame)["type"] == "trade"
