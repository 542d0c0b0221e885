"""Bithumb answers and transport failures -> the tradekit exception tree.

Errors arrive as ``{"error": {"name": ..., "message": ...}}`` where ``name`` may be a string
or a number (reference §1). Messages name the request by method and path only: never headers
(the Authorization token) nor secrets.
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
    OrderRejected,
    RateLimited,
    TemporaryExchangeError,
)

__all__ = [
    "AUTH_ERRORS",
    "CONNECT_ERROR",
    "MALFORMED",
    "REJECT_PREFIXES",
    "error_from_response",
    "error_from_transport",
    "error_name",
    "malformed",
    "parse_retry_after",
]

# 401 names (reference §3.6 and "API 주요 에러 코드"); a key without permission or from a
# non-whitelisted IP also ends here (pitfall 10).
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
# Business-rule refusals of an order: never worth retrying (pitfalls 4 and 16).
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
    "duplicate_client_order_id",
)
TEMPORARY_ERRORS = frozenset({"order_not_ready", "server_error", "too_many_requests"})
CONNECT_ERROR = "connect_error"  # the request never left: nothing can have happened
MALFORMED = "malformed_response"
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
        placing_order: The request placed an order: any other 4xx is then a refusal of that
            order (:class:`OrderRejected`), not a generic error.
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
        return RateLimited(text, code=name or "429", retry_after=retry_after)
    if status == 401 or key in AUTH_ERRORS:
        return AuthenticationError(text, code=name or str(status))
    if status >= 500 or key in TEMPORARY_ERRORS:
        return TemporaryExchangeError(text, code=name or str(status))
    if key.startswith(REJECT_PREFIXES):
        return OrderRejected(text, code=name)
    if status == 403:
        # Permission or IP refusals that came without a documented name.
        return AuthenticationError(text, code=name or str(status))
    if placing_order and 400 <= status < 500 and key not in {"not_found", "method_not_allowed"}:
        return OrderRejected(text, code=name or str(status))
    return ExchangeError(text, code=name or str(status))


def error_from_transport(method: str, path: str, exc: httpx.HTTPError) -> ExchangeError:
    """The exception for a request that got no usable answer (network, timeout).

    A failure to connect gets code ``connect_error``: the request was never sent, so nothing
    can have happened on the exchange. Any other transport failure leaves that open.
    """
    reason = _clip(str(exc)) or "no details"
    text = f"Bithumb {method} {path}: {type(exc).__name__}: {reason}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return TemporaryExchangeError(text, code=CONNECT_ERROR)
    if isinstance(exc, httpx.TimeoutException):
        return TemporaryExchangeError(text, code="timeout")
    if isinstance(exc, httpx.TransportError):
        return TemporaryExchangeError(text, code="network_error")
    # InvalidURL, decoding errors and the like are bugs or bad configuration, not weather.
    return ExchangeError(text, code=type(exc).__name__)


def malformed(method: str, path: str, problem: str) -> ExchangeError:
    """A 2xx answer whose body is not what Bithumb documents."""
    return ExchangeError(f"Bithumb {method} {path}: malformed response: {problem}", code=MALFORMED)
