"""The control API: a small Litestar app over a running bot, served by uvicorn in the runner.

Routes: ``GET /health`` (no auth), ``GET /status``, ``GET /positions``, ``GET /orders``,
``GET /fills``, ``GET /performance``, ``POST /pause``, ``POST /resume``,
``POST /positions/{market}/close``, ``GET /metrics`` and the OpenAPI document at ``/schema``;
the dashboard at ``GET /`` with ``GET /today`` and ``GET /candles/{market}``
(:mod:`tradekit.runner.dashboard`).
Every route but ``/health`` and the dashboard's page and files (which hold no data) needs
``Authorization: Bearer <token>`` when a token is set.

Errors are JSON ``{"status_code": ..., "detail": "<reason>"}`` (validation errors add
``extra``, naming the parameter). A 5xx never carries an exception's text: it may hold a URL or
a secret. A client must send its request head within ``header_timeout`` seconds or is
disconnected (408 if it had begun), so half-sent requests cannot pile up.

The API only reads snapshots and asks the bot to act (pause, resume, close); the engine stays the
one writer of trading state.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypedDict, TypeVar

import anyio
import uvicorn
from anyio.abc import TaskStatus
from litestar import Litestar, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import PathParameter, QueryParameter
from litestar.types import Scope
from loguru import logger

from tradekit import __version__
from tradekit.errors import StorageError
from tradekit.events import DailyReport
from tradekit.markets import MARKET_ID_PATTERN
from tradekit.models import Fill, Order, OrderStatus, Position
from tradekit.runner.control import BotControl, BotStatus, NoPosition, UnknownMarket
from tradekit.runner.dashboard import dashboard_routes
from tradekit.runner.http_timeout import header_timeout_protocol
from tradekit.runner.metrics import Metrics
from tradekit.store import AsyncStore

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_TIME_MS",
    "create_app",
    "day_to_dict",
    "fill_to_dict",
    "order_to_dict",
    "position_to_dict",
    "serve",
    "status_to_dict",
]

#: Rows ``GET /orders`` and ``GET /fills`` return when no ``limit`` is given, and the most allowed.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The largest ``since_ms`` accepted: the store keeps times as signed 64-bit integers, and a
#: larger value cannot even be bound as a query parameter (it failed as a 500).
MAX_TIME_MS = 2**63 - 1

T = TypeVar("T")

_PUBLIC = "public"  # route handler opt key: no token needed
_BEARER = "BearerToken"
_CHALLENGE = 'Bearer realm="tradekit"'
# Litestar appends "; charset=utf-8" to text types itself.
_METRICS_TYPE = "text/plain; version=0.0.4"
_NO_STORE = "this bot has no store: orders, fills and performance are not recorded"
_STORE_FAILED = "the store could not be read; see the bot's log"


# -- payloads ----------------------------------------------------------------------------
# TypedDicts, not attrs classes: the OpenAPI document shows their fields, and the explicit
# to-dict functions decide what leaves the process (enums as values, nothing secret).


class HealthOut(TypedDict):
    """``GET /health``."""

    status: str
    mode: str


class StatusOut(TypedDict):
    """``GET /status``: see :class:`~tradekit.runner.control.BotStatus`."""

    mode: str
    version: str
    markets: list[str]
    timeframe: str
    strategy: str
    paused: bool
    halted: bool
    equity: float
    cash: float
    started_ms: int
    last_bar_ms: dict[str, int]
    bars_processed: int
    fills: int
    open_positions: int
    remainders: dict[str, float]
    blocked: dict[str, str]


class PositionOut(TypedDict):
    """One open position."""

    market: str
    quantity: float
    entry_price: float
    entry_time_ms: int
    stop: float | None
    take_profit_price: float | None
    take_profit_reached: bool
    highest: float | None
    trailing_stop: float | None  # distance below ``highest`` once the take-profit was reached
    last_price: float | None
    unrealized_pnl: float
    status: str
    remainder: float


class PositionsOut(TypedDict):
    """``GET /positions``."""

    positions: list[PositionOut]


class OrderOut(TypedDict):
    """One stored order."""

    client_order_id: str
    exchange_order_id: str | None
    market: str
    side: str
    type: str
    volume: float | None
    price: float | None
    status: str
    created_ms: int
    updated_ms: int
    executed_volume: float
    average_price: float | None
    fee: float
    reason: str


class OrdersOut(TypedDict):
    """``GET /orders``: the most recent matching orders, oldest first."""

    orders: list[OrderOut]
    truncated: bool  # more orders matched than ``limit``; the oldest were left out


class FillOut(TypedDict):
    """One stored fill."""

    time_ms: int
    market: str
    side: str
    price: float
    quantity: float
    fee: float
    reason: str
    client_order_id: str | None


class FillsOut(TypedDict):
    """``GET /fills``: the most recent matching fills, oldest first."""

    fills: list[FillOut]
    truncated: bool


class DayOut(TypedDict):
    """One trading day's performance (Asia/Seoul)."""

    trading_day: str  # YYYY-MM-DD; the store keeps no event time for a day
    start_equity: float
    end_equity: float
    profit: float
    max_drawdown: float
    trades: int
    win_rate: float | None
    notes: str


class PerformanceOut(TypedDict):
    """``GET /performance``: every recorded day, oldest first."""

    days: list[DayOut]


class CloseOut(TypedDict):
    """``POST /positions/{market}/close``."""

    market: str
    detail: str


def status_to_dict(status: BotStatus) -> StatusOut:
    """The JSON form of a bot status."""
    return {
        "mode": status.mode,
        "version": status.version,
        "markets": list(status.markets),
        "timeframe": status.timeframe,
        "strategy": status.strategy,
        "paused": status.paused,
        "halted": status.halted,
        "equity": status.equity,
        "cash": status.cash,
        "started_ms": status.started_ms,
        "last_bar_ms": dict(status.last_bar_ms),
        "bars_processed": status.bars_processed,
        "fills": status.fills,
        "open_positions": status.open_positions,
        "remainders": dict(status.remainders),
        "blocked": dict(status.blocked),
    }


def position_to_dict(position: Position) -> PositionOut:
    """The JSON form of a position, with its unrealised profit at the last price."""
    return {
        "market": position.market,
        "quantity": position.quantity,
        "entry_price": position.entry_price,
        "entry_time_ms": position.entry_time_ms,
        "stop": position.stop,
        "take_profit_price": position.take_profit_price,
        "take_profit_reached": position.take_profit_reached,
        "highest": position.highest,
        "trailing_stop": position.trailing_stop,
        "last_price": position.last_price,
        "unrealized_pnl": position.unrealized_pnl,
        "status": position.status,
        "remainder": position.remainder,
    }


def order_to_dict(order: Order) -> OrderOut:
    """The JSON form of an order."""
    return {
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "market": order.market,
        "side": order.side.value,
        "type": order.type.value,
        "volume": order.volume,
        "price": order.price,
        "status": order.status.value,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "executed_volume": order.executed_volume,
        "average_price": order.average_price,
        "fee": order.fee,
        "reason": order.reason,
    }


def fill_to_dict(fill: Fill) -> FillOut:
    """The JSON form of a fill."""
    return {
        "time_ms": fill.time_ms,
        "market": fill.market,
        "side": fill.side.value,
        "price": fill.price,
        "quantity": fill.quantity,
        "fee": fill.fee,
        "reason": fill.reason,
        "client_order_id": fill.client_order_id,
    }


def day_to_dict(report: DailyReport) -> DayOut:
    """The JSON form of a daily performance report."""
    return {
        "trading_day": report.trading_day,
        "start_equity": report.start_equity,
        "end_equity": report.end_equity,
        "profit": report.profit,
        "max_drawdown": report.max_drawdown,
        "trades": report.trades,
        "win_rate": report.win_rate,
        "notes": report.notes,
    }


# -- authentication ----------------------------------------------------------------------


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


def _token_guard(
    token: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    expected = token.encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(_PUBLIC):
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


def _local_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Without a token, only this machine's own clients, and no browser page of another site.

    A web page on any site can make the browser send a POST to 127.0.0.1 (CSRF), or reach it
    under its own name through DNS rebinding; neither can forge ``Host`` and ``Origin``.
    """
    if handler.opt.get(_PUBLIC):
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


def _log_exception(exc: Exception, scope: Scope) -> None:
    """Log unexpected errors through loguru; HTTP errors raised on purpose carry their reason."""
    if isinstance(exc, HTTPException):
        return
    method = scope.get("method", "")
    path = scope.get("path", "")
    logger.opt(exception=exc).error("api: {} {} failed: {}", method, path, type(exc).__name__)


# -- the app -----------------------------------------------------------------------------


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
        secured["security"] = [{_BEARER: []}]
    # Routes that read the store also answer 503 when there is none or it cannot be read.
    stored: dict[str, Any] = {**secured, "raises": [refusal, ServiceUnavailableException]}

    @get("/health", opt={_PUBLIC: True}, summary="Liveness")
    async def health() -> HealthOut:
        """Always 200 while the process serves requests; needs no token."""
        return {"status": "ok", "mode": bot.status().mode}

    @get("/status", summary="Bot status", **secured)
    async def status() -> StatusOut:
        """Mode, markets, equity and cash, paused or halted, last bars."""
        return status_to_dict(bot.status())

    @get("/positions", summary="Open positions", **secured)
    async def positions() -> PositionsOut:
        """The open positions with their exit state and unrealised profit."""
        return {"positions": [position_to_dict(p) for p in bot.positions()]}

    @get("/orders", summary="Recorded orders", **stored)
    async def orders(
        market: MarketFilter = None,
        status: StatusFilter = None,
        since_ms: SinceMs = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> OrdersOut:
        """The most recent ``limit`` matching orders from the store, oldest first."""
        # One row more than asked tells whether older ones were left out.
        found = await _read_store(
            bot,
            lambda s: s.orders(market=market, statuses=status, since_ms=since_ms, latest=limit + 1),
        )
        rows, truncated = _recent(found, limit)
        return {"orders": [order_to_dict(o) for o in rows], "truncated": truncated}

    @get("/fills", summary="Recorded fills", **stored)
    async def fills(
        market: MarketFilter = None, since_ms: SinceMs = None, limit: Limit = DEFAULT_LIMIT
    ) -> FillsOut:
        """The most recent ``limit`` matching fills from the store, oldest first."""
        found = await _read_store(
            bot, lambda s: s.fills(market=market, since_ms=since_ms, latest=limit + 1)
        )
        rows, truncated = _recent(found, limit)
        return {"fills": [fill_to_dict(f) for f in rows], "truncated": truncated}

    @get("/performance", summary="Daily performance", **stored)
    async def performance() -> PerformanceOut:
        """Every recorded trading day (Asia/Seoul), oldest first."""
        days = await _read_store(bot, lambda s: s.performance())
        return {"days": [day_to_dict(d) for d in days]}

    @post("/pause", status_code=200, summary="Pause new entries", **secured)
    async def pause(request: Request[Any, Any, Any]) -> StatusOut:
        """Stop new entries; exits keep working. Idempotent. Returns the new status."""
        logger.info("api: pause requested by {}", _client(request))
        bot.pause()
        return status_to_dict(bot.status())

    @post("/resume", status_code=200, summary="Resume new entries", **secured)
    async def resume(request: Request[Any, Any, Any]) -> StatusOut:
        """Allow new entries again (a risk-rule halt still applies). Returns the new status."""
        logger.info("api: resume requested by {}", _client(request))
        bot.resume()
        return status_to_dict(bot.status())

    @post(
        "/positions/{market:str}/close",
        status_code=202,
        summary="Close a position",
        **{**secured, "raises": [refusal, NotFoundException]},
    )
    async def close_position(market: MarketPath, request: Request[Any, Any, Any]) -> CloseOut:
        """Close the position (reason ``manual``): on paper at the next bar's open, live at once.

        404 when the bot does not trade the market or holds nothing in it.
        """
        logger.info("api: close of {!r} requested by {}", market, _client(request))
        try:
            bot.request_close(market)
        except UnknownMarket:
            raise NotFoundException(
                detail=f"unknown market {market!r}: this bot trades "
                + ", ".join(bot.status().markets)
            ) from None
        except NoPosition:
            raise NotFoundException(detail=f"no open position in {market}") from None
        when = (
            "now, with a market order" if bot.status().mode == "live" else "at the next bar's open"
        )
        return {"market": market, "detail": f"the position is closed {when}"}

    @get(
        "/metrics",
        summary="Prometheus metrics",
        media_type=_METRICS_TYPE,
        **secured,
    )
    async def metrics_text() -> Response[bytes]:
        """The Prometheus text exposition (format 0.0.4)."""
        # Refresh the snapshot gauges so a scrape never sees stale equity or positions.
        metrics.update_status(bot.status())
        metrics.update_positions(bot.positions())
        return Response(metrics.render(), media_type=_METRICS_TYPE)

    components = Components(
        security_schemes={_BEARER: SecurityScheme(type="http", scheme="bearer")}
    )
    return Litestar(
        route_handlers=[
            health,
            status,
            positions,
            orders,
            fills,
            performance,
            pause,
            resume,
            close_position,
            metrics_text,
            *dashboard_routes(
                bot, token_required=token is not None, secured=secured, public={_PUBLIC: True}
            ),
        ],
        guards=[_token_guard(token) if token is not None else _local_guard],
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


# -- serving -----------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the runner owns SIGINT/SIGTERM)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_done.set()


async def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(exc.errno, f"control API: cannot resolve {host!r}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"control API: cannot listen on {host}:{port}: {exc.strerror}"
        ) from exc
    return sock


async def serve(
    app: Litestar,
    host: str,
    port: int,
    *,
    graceful_timeout: int = 5,
    header_timeout: float = 10.0,
    keep_alive_timeout: int = 5,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with uvicorn until cancelled (asyncio only).

    Start it in a task group beside the trading loop; ``await tg.start(serve, app, host, port)``
    returns the bound port once it accepts connections (useful with ``port=0``). Cancelling
    the task shuts the server down gracefully: it stops listening, lets running requests
    finish (at most ``graceful_timeout`` seconds) and runs the app's shutdown.

    Logging goes through tradekit's loguru setup (uvicorn's loggers are routed there); access
    lines are not logged, mutating requests are logged by the app.

    Slow or stalled clients are dropped: a connection must complete each request's head
    (request line and headers, at most 16 KiB) within ``header_timeout`` seconds of opening or
    of its previous response, and an idle keep-alive connection is closed after
    ``keep_alive_timeout`` seconds.

    Raises:
        OSError: the address cannot be resolved or bound (e.g. the port is in use).
        RuntimeError: the server failed to start (the reason is logged).
    """
    sock = await _bind(host, port)
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        http=header_timeout_protocol(header_timeout),
        # h11's own default, stated: a request head larger than this is answered 400.
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=keep_alive_timeout,
        ws="none",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_timeout,
    )
    server = _Server(config)
    finished = anyio.Event()
    errors: list[BaseException] = []
    shown = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"

    async def run() -> None:
        # Shielded so that a cancelled caller still gets a clean shutdown: the caller sets
        # should_exit and this task closes the sockets and runs the lifespan shutdown.
        with anyio.CancelScope(shield=True):
            try:
                await server.serve(sockets=[sock])
            except SystemExit:
                # uvicorn exits the process when the app's startup fails; here that must only
                # stop this server, never the trading loop beside it.
                pass
            except Exception as exc:
                errors.append(exc)  # raised below, outside the task group (no ExceptionGroup)
            finally:
                sock.close()
                server.startup_done.set()
                finished.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            try:
                await server.startup_done.wait()
                if server.started:
                    logger.info("control API listening on http://{}", shown)
                    task_status.started(bound_port)
                    await finished.wait()
                    if not errors:
                        logger.warning("control API on {} stopped", shown)
            finally:
                server.should_exit = True
    finally:
        sock.close()
    if errors:
        raise errors[0]
    if not server.started:
        raise RuntimeError(f"control API on {shown} failed to start; see the log")
