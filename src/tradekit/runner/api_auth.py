"""Who may use the control API: a bearer token, or without one only this machine's clients."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

__all__ = ["BEARER", "PUBLIC", "local_guard", "token_guard"]

PUBLIC = "public"  # route handler opt key: no token needed
BEARER = "BearerToken"  # the security scheme's name in the OpenAPI document
_CHALLENGE = 'Bearer realm="tradekit"'


def _split_host(value: str) -> str:
    """The host part of a ``Host`` header or an ``Origin``'s authority (``[::1]:80`` -> ``::1``)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_guard(
    token: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    expected = token.encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC):
            return
        scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthorizedException(
                detail="missing bearer token: send 'Authorization: Bearer <api.token>'",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        # Headers arrive decoded as latin-1; encoding back gives the bytes the client sent.
        given = credentials.strip().encode("latin-1", errors="replace")
        if not hmac.compare_digest(given, expected):
            raise NotAuthorizedException(
                detail="invalid bearer token",
                headers={"WWW-Authenticate": _CHALLENGE + ', error="invalid_token"'},
            )

    return guard


def local_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Without a token, only this machine's own clients, and no browser page of another site.

    A web page on any site can make the browser send a POST to 127.0.0.1 (CSRF), or reach it
    under its own name through DNS rebinding; neither can forge ``Host`` and ``Origin``.
    """
    if handler.opt.get(PUBLIC):
        return
    host = connection.headers.get("host", "")
    if not _is_loopback(_split_host(host)):
        raise PermissionDeniedException(
            detail="without api.token only requests to localhost are served (Host header)"
        )
    origin = connection.headers.get("origin")
    if origin is not None and not _is_loopback(_split_host(origin.partition("://")[2])):
        raise PermissionDeniedException(
            detail="without api.token cross-origin requests from web pages are refused"
        )
