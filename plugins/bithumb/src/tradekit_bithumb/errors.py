"""Bithumb answers and transport failures -> the tradekit exception tree.

Errors arrive as ``{"error": {"name": ..., "message": ...}}`` where ``name`` may be a string
or a number (docs/bithumb.md#numbers-and-errors). Messages name the request by method and path
only: never headers (the Authorization token) nor secrets.

A request that places an order (``placing_order=True``) is classified by what it proves about
the order, because the connector sends it once and the caller decides what to do next:

* :class:`~tradekit.errors.OrderRejected`: Bithumb answered and refused it (4xx);
* :class:`~tradekit.errors.OrderNotSent`: it provably never reached Bithumb or was not
  processed (no connection, no free pooled connection, 429); sending it again is safe;
* :class:`~tradekit.errors.OrderStateUnknown`: it may exist (timeout or dropped connection
  after sending, 5xx, the id already taken, an unreadable success answer); look it up, never
  send it again blindly;
* :class:`~tradekit.errors.AuthenticationError`: the key or token was refused.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from tradekit.errors import (
    AuthenticationError,
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
    RateLimited,
    TemporaryExchangeError,
)
from tradekit.network import unreachable

__all__ = [
    "AUTH_ERRORS",
    "CONNECT_ERROR",
    "DUPLICATE_ID",
    "MALFORMED",
    "POOL_TIMEOUT",
    "REJECT_PREFIXES",
    "error_from_response",
    "error_from_transport",
    "error_name",
    "malformed",
    "order_state_unknown",
    "parse_retry_after",
]

# 401 names (docs/bithumb.md#authentication and "API 주요 에러 코드"); a key without permission
# or from a non-whitelisted IP also ends here.
AUTH_ERRORS = frozenset(
    {
        "jwt_verification",
        "expired_jwt",
        "invalid_query_payload",
        "invalid_access_key",
        "expired_access_key",
        "invalid_api_key",
        "notallowip",
        "no_authorization_ip",
        "out_of_scope",
        "unauthorized",
    }
)
# Business-rule refusals of an order: never worth retrying (docs/bithumb.md#known-pitfalls).
REJECT_PREFIXES = (
    "invalid_price",
    "invalid_volume",
    "invalid_funds",
    "invalid_ord_type",
    "invalid_order_type",
    "invalid_side",
    "invalid_time_in_force",
    "under_min_total",
    "under_price_limit",
    "over_max_total",
    "over_max_volume",
    "insufficient_funds",
    "cross_trading",
    "market_offline",
    "market_suspended",
)
# The client_order_id is taken: an order with it exists, so this one is not "rejected".
DUPLICATE_ID = "duplicate_client_order_id"
TEMPORARY_ERRORS = frozenset({"order_not_ready", "server_error", "too_many_requests"})
CONNECT_ERROR = "connect_error"  # the request never left: nothing can have happened
POOL_TIMEOUT = "pool_timeout"  # no pooled connection became free: nothing was sent either
MALFORMED = "malformed_response"
_NOT_SENT_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_TEXT = 200


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def error_name(body: Any) -> tuple[str | None, str]:
    """``(name, message)`` from an error body; the name as text (``400`` -> ``"400"``)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            name = error.get("name")
            message = error.get("message")
            return (
                None if name is None else str(name),
                "" if message is None else _clip(str(message)),
            )
    return None, ""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def error_from_response(
    method: str,
    path: str,
    status: int,
    content: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    placing_order: bool = False,
) -> ExchangeError:
    """The exception for an error answer (status >= 400).

    Args:
        method: HTTP method, for the message.
        path: Request path without the query string, for the message.
        status: HTTP status.
        content: The raw body.
        headers: Response headers (``Retry-After`` is read from them).
        placing_order: The request placed an order: the error says what became of it (see
            the module docstring). A 429 is then :class:`OrderNotSent`, a 5xx or another
            temporary failure :class:`OrderStateUnknown`, and any 4xx other than an auth
            failure, ``not_found`` or ``method_not_allowed`` (a wrong endpoint, not a refusal)
            is :class:`OrderRejected`.
    """
    body = _decode(content)
    name, message = error_name(body)
    if name is None and not message:
        snippet = _clip(content.decode("utf-8", "replace")) if content else ""
        message = f"non-JSON body: {snippet}" if snippet else "empty body"
    label = f"HTTP {status}" + (f" {name}" if name else "")
    text = f"Bithumb {method} {path}: {label}: {message}"
    key = (name or "").lower()

    if status == 429 or key == "too_many_requests":
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        if placing_order:
            # Bithumb's limiter answers before the order is processed.
            return OrderNotSent(text, code=name or "429", retry_after=retry_after)
        return RateLimited(text, code=name or "429", retry_after=retry_after)
    if status == 401 or key in AUTH_ERRORS:
        return AuthenticationError(text, code=name or str(status))
    if status >= 500 or key in TEMPORARY_ERRORS:
        if placing_order:
            return order_state_unknown(text)
        return TemporaryExchangeError(text, code=name or str(status))
    if key.startswith(DUPLICATE_ID) and placing_order:
        return order_state_unknown(f"{text} (an order with this client_order_id exists)")
    if key.startswith(REJECT_PREFIXES):
        return OrderRejected(text, code=name)
    if status == 403:
        # Permission or IP refusals that came without a documented name.
        return AuthenticationError(text, code=name or str(status))
    if placing_order and 400 <= status < 500 and key not in {"not_found", "method_not_allowed"}:
        return OrderRejected(text, code=name or str(status))
    return ExchangeError(text, code=name or str(status))


def error_from_transport(
    method: str, path: str, exc: httpx.HTTPError, *, placing_order: bool = False
) -> ExchangeError:
    """The exception for a request that got no usable answer (network, timeout).

    A failure to connect gets code ``connect_error`` and a wait for a pooled connection that
    timed out ``pool_timeout``: the request was never sent, so nothing can have happened on
    the exchange. Any other failure leaves that open.

    Args:
        placing_order: The request placed an order: a request never sent is then
            :class:`OrderNotSent`, anything else :class:`OrderStateUnknown`.
    """
    reason = _clip(str(exc)) or "no details"
    text = f"Bithumb {method} {path}: {type(exc).__name__}: {reason}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        # Said so a user can act on it: which host, why, and which setting names it.
        text = unreachable(_host(exc), exc, "exchange.base_url", f"Bithumb {method} {path}")
    if isinstance(exc, _NOT_SENT_TRANSPORT):
        code = POOL_TIMEOUT if isinstance(exc, httpx.PoolTimeout) else CONNECT_ERROR
        if placing_order:
            return OrderNotSent(text, code=code)
        return TemporaryExchangeError(text, code=code)
    if placing_order:
        # Written, perhaps in part, and perhaps processed: only a look-up can tell.
        return order_state_unknown(text)
    if isinstance(exc, httpx.TimeoutException):
        return TemporaryExchangeError(text, code="timeout")
    if isinstance(exc, httpx.TransportError):
        return TemporaryExchangeError(text, code="network_error")
    # InvalidURL, decoding errors and the like are bugs or bad configuration, not weather.
    return ExchangeError(text, code=type(exc).__name__)


def _host(exc: httpx.HTTPError) -> str:
    """The host a request went to (with a port other than the scheme's default)."""
    try:
        url = exc.request.url
    except RuntimeError:  # raised without a request (tests)
        return "the Bithumb API"
    return f"{url.host}:{url.port}" if url.port else url.host


def order_state_unknown(text: str) -> OrderStateUnknown:
    """An order that may or may not exist on Bithumb after ``text`` happened."""
    return OrderStateUnknown(
        f"{text} -- the order may or may not exist on Bithumb; look it up, never send it "
        "again blindly"
    )


def malformed(method: str, path: str, problem: str) -> ExchangeError:
    """A 2xx answer whose body is not what Bithumb documents."""
    return ExchangeError(f"Bithumb {method} {path}: malformed response: {problem}", code=MALFORMED)
