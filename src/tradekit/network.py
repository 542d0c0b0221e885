"""Why a host could not be reached, in words a user can act on.

Connectors wrap low-level failures (``socket.gaierror`` inside an HTTP library's connect
error); :func:`unreachable` walks the exception chain to the cause and says which host failed,
why, and what to check, in one line.
"""

from __future__ import annotations

import socket
import ssl

__all__ = ["connect_failure", "unreachable"]

_DNS = "DNS lookup failed, so no network or a wrong host name"
_REFUSED = "connection refused, so nothing listens on that port"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connect_failure(exc: BaseException) -> str:
    """The kind of connection failure behind ``exc`` (e.g. ``DNS lookup failed``)."""
    for cause in reversed(_chain(exc)):  # the innermost cause is the most precise
        if isinstance(cause, socket.gaierror):
            return _DNS
        if isinstance(cause, ConnectionRefusedError):
            return _REFUSED
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, TimeoutError):
            return "connection timed out"
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause.strerror or str(cause)
    text = str(exc).lower()
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return _DNS
    if "refused" in text:
        return _REFUSED
    if "timed out" in text or "timeout" in text:
        return "connection timed out"
    return str(exc) or type(exc).__name__


def unreachable(host: str, exc: BaseException, setting: str, request: str = "") -> str:
    """One line naming the host, the failure and what to check.

    ``cannot reach api.bithumb.com for GET /v1/... (ConnectError: DNS lookup failed, so no
    network or a wrong host name): check the network connection and exchange.base_url``

    Args:
        host: the host (and port, if not the default) that failed.
        exc: the failure, as raised by the HTTP or WebSocket library.
        setting: the config key that names the host, e.g. ``exchange.base_url``.
        request: what was being done (``GET /v1/candles``), if worth saying.
    """
    what = f" for {request}" if request else ""
    why = f"{type(exc).__name__}: {connect_failure(exc)}"
    return f"cannot reach {host}{what} ({why}): check the network connection and {setting}"
