"""A fake Bithumb (API 2.0) on 127.0.0.1: REST and public WebSocket over real sockets.

The server runs its own asyncio event loop in a background thread, so synchronous tests and
async tests (on any event loop) can use it alike. Control methods are plain synchronous calls
that are safe from any thread.

Example:
    >>> with FakeBithumb() as server:  # doctest: +SKIP
    ...     server.set_price("KRW-BTC", 50_000_000)
    ...     httpx.get(f"{server.base_url}/v1/ticker", params={"markets": "KRW-BTC"})
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import anyio
import attrs
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tradekit_bithumb.testing.auth import (
    AuthError,
    JwtVerifier,
    query_strings_for_body,
    query_strings_for_url,
)
from tradekit_bithumb.testing.exchange import (
    MINUTE_UNITS,
    ApiError,
    Balance,
    CandleUnit,
    Exchange,
    Number,
    Order,
    invalid_parameter,
    missing_parameter,
)
from tradekit_bithumb.testing.faults import Faults
from tradekit_bithumb.testing.httpd import HttpRequest, HttpResponse, HttpServer
from tradekit_bithumb.testing.messages import (
    candle_json,
    orderbook_json,
    ticker_json,
    trade_tick_json,
)
from tradekit_bithumb.testing.rules import KST, public_number
from tradekit_bithumb.testing.ws import Subscription, WsHub

T = TypeVar("T")
Params = dict[str, Any]
RouteHandler = Callable[[Params], tuple[int, Any]]

DEFAULT_MARKETS: dict[str, tuple[str, str]] = {
    "KRW-BTC": ("비트코인", "Bitcoin"),
    "KRW-ETH": ("이더리움", "Ethereum"),
    "KRW-XRP": ("엑스알피(리플)", "XRP"),
}
WS_PATH = "/websocket/v1"
_MINUTES_PATH = re.compile(r"^/v1/candles/minutes/([^/]+)$")
_CANDLE_TO_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


@attrs.frozen
class RecordedRequest:
    """One REST request the server received, with what it answered.

    Attributes:
        method: HTTP method.
        path: Path without the query string.
        query: Raw query string.
        params: Parsed parameters (query or JSON body; ``uuids[]`` arrives as key ``uuids``).
        headers: Request headers, names in lower case.
        status: Status answered (also for a delayed or dropped answer).
        response: JSON body answered.
        fault: The injected fault that shaped the answer, if any.
        at: Unix time the request arrived.
    """

    method: str
    path: str
    query: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: Any
    fault: str | None
    at: float


class FakeBithumb:
    """A fake Bithumb API 2.0 server for tests.

    Args:
        api_key: The access key private requests must be signed with.
        api_secret: The matching secret key.
        markets: Markets to list, ``{"KRW-BTC": ("비트코인", "Bitcoin")}``; default BTC, ETH, XRP.
        krw: Starting free KRW balance.
        fee_rate: Fee rate for every fill (Bithumb's default 0.25 %).
        min_order_krw: Minimum order value in KRW (reported by ``/v1/orders/chance`` too).
        max_clock_skew: Seconds a JWT ``timestamp`` may differ from the server clock before
            ``expired_jwt``; None turns the check off.
        duplicate_client_order_id: ``"return_existing"`` (documented Bithumb behaviour: a re-sent
            ``client_order_id`` returns the existing order) or ``"reject"`` (400
            ``duplicate_client_order_id``). Either way nothing new is created.
        ws_binary_frames: Send WebSocket messages as binary frames (Bithumb may).
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-access-key",
        # 32+ bytes: PyJWT warns about shorter HMAC keys, which fails warnings-as-errors suites.
        api_secret: str = "fake-bithumb-secret-key-0123456789abcdef",
        markets: Mapping[str, tuple[str, str]] | None = None,
        krw: Number = 10_000_000,
        fee_rate: Number = "0.0025",
        min_order_krw: Number = 5000,
        max_clock_skew: float | None = 60.0,
        duplicate_client_order_id: Literal["return_existing", "reject"] = "return_existing",
        ws_binary_frames: bool = False,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.exchange = Exchange(
            DEFAULT_MARKETS if markets is None else markets,
            Decimal(str(fee_rate)),
            Decimal(str(min_order_krw)),
            duplicate_client_order_id,
        )
        self.exchange.set_balance("KRW", Decimal(str(krw)), None)
        self._auth = JwtVerifier(api_key, api_secret, max_clock_skew)
        self.faults = Faults(self._drop_ws)
        self._hub = WsHub(self.exchange, self.faults, binary_frames=ws_binary_frames)
        self._http = HttpServer(self._handle, _json_default)
        self._requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []
        self._requests_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ws_server: Server | None = None
        self._start_error: BaseException | None = None
        self.port = 0
        self.ws_port = 0

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Public WebSocket URL, e.g. ``ws://127.0.0.1:54322/websocket/v1``."""
        return f"ws://127.0.0.1:{self.ws_port}{WS_PATH}"

    def start(self) -> FakeBithumb:
        """Bind free ports on 127.0.0.1 and start serving; returns self."""
        if self._thread is not None:
            raise RuntimeError("the fake Bithumb server is already started")
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-bithumb", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Bithumb server did not start within 10 s")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the fake Bithumb server failed to start") from self._start_error
        return self

    def stop(self) -> None:
        """Close every connection (pending delayed answers included) and stop the thread."""
        if self._thread is None or self._loop is None:
            return
        stopping = self._stopping
        if stopping is not None:
            self._loop.call_soon_threadsafe(stopping.set)
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError("the fake Bithumb server did not stop within 10 s")
        self._thread = None

    def __enter__(self) -> FakeBithumb:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- market data control -------------------------------------------------------------

    def add_market(
        self, market: str, korean_name: str = "", english_name: str = "", warning: str = "NONE"
    ) -> None:
        """List a market (``warning`` is ``NONE`` or ``CAUTION``)."""
        self.exchange.add_market(market, korean_name, english_name, warning)

    def load_candles(self, market: str, unit: CandleUnit, rows: Iterable[Sequence[Number]]) -> None:
        """Load candles served by ``/v1/candles/minutes/{unit}`` or (``unit="days"``) ``/days``.

        Args:
            market: e.g. ``"KRW-BTC"``.
            unit: Minutes (1, 3, 5, 10, 15, 30, 60, 240) or ``"days"``.
            rows: ``(open_time_ms, open, high, low, close, volume)`` with the UTC open time in
                ms; an optional 7th value is the KRW turnover (default close * volume).
        """
        self.exchange.load_candles(market, unit, rows)

    def set_price(self, market: str, price: Number) -> None:
        """Set the current price (no trade print); resting limit orders it crosses fill."""
        self.exchange.set_price(market, Decimal(str(price)))
        self._publish()

    def set_price_path(self, market: str, prices: Sequence[Number]) -> None:
        """Script the price: the current price becomes ``prices[0]``; each market order fills at
        the current price and then steps the path, so order *i* fills at ``prices[i]`` (the last
        price then stays). :meth:`advance_price` steps it by hand.
        """
        if not prices:
            raise ValueError("a price path needs at least one price")
        values = [Decimal(str(p)) for p in prices]
        self.exchange.set_price(market, values[0], values[1:])
        self._publish()

    def advance_price(self, market: str) -> Decimal | None:
        """Step the price path: a trade prints at the next price (streamed on the WebSocket).

        Returns:
            The new price, or None when the path is exhausted.
        """
        price = self.exchange.advance_price(market)
        self._publish()
        return price

    def push_trade(
        self,
        market: str,
        price: Number,
        volume: Number,
        time_ms: int | None = None,
        ask_bid: Literal["ASK", "BID"] = "BID",
    ) -> None:
        """Print a public trade: it moves the price, fills crossed limit orders, shows up in
        ``/v1/trades/ticks`` and is streamed (trade, ticker and orderbook) before this returns.
        """
        self.exchange.record_trade(
            market, Decimal(str(price)), Decimal(str(volume)), time_ms, ask_bid
        )
        self._publish()

    # ---- account control -----------------------------------------------------------------

    def set_balance(
        self, currency: str, amount: Number, avg_buy_price: Number | None = None
    ) -> None:
        """Set the free balance of a currency (e.g. ``"KRW"``, ``"BTC"``)."""
        avg = Decimal(str(avg_buy_price)) if avg_buy_price is not None else None
        self.exchange.set_balance(currency, Decimal(str(amount)), avg)

    def balance(self, currency: str) -> Balance:
        """A copy of one currency's balance (``balance`` free, ``locked``, ``avg_buy_price``)."""
        with self.exchange.lock:
            return copy.copy(self.exchange.balances.get(currency, Balance()))

    @property
    def orders(self) -> list[Order]:
        """Copies of every order, oldest first."""
        with self.exchange.lock:
            return [copy.deepcopy(order) for order in self.exchange.orders.values()]

    def get_order(self, order_id: str) -> Order:
        """A copy of one order; KeyError if unknown."""
        with self.exchange.lock:
            return copy.deepcopy(self.exchange.orders[order_id])

    def orders_for_client_order_id(self, client_order_id: str) -> list[Order]:
        """Every order carrying ``client_order_id`` (the fake never makes more than one)."""
        return [order for order in self.orders if order.client_order_id == client_order_id]

    @property
    def duplicate_client_order_ids(self) -> list[str]:
        """Each re-sent ``client_order_id`` that was refused a new order, in arrival order."""
        with self.exchange.lock:
            return list(self.exchange.duplicates)

    def fill_order(
        self, order_id: str, volume: Number | None = None, price: Number | None = None
    ) -> Order:
        """Fill a resting limit order, fully or partly, at ``price`` (default its limit)."""
        order = self.exchange.fill_order(
            order_id,
            Decimal(str(volume)) if volume is not None else None,
            Decimal(str(price)) if price is not None else None,
        )
        self._publish()
        return copy.deepcopy(order)

    # ---- observation ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request received so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path."""
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    @property
    def ws_connection_count(self) -> int:
        """WebSocket connections open now."""
        return len(self._hub.connections)

    @property
    def ws_connects(self) -> int:
        """WebSocket connections accepted since start."""
        return self._hub.connects

    @property
    def ws_subscriptions(self) -> list[Subscription]:
        """Every valid subscription request received since start."""
        return list(self._hub.subscriptions)

    def wait_for_ws_subscriptions(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` subscriptions have arrived in total (for synchronous tests)."""
        deadline = time.monotonic() + timeout
        while len(self._hub.subscriptions) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._hub.subscriptions)} of {count} subscriptions")
            time.sleep(0.01)

    async def ws_subscribed(self, count: int = 1) -> None:
        """Wait until ``count`` subscriptions have arrived in total (for async tests).

        Wrap it in ``anyio.fail_after`` to bound the wait.
        """
        # Subscriptions arrive on the server's thread, so poll rather than share an anyio.Event.
        while len(self._hub.subscriptions) < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)

    # ---- internals: threads --------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        try:
            await self._http.start()
            self._ws_server = await serve(
                self._hub.handle,
                "127.0.0.1",
                0,
                process_request=_only_ws_path,
                # Bithumb does not ping clients; clients ping it (docs/bithumb.md#websocket-stream).
                ping_interval=None,
                # Keep stop() quick even when a client never answers the close frame.
                close_timeout=1,
            )
        except BaseException as exc:
            self._start_error = exc
            await self._http.stop()
            ready.set()
            return
        self.port = self._http.port
        self.ws_port = next(iter(self._ws_server.sockets)).getsockname()[1]
        ready.set()
        await self._stopping.wait()
        self._ws_server.close()
        await self._ws_server.wait_closed()
        await self._http.stop()

    def _on_loop(self, make: Callable[[], Awaitable[T]], default: T) -> T:
        """Run a coroutine on the server's loop from another thread and wait for it."""
        loop = self._loop
        if self._thread is None or loop is None or not loop.is_running():
            return default
        if threading.current_thread() is self._thread:
            raise RuntimeError("control methods must not be called from the server's own thread")

        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def _publish(self) -> None:
        events = self.exchange.drain_events()
        if events:
            self._on_loop(lambda: self._hub.publish(events), None)

    def _drop_ws(self) -> int:
        async def drop() -> int:
            return self._hub.drop_all()

        return self._on_loop(drop, 0)

    # ---- internals: REST -----------------------------------------------------------------

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        params: Params = {}
        fault_name: str | None = None
        try:
            response, params, fault_name = self._dispatch(request)
        except Exception as exc:
            # A bug in the fake must not look like a network fault: answer 500, keep it for tests.
            self.errors.append(exc)
            body = _error_body("fake_server_error", f"{type(exc).__name__}: {exc}")
            response = HttpResponse(500, body)
        finally:
            await self._hub.publish(self.exchange.drain_events())
        after = self.faults.take_after_accept(request.method, request.path)
        if after is not None:
            fault_name = after.kind
            response = attrs.evolve(response, delay=after.delay, drop=after.drop)
        with self._requests_lock:
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    params=params,
                    headers=dict(request.headers),
                    status=response.status,
                    response=response.body,
                    fault=fault_name,
                    at=time.time(),
                )
            )
        return response

    def _dispatch(self, request: HttpRequest) -> tuple[HttpResponse, Params, str | None]:
        before = self.faults.take_before(request.method, request.path)
        if before is not None:
            headers = {}
            if before.retry_after is not None:
                headers["Retry-After"] = f"{before.retry_after:g}"
            body = _error_body(before.name, before.message)
            return HttpResponse(before.status, body, headers), {}, before.kind
        params: Params = {}
        try:
            handler, private = self._route(request.method, request.path)
            params, hashed = _parse_params(request)
            if private:
                try:
                    self._auth.verify(request.headers.get("authorization"), hashed)
                except AuthError as exc:
                    raise ApiError(401, exc.name, exc.message) from None
                if (request.method, request.path) == ("GET", "/v1/order") and (
                    self.faults.take_order_not_ready(request.method, request.path)
                ):
                    body = _error_body(
                        "order_not_ready", "주문 접수 처리 중입니다. 잠시 후 다시 시도해주세요."
                    )
                    return HttpResponse(422, body), params, "order_not_ready"
            status, body = handler(params)
        except ApiError as exc:
            return HttpResponse(exc.status, _error_body(exc.name, exc.message)), params, None
        return HttpResponse(status, body), params, None

    def _route(self, method: str, path: str) -> tuple[RouteHandler, bool]:
        routes: dict[tuple[str, str], tuple[RouteHandler, bool]] = {
            ("GET", "/v1/market/all"): (self._market_all, False),
            ("GET", "/v1/candles/days"): (lambda p: self._candles(p, "days"), False),
            ("GET", "/v1/ticker"): (self._ticker, False),
            ("GET", "/v1/orderbook"): (self._orderbook, False),
            ("GET", "/v1/trades/ticks"): (self._trades, False),
            ("GET", "/v1/accounts"): (self._accounts, True),
            ("GET", "/v1/orders/chance"): (self._chance, True),
            ("POST", "/v2/orders"): (lambda p: self._place(p, "v2"), True),
            ("POST", "/v1/orders"): (lambda p: self._place(p, "v1"), True),
            ("GET", "/v1/order"): (self._get_order, True),
            ("GET", "/v1/orders"): (self._list_orders, True),
            ("DELETE", "/v2/order"): (self._cancel_v2, True),
            ("DELETE", "/v1/order"): (self._cancel_v1, True),
        }
        route = routes.get((method, path))
        if route is not None:
            return route
        match = _MINUTES_PATH.match(path)
        if match and method == "GET":
            unit_text = match.group(1)
            if not unit_text.isdigit() or int(unit_text) not in MINUTE_UNITS:
                raise invalid_parameter(
                    f"minute unit must be one of {MINUTE_UNITS}, got {unit_text}"
                )
            return (lambda p: self._candles(p, int(unit_text))), False
        if any(known_path == path for _, known_path in routes):
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}")
        raise ApiError(404, "not_found", f"no such endpoint in the fake server: {method} {path}")

    # public

    def _market_all(self, params: Params) -> tuple[int, Any]:
        details = _text(params, "isDetails") == "true"
        with self.exchange.lock:
            rows = []
            for info in self.exchange.markets.values():
                row = {
                    "market": info.market,
                    "korean_name": info.korean_name,
                    "english_name": info.english_name,
                }
                if details:
                    row["market_warning"] = info.market_warning
                rows.append(row)
        return 200, rows

    def _candles(self, params: Params, unit: CandleUnit) -> tuple[int, Any]:
        market = _required(params, "market")
        count = _int(params, "count", default=1, low=1, high=200)
        to_text = _text(params, "to")
        to_ms = _parse_candle_to(to_text) if to_text else None
        candles = self.exchange.candles_before(market, unit, to_ms, count)
        rows = [
            candle_json(
                market,
                unit,
                candle,
                self.exchange.previous_candle(market, unit, candle.open_time_ms)
                if unit == "days"
                else None,
            )
            for candle in candles
        ]
        return 200, rows

    def _markets_param(self, params: Params) -> list[str]:
        markets = [m.strip() for m in _required(params, "markets").split(",") if m.strip()]
        if not markets or len(markets) > 200:
            raise invalid_parameter("markets must list 1 to 200 market codes")
        for market in markets:
            if market not in self.exchange.markets:
                raise invalid_parameter(f"unknown market {market!r}")
        return markets

    def _ticker(self, params: Params) -> tuple[int, Any]:
        markets = self._markets_param(params)
        with self.exchange.lock:
            return 200, [ticker_json(m, self.exchange.ticker(m)) for m in markets]

    def _orderbook(self, params: Params) -> tuple[int, Any]:
        markets = self._markets_param(params)
        depth = 30 if len(markets) == 1 else 15
        with self.exchange.lock:
            size = self.exchange.orderbook_size
            return 200, [
                orderbook_json(m, self.exchange.ticker(m).price, size, depth) for m in markets
            ]

    def _trades(self, params: Params) -> tuple[int, Any]:
        market = _required(params, "market")
        count = _int(params, "count", default=1, low=1, high=500)
        cursor_text = _text(params, "cursor")
        cursor = _int(params, "cursor", default=0, low=0, high=2**63) if cursor_text else None
        trades = self.exchange.recent_trades(market, count, cursor)
        return 200, [trade_tick_json(trade) for trade in trades]

    # private

    def _accounts(self, params: Params) -> tuple[int, Any]:
        return 200, self.exchange.accounts()

    def _chance(self, params: Params) -> tuple[int, Any]:
        return 200, self.exchange.chance(_required(params, "market"))

    def _place(self, params: Params, api: Literal["v1", "v2"]) -> tuple[int, Any]:
        order, _created = self.exchange.place_order(params, api)
        with self.exchange.lock:
            return 201, order.to_v2_created() if api == "v2" else order.to_json()

    def _get_order(self, params: Params) -> tuple[int, Any]:
        uuid, client_id = _text(params, "uuid"), _text(params, "client_order_id")
        if not uuid and not client_id:
            raise missing_parameter()
        order = self.exchange.find_order(uuid or None, client_id or None)
        with self.exchange.lock:
            return 200, order.to_json(with_trades=True)

    def _list_orders(self, params: Params) -> tuple[int, Any]:
        market = _text(params, "market") or None
        state, states = _text(params, "state"), _list(params, "states")
        if state and states:
            raise invalid_parameter("send state or states[], not both")
        allowed = {"wait", "watch", "done", "cancel"}
        chosen = [state] if state else states
        if any(s not in allowed for s in chosen):
            raise invalid_parameter(f"states must be among {sorted(allowed)}")
        order_by = _text(params, "order_by") or "desc"
        if order_by not in ("asc", "desc"):
            raise invalid_parameter("order_by must be asc or desc")
        orders = self.exchange.list_orders(
            market,
            _list(params, "uuids"),
            _list(params, "client_order_ids"),
            chosen,
            _int(params, "page", default=1, low=1, high=10**9),
            _int(params, "limit", default=100, low=1, high=100),
            newest_first=order_by == "desc",
        )
        with self.exchange.lock:
            return 200, [order.to_json() for order in orders]

    def _cancel_v2(self, params: Params) -> tuple[int, Any]:
        order_id, client_id = _text(params, "order_id"), _text(params, "client_order_id")
        if not order_id and not client_id:
            raise missing_parameter()
        order = self.exchange.cancel_order(order_id or None, client_id or None)
        return 200, {
            "order_id": order.order_id,
            "created_at": order.created_at.isoformat(timespec="seconds"),
        }

    def _cancel_v1(self, params: Params) -> tuple[int, Any]:
        uuid = _text(params, "uuid")
        if not uuid:
            raise missing_parameter()
        order = self.exchange.cancel_order(uuid, None)
        with self.exchange.lock:
            return 200, order.to_json()


# ---- helpers -----------------------------------------------------------------------------


def _only_ws_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] != WS_PATH:
        return connection.respond(404, f"Only {WS_PATH} is served here\n")
    return None


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return public_number(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _error_body(name: str | int, message: str) -> dict[str, Any]:
    return {"error": {"name": name, "message": message}}


def _parse_params(request: HttpRequest) -> tuple[Params, set[str] | None]:
    """The request's parameters and the strings its ``query_hash`` may cover (None: no params)."""
    if request.method == "POST" and request.body.strip():
        try:
            # Numbers keep their literal text, so the hashed k=v string matches what was sent.
            body = json.loads(request.body, parse_float=str, parse_int=str)
        except ValueError:
            raise invalid_parameter("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise invalid_parameter("request body must be a JSON object")
        return body, query_strings_for_body(body) if body else None
    params: Params = {}
    for key, value in parse_qsl(request.query, keep_blank_values=True):
        if key.endswith("[]"):
            params.setdefault(key[:-2], []).append(value)
        else:
            params[key] = value
    return params, query_strings_for_url(request.query) if request.query else None


def _text(params: Params, key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, list):
        raise invalid_parameter(f"{key} must be a single value")
    return str(value)


def _required(params: Params, key: str) -> str:
    value = _text(params, key)
    if not value:
        raise missing_parameter()
    return value


def _list(params: Params, key: str) -> list[str]:
    value = params.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_parameter(f"{key} must be sent as {key}[]")
    return [str(item) for item in value]


def _int(params: Params, key: str, *, default: int, low: int, high: int) -> int:
    text = _text(params, key)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid_parameter(f"{key} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise invalid_parameter(f"{key} must be between {low} and {high}, got {value}")
    return value


def _parse_candle_to(text: str) -> int:
    # Naive KST only: the official kit reports HTTP 400 for a 'Z' or an offset
    # (docs/bithumb.md#candles).
    for pattern in _CANDLE_TO_FORMATS:
        try:
            moment = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return int(moment.replace(tzinfo=KST).timestamp() * 1000)
    raise invalid_parameter(
        f"Invalid parameter: to={text!r}; "
        "expected naive KST 'YYYY-MM-DDTHH:MM:SS' or 'YYYY-MM-DD HH:MM:SS'"
    )


__all__ = ["DEFAULT_MARKETS", "FakeBithumb", "RecordedRequest"]
