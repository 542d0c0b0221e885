"""The dashboard page: ``GET /`` and its assets under ``/dashboard/``, shipped in the package.

The page holds no data: its script reads the JSON routes with the API's own token, which it
asks for once and keeps in the tab's ``sessionStorage`` (never in a URL or a cookie, so no
other site can make the browser use it). So with a token configured the page and its assets
are served without one; without a token they answer only where the API does (localhost).
Everything is served from here under a Content-Security-Policy that allows this origin only:
no CDN, no inline script or style, no framing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "page_routes"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "object-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Small files, read from memory: always revalidated, so an upgrade shows at once.
    "Cache-Control": "no-cache",
}
#: Served name -> (file under ``static/``, media type). Nothing else is served.
ASSETS: dict[str, tuple[str, str]] = {
    "app.js": ("app.js", "text/javascript"),
    "app.css": ("app.css", "text/css"),
    "favicon.svg": ("favicon.svg", "image/svg+xml"),
    "lightweight-charts.js": (
        "vendor/lightweight-charts.standalone.production.js",
        "text/javascript",
    ),
}
_AUTH_MARKER = "{{auth}}"
AssetName = Annotated[str, PathParameter(description="an asset of the page, e.g. app.js")]


@functools.cache
def _read(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


def _index(token_required: bool) -> bytes:
    # The page learns from a meta tag whether to ask for a token, without a request that
    # would fail (and log an error in the browser's console) first.
    mode = b"token" if token_required else b"local"
    return _read("index.html").replace(_AUTH_MARKER.encode(), mode)


def page_routes(*, token_required: bool, opt: Mapping[str, Any]) -> list[HTTPRouteHandler]:
    """``GET /`` (the page) and ``GET /dashboard/{name}`` (its script, style and chart library).

    Args:
        token_required: the API has a token, so the page asks for it.
        opt: route options for the guard; public routes when a token is configured.
    """
    index = _index(token_required)

    @get("/", include_in_schema=False, opt=dict(opt), media_type="text/html")
    async def dashboard() -> Response[bytes]:
        """The dashboard page."""
        return Response(index, media_type="text/html", headers=_HEADERS)

    @get("/dashboard/{name:str}", include_in_schema=False, opt=dict(opt))
    async def asset(name: AssetName) -> Response[bytes]:
        """One of the page's assets."""
        found = ASSETS.get(name)
        if found is None:
            raise NotFoundException(detail=f"no dashboard asset {name!r}")
        path, media_type = found
        return Response(_read(path), media_type=media_type, headers=_HEADERS)

    return [dashboard, asset]
