"""Mapping Bithumb error answers and transport failures to the tradekit exception tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from tradekit_bithumb.errors import (
    CONNECT_ERROR,
    POOL_TIMEOUT,
    error_from_response,
    error_from_transport,
    error_name,
    parse_retry_after,
)

from tradekit.errors import (
    AuthenticationError,
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
    TemporaryExchangeError,
)


def body(name: Any, message: str = "msg") -> bytes:
    return json.dumps({"error": {"name": name, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (500, "server_error", TemporaryExchangeError),
        (502, None, TemporaryExchangeError),
        (503, "server_error", TemporaryExchangeError),
        (422, "order_not_ready", TemporaryExchangeError),
        (429, "too_many_requests", RateLimited),
        (401, "jwt_verification", AuthenticationError),
        (401, "expired_jwt", AuthenticationError),
        (401, "invalid_query_payload", AuthenticationError),
        (401, "invalid_access_key", AuthenticationError),
        (401, "expired_access_key", AuthenticationError),
        (401, "NotAllowIP", AuthenticationError),
        (401, "out_of_scope", AuthenticationError),
        (403, "whatever", AuthenticationError),
        (400, "invalid_price_bid", OrderRejected),
        (400, "invalid_volume_ask", OrderRejected),
        (400, "under_min_total_bid", OrderRejected),
        (400, "under_price_limit_ask", OrderRejected),
        (400, "insufficient_funds_bid", OrderRejected),
        (400, "insufficient_funds_ask", OrderRejected),
        (400, "cross_trading", OrderRejected),
        (400, "invalid_parameter", ExchangeError),
        (400, 400, ExchangeError),
        (404, "order_not_found", ExchangeError),
    ],
)
def test_status_and_name_pick_the_class(status: int, name: Any, kind: type[Exception]) -> None:
    content = body(name) if name is not None else b"<html>Bad Gateway</html>"
    error = error_from_response("GET", "/v1/x", status, content)
    assert type(error) is kind
    assert error.code == (str(name) if name is not None else str(status))


def test_generic_4xx_is_not_temporary_nor_a_rejection_outside_order_placement() -> None:
    error = error_from_response("GET", "/v1/orders", 400, body(400, "Missing request parameter"))
    assert not isinstance(error, TemporaryExchangeError | OrderRejected)
    assert error.code == "400"
    assert "Missing request parameter" in str(error)


def test_any_refusal_while_placing_an_order_is_a_rejection() -> None:
    error = error_from_response(
        "POST",
        "/v2/orders",
        400,
        body("invalid_parameter", "volume: 9 decimals"),
        placing_order=True,
    )
    assert isinstance(error, OrderRejected)
    assert error.code == "invalid_parameter"
    # ... but an auth failure keeps its own meaning.
    assert isinstance(
        error_from_response(
            "POST", "/v2/orders", 401, body("jwt_verification"), placing_order=True
        ),
        AuthenticationError,
    )


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (400, "insufficient_funds_bid", OrderRejected),
        (400, "under_min_total_bid", OrderRejected),
        (400, "invalid_parameter", OrderRejected),
        (429, "too_many_requests", OrderNotSent),
        (429, None, OrderNotSent),
        (500, "server_error", OrderStateUnknown),
        (502, None, OrderStateUnknown),
        (503, "server_error", OrderStateUnknown),
        (422, "order_not_ready", OrderStateUnknown),
        (409, "duplicate_client_order_id", OrderStateUnknown),  # the id is taken: it exists
        (401, "jwt_verification", AuthenticationError),
        (403, None, AuthenticationError),
        (404, "not_found", ExchangeError),  # a wrong endpoint, not a refusal
    ],
)
def test_placing_an_order_classifies_what_the_answer_proves(
    status: int, name: str | None, kind: type[ExchangeError]
) -> None:
    content = body(name) if name is not None else b""
    error = error_from_response(
        "POST", "/v2/orders", status, content, {"retry-after": "3"}, placing_order=True
    )
    assert type(error) is kind
    if kind is OrderStateUnknown:
        assert error.code == "order_state_unknown"
        assert f"HTTP {status}" in str(error)
        assert "look it up" in str(error)
        assert not isinstance(error, TemporaryExchangeError)
    if isinstance(error, OrderNotSent):
        assert error.retry_after == 3.0
        assert isinstance(error, TemporaryExchangeError)


def test_duplicate_id_outside_order_placement_is_a_plain_error() -> None:
    error = error_from_response("GET", "/v1/order", 409, body("duplicate_client_order_id"))
    assert type(error) is ExchangeError


def test_numeric_error_name_is_text() -> None:
    assert error_name({"error": {"name": 400, "message": "x"}}) == ("400", "x")
    assert error_name({"nope": 1}) == (None, "")
    assert error_name([1, 2]) == (None, "")


def test_rate_limited_reads_retry_after() -> None:
    error = error_from_response(
        "GET", "/v1/ticker", 429, body("too_many_requests"), {"retry-after": "2.5"}
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5
    bare = error_from_response("GET", "/v1/ticker", 429, b"")
    assert isinstance(bare, RateLimited)
    assert bare.retry_after is None


def test_parse_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = datetime(2024, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)


def test_message_names_request_status_and_body_but_not_the_query() -> None:
    error = error_from_response("GET", "/v1/order", 404, body("order_not_found", "주문 없음"))
    assert str(error) == "Bithumb GET /v1/order: HTTP 404 order_not_found: 주문 없음"


def test_non_json_error_body_is_quoted_and_clipped() -> None:
    error = error_from_response("GET", "/v1/x", 502, b"<html>" + b"x" * 1000 + b"</html>")
    assert isinstance(error, TemporaryExchangeError)
    assert "non-JSON body: <html>xxx" in str(error)
    assert len(str(error)) < 300


def test_transport_errors_are_temporary_and_say_whether_anything_was_sent() -> None:
    request = httpx.Request(
        "POST", "https://api.bithumb.com/v2/orders", headers={"Authorization": "Bearer SECRET"}
    )
    refused = error_from_transport(
        "POST", "/v2/orders", httpx.ConnectError("refused", request=request)
    )
    timeout = error_from_transport(
        "POST", "/v2/orders", httpx.ReadTimeout("timed out", request=request)
    )
    dropped = error_from_transport(
        "POST", "/v2/orders", httpx.RemoteProtocolError("peer closed", request=request)
    )
    assert isinstance(refused, TemporaryExchangeError)
    assert refused.code == CONNECT_ERROR
    assert isinstance(timeout, TemporaryExchangeError)
    assert timeout.code == "timeout"
    assert isinstance(dropped, TemporaryExchangeError)
    assert dropped.code == "network_error"
    pool = error_from_transport("GET", "/v1/x", httpx.PoolTimeout("busy", request=request))
    assert type(pool) is TemporaryExchangeError
    assert pool.code == POOL_TIMEOUT
    for error in (refused, timeout, dropped):
        assert "SECRET" not in str(error)
        assert "Bearer" not in str(error)


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (httpx.ConnectError("refused"), OrderNotSent, CONNECT_ERROR),
        (httpx.ConnectTimeout("no SYN-ACK"), OrderNotSent, CONNECT_ERROR),
        (httpx.PoolTimeout("pool busy"), OrderNotSent, POOL_TIMEOUT),
        (httpx.ReadTimeout("timed out"), OrderStateUnknown, "order_state_unknown"),
        (httpx.WriteTimeout("timed out"), OrderStateUnknown, "order_state_unknown"),
        (httpx.WriteError("broken pipe"), OrderStateUnknown, "order_state_unknown"),
        (httpx.ReadError("reset"), OrderStateUnknown, "order_state_unknown"),
        (httpx.RemoteProtocolError("peer closed"), OrderStateUnknown, "order_state_unknown"),
        (httpx.DecodingError("bad gzip"), OrderStateUnknown, "order_state_unknown"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_transport_failures_while_placing_say_whether_the_order_left(
    exc: httpx.HTTPError, kind: type[ExchangeError], code: str
) -> None:
    error = error_from_transport("POST", "/v2/orders", exc, placing_order=True)
    assert type(error) is kind
    assert error.code == code
    assert type(exc).__name__ in str(error)


def test_a_bad_url_is_not_temporary() -> None:
    error = error_from_transport("GET", "/v1/x", httpx.InvalidURL("bad"))
    assert type(error) is ExchangeError


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_an_unreachable_host_is_named_with_what_to_check() -> None:
    port = _closed_port()
    try:
        httpx.get(f"http://127.0.0.1:{port}/v1/candles/minutes/60")
    except httpx.ConnectError as exc:
        error = error_from_transport("GET", "/v1/candles/minutes/60", exc)
    assert isinstance(error, TemporaryExchangeError)
    assert error.code == CONNECT_ERROR
    assert str(error) == (
        f"cannot reach 127.0.0.1:{port} for Bithumb GET /v1/candles/minutes/60 (ConnectError: "
        "connection refused, so nothing listens on that port): check the network connection "
        "and exchange.base_url"
    )


def test_a_failed_dns_lookup_says_so() -> None:
    import socket

    request = httpx.Request("GET", "https://api.bithumb.com/v1/market/all")
    lookup = socket.gaierror(-2, "Name or service not known")
    failure = httpx.ConnectError("[Errno -2] Name or service not known", request=request)
    failure.__cause__ = lookup  # as httpx raises it (through httpcore)
    error = error_from_transport("GET", "/v1/market/all", failure)
    assert str(error).startswith(
        "cannot reach api.bithumb.com for Bithumb GET /v1/market/all (ConnectError: DNS lookup "
        "failed, so no network or a wrong host name): check"
    )
    placing = error_from_transport("POST", "/v2/orders", failure, placing_order=True)
    assert isinstance(placing, OrderNotSent)
    assert "cannot reach api.bithumb.com" in str(placing)
