"""The control API: a small Litestar app over a running bot, served by uvicorn in the runner.

Routes: ``GET /health`` (no auth), ``GET /status``, ``GET /positions``, ``GET /orders``,
``GET /fills``, ``GET /performance``, ``POST /pause``, ``POST /resume``,
``POST /positions/{market}/close``, ``GET /metrics`` and the OpenAPI document at ``/schema``;
the dashboard at ``GET /`` with ``GET /today`` and ``GET /candles/{market}``
(:mod:`tradekit.runner.dashboard`).
Every route but ``/health`` and the dashboard's page and files (which hold no data) needs
``Authorization: Bearer <token>`` when a token is set.

Who may call it is decided in :mod:`~tradekit.runner.api_auth`;
:mod:`~tradekit.runner.api_server` serves it with uvicorn. Errors are JSON
``{"status_code": ..., "detail": "<reason>"}`` (validation errors add ``extra``, naming the
parameter). A 5xx never carries an exception's text: it may hold a URL or
a secret. A client must send its request head within ``header_timeout`` seconds or is
disconnected (408 if it had begun), so half-sent requests cannot pile up.

The API only reads snapshots and asks the bot to act (pause, resume, close); the engine stays the
one writer of trading state.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypedDict, TypeVar

import attrs
from litestar import Controller, Litestar, Request, Response, get, post
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import PathParameter, QueryParameter
from litestar.plugins.attrs import AttrsSchemaPlugin
from litestar.types import Scope
from litestar.typing import FieldDefinition
from loguru import logger

from tradekit import __version__
from tradekit.errors import StorageError
from tradekit.markets import MARKET_ID_PATTERN
from tradekit.models import OrderStatus
from tradekit.runner.api_auth import BEARER, PUBLIC, local_guard, token_guard
from tradekit.runner.api_server import serve
from tradekit.runner.api_views import (
    DayView,
    FillsPage,
    OrdersPage,
    OrderView,
    PerformancePage,
    PositionsPage,
    PositionView,
)
from tradekit.runner.control import BotControl, BotStatus, NoPosition, UnknownMarket
from tradekit.runner.dashboard import dashboard_routes
from tradekit.runner.metrics import Metrics
from tradekit.store import AsyncStore

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_TIME_MS",
    "create_app",
    "serve",
]

#: Rows ``GET /orders`` and ``GET /fills`` return when no ``limit`` is given, and the most allowed.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The largest ``since_ms`` accepted: the store keeps times as signed 64-bit integers, and a
#: larger value cannot even be bound as a query parameter (it failed as a 500).
MAX_TIME_MS = 2**63 - 1

T = TypeVar("T")

# Litestar appends "; charset=utf-8" to text types itself.
_METRICS_TYPE = "text/plain; version=0.0.4"
_NO_STORE = "this bot has no store: orders, fills and performance are not recorded"
_STORE_FAILED = "the store could not be read; see the bot's log"


# -- payloads ----------------------------------------------------------------------------
# The models go out as they are where they hold exactly what a client may see (BotStatus,
# Fill, TodayStatus); orders, positions, days and candles go out as views built from their
# models (tradekit.runner.api_views). Both through Litestar's attrs support, so the document
# shows their fields and enums. The two TypedDicts below copy no model: they are answers made
# up here, with nothing to keep in step.


class HealthOut(TypedDict):
    """``GET /health``."""

    status: str
    mode: str


class CloseOut(TypedDict):
    """``POST /positions/{market}/close``."""

    market: str
    detail: str


class _ResponseModelSchema(AttrsSchemaPlugin):
    """Litestar's attrs schema, made as precise as a hand-written payload.

    Every field of a returned model is always in the JSON, defaulted or not, so all are
    required; the class docstring's first line describes the schema.
    """

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.required = sorted(f.name for f in attrs.fields(field_definition.type_))
        doc = inspect.getdoc(field_definition.type_)
        if doc:
            schema.description = doc.split("\n\n")[0].replace("\n", " ")
        return schema


# -- the app -----------------------------------------------------------------------------


def _log_exception(exc: Exception, scope: Scope) -> None:
    """Log unexpected errors through loguru; HTTP errors raised on purpose carry their reason."""
    if isinstance(exc, HTTPException):
        return
    method = scope.get("method", "")
    path = scope.get("path", "")
    logger.opt(exception=exc).error("api: {} {} failed: {}", method, path, type(exc).__name__)


async def _read_store(bot: BotControl, read: Callable[[AsyncStore], Awaitable[T]]) -> T:
    store = bot.store
    if store is None:
        raise ServiceUnavailableException(detail=_NO_STORE)
    try:
        return await read(store)
    except StorageError as exc:
        # The message names the database (password masked); it goes to the log, not the client.
        logger.error("api: reading the store failed: {}", exc)
        raise ServiceUnavailableException(detail=_STORE_FAILED) from None


def _recent(items: list[T], limit: int) -> tuple[list[T], bool]:
    return (items[-limit:], True) if len(items) > limit else (items, False)


Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_LIMIT, description=f"at most this many rows (1 to {MAX_LIMIT})"),
]
SinceMs = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=MAX_TIME_MS,
        description=f"only rows at or after this time (UTC ms, 0 to {MAX_TIME_MS})",
        # Litestar drops a bound of 0 from the document (it tests the value's truth), and for
        # an optional int it shows neither bound inside the oneOf: state both explicitly.
        schema_extra={"minimum": 0, "maximum": MAX_TIME_MS},
    ),
]
MarketFilter = Annotated[
    str | None,
    QueryParameter(pattern=MARKET_ID_PATTERN, description="only this market, e.g. KRW-BTC"),
]
MarketPath = Annotated[
    str, PathParameter(pattern=MARKET_ID_PATTERN, description="a market id, e.g. KRW-BTC")
]

# What each parameter accepts, added to a 400's reason: Litestar's own message names only the
# bound that was crossed ("Expected `int` <= ...").
_ALLOWED = {
    "since_ms": f"an integer from 0 to {MAX_TIME_MS} (UTC ms)",
    "limit": f"an integer from 1 to {MAX_LIMIT}",
    "status": "one of " + ", ".join(s.value for s in OrderStatus),
    "market": "a market id such as KRW-BTC",
}


def _explain_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's 400 response, its reason completed with what each bad parameter accepts."""
    items = exc.extra if isinstance(exc.extra, list) else []
    keys = dict.fromkeys(item.get("key") for item in items if isinstance(item, dict))
    hints = [f"{key} must be {_ALLOWED[key]}" for key in keys if key in _ALLOWED]
    if hints:
        exc = ValidationException(
            detail=f"{exc.detail}: {'; '.join(hints)}", extra=exc.extra, headers=exc.headers
        )
    return create_exception_response(request, exc)


StatusFilter = Annotated[
    list[OrderStatus] | None,
    QueryParameter(description="only orders in these states (repeat the parameter for several)"),
]


def _control_routes(
    bot: BotControl,
    metrics: Metrics,
    refusal: type[HTTPException],
    security: list[dict[str, list[str]]] | None,
) -> type[Controller]:
    """The control routes over ``bot`` as one controller.

    ``refusal`` is what a caller without the right token gets (401, or 403 without a token),
    documented on every route; ``security`` the scheme the document names, if any.
    """
    the_bot, the_metrics, required = bot, metrics, security
    # Routes that read the store also answer 503 when there is none or it cannot be read.
    stored = [refusal, ServiceUnavailableException]

    class ControlRoutes(Controller):
        """Status, positions, the store's records, pause, resume, close, metrics."""

        security = required
        bot: ClassVar[BotControl] = the_bot
        metrics: ClassVar[Metrics] = the_metrics

        @get("/status", summary="Bot status", raises=[refusal])
        async def status(self) -> BotStatus:
            """Mode, markets, equity and cash, paused or halted, last bars."""
            return self.bot.status()

        @get("/positions", summary="Open positions", raises=[refusal])
        async def positions(self) -> PositionsPage:
            """The open positions with their exit state and unrealised profit."""
            return PositionsPage([PositionView.of(p) for p in self.bot.positions()])

        @get("/orders", summary="Recorded orders", raises=stored)
        async def orders(
            self,
            market: MarketFilter = None,
            status: StatusFilter = None,
            since_ms: SinceMs = None,
            limit: Limit = DEFAULT_LIMIT,
        ) -> OrdersPage:
            """The most recent ``limit`` matching orders from the store, oldest first."""
            # One row more than asked tells whether older ones were left out.
            found = await _read_store(
                self.bot,
                lambda s: s.orders(
                    market=market, statuses=status, since_ms=since_ms, latest=limit + 1
                ),
            )
            rows, truncated = _recent(found, limit)
            return OrdersPage([OrderView.of(o) for o in rows], truncated)

        @get("/fills", summary="Recorded fills", raises=stored)
        async def fills(
            self,
            market: MarketFilter = None,
            since_ms: SinceMs = None,
            limit: Limit = DEFAULT_LIMIT,
        ) -> FillsPage:
            """The most recent ``limit`` matching fills from the store, oldest first."""
            found = await _read_store(
                self.bot, lambda s: s.fills(market=market, since_ms=since_ms, latest=limit + 1)
            )
            rows, truncated = _recent(found, limit)
            return FillsPage(rows, truncated)

        @get("/performance", summary="Daily performance", raises=stored)
        async def performance(self) -> PerformancePage:
            """Every recorded trading day (Asia/Seoul), oldest first."""
            days = await _read_store(self.bot, lambda s: s.performance())
            return PerformancePage([DayView.of(d) for d in days])

        @post("/pause", status_code=200, summary="Pause new entries", raises=[refusal])
        async def pause(self, request: Request[Any, Any, Any]) -> BotStatus:
            """Stop new entries; exits keep working. Idempotent. Returns the new status."""
            logger.info("api: pause requested by {}", _client(request))
            self.bot.pause()
            return self.bot.status()

        @post("/resume", status_code=200, summary="Resume new entries", raises=[refusal])
        async def resume(self, request: Request[Any, Any, Any]) -> BotStatus:
            """Allow new entries again (a risk-rule halt still applies). Returns the new status."""
            logger.info("api: resume requested by {}", _client(request))
            self.bot.resume()
            return self.bot.status()

        @post(
            "/positions/{market:str}/close",
            status_code=202,
            summary="Close a position",
            raises=[refusal, NotFoundException],
        )
        async def close_position(
            self, market: MarketPath, request: Request[Any, Any, Any]
        ) -> CloseOut:
            """Close the position (reason ``manual``): on paper at the next bar's open, live now.

            404 when the bot does not trade the market or holds nothing in it.
            """
            logger.info("api: close of {!r} requested by {}", market, _client(request))
            try:
                self.bot.request_close(market)
            except UnknownMarket:
                raise NotFoundException(
                    detail=f"unknown market {market!r}: this bot trades "
                    + ", ".join(self.bot.status().markets)
                ) from None
            except NoPosition:
                raise NotFoundException(detail=f"no open position in {market}") from None
            live = self.bot.status().mode == "live"
            when = "now, with a market order" if live else "at the next bar's open"
            return {"market": market, "detail": f"the position is closed {when}"}

        @get("/metrics", summary="Prometheus metrics", media_type=_METRICS_TYPE, raises=[refusal])
        async def metrics_text(self) -> Response[bytes]:
            """The Prometheus text exposition (format 0.0.4)."""
            # Refresh the snapshot gauges so a scrape never sees stale equity or positions.
            self.metrics.update_status(self.bot.status())
            self.metrics.update_positions(self.bot.positions())
            return Response(self.metrics.render(), media_type=_METRICS_TYPE)

    return ControlRoutes


def create_app(bot: BotControl, *, token: str | None, metrics: Metrics) -> Litestar:
    """The control API over ``bot``.

    Args:
        bot: the running bot (or anything implementing :class:`BotControl`).
        token: the bearer token every route but ``/health`` requires. None or an empty string
            (``${TRADEKIT_API_TOKEN:-}`` with the variable unset) serves without one, but then
            only to requests addressed to localhost and not sent by another site's web page.
        metrics: the bot's metrics, exposed at ``GET /metrics``.
    """
    # Surrounding whitespace (a token read from a file) could never be sent in a header.
    token = token.strip() if token is not None else None
    if not token:
        token = None

    # In the OpenAPI document, per route: /health needs no token; the others answer 401
    # without the right token, or 403 to a foreign Host or Origin when there is no token.
    refusal: type[HTTPException] = (
        NotAuthorizedException if token is not None else PermissionDeniedException
    )
    secured: dict[str, Any] = {"raises": [refusal]}
    if token is not None:
        secured["security"] = [{BEARER: []}]
    routes = _control_routes(bot, metrics, refusal, secured.get("security"))

    @get("/health", opt={PUBLIC: True}, summary="Liveness")
    async def health() -> HealthOut:
        """Always 200 while the process serves requests; needs no token."""
        return {"status": "ok", "mode": bot.status().mode}

    components = Components(security_schemes={BEARER: SecurityScheme(type="http", scheme="bearer")})
    return Litestar(
        route_handlers=[
            health,
            routes,
            *dashboard_routes(
                bot, token_required=token is not None, secured=secured, public={PUBLIC: True}
            ),
        ],
        guards=[token_guard(token) if token is not None else local_guard],
        openapi_config=OpenAPIConfig(
            title="tradekit control API",
            version=__version__,
            path="/schema",
            use_handler_docstrings=True,
            # JSON and YAML only: the HTML viewers load scripts from CDNs and cannot send the
            # bearer token anyway.
            render_plugins=[
                JsonRenderPlugin(path=["/", "/openapi.json"]),
                YamlRenderPlugin(path=["/openapi.yaml"]),
            ],
            components=components if token is not None else Components(),
        ),
        plugins=[_ResponseModelSchema()],
        after_exception=[_log_exception],
        exception_handlers={ValidationException: _explain_validation},
        # Litestar's own logging config would replace the loguru routing set up in tradekit.log.
        logging_config=None,
        # Explicit: LITESTAR_DEBUG=1 in the environment would put tracebacks into responses.
        debug=False,
        pdb_on_exception=False,
    )


def _client(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else "unknown client"
