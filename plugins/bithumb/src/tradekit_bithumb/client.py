"""``BithumbClient``: Bithumb's REST API 2.0 over ``httpx.AsyncClient``.

Every call goes through one path: rate limiter -> signed request -> error mapping -> bounded
retries of temporary failures (exponential backoff with jitter, ``Retry-After`` honoured).
Reads and cancels are safe to repeat, so they are retried here.

The connector never retries an order: :meth:`BithumbClient.place_order` makes one attempt and
says what it proves (placed, rejected, not sent, or unknown). Retrying and looking orders up
belong to the caller alone (tradekit's ``OrderExecutor``), so the rule that no order is sent
twice lives in one place.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import anyio
import attrs
import httpx
from loguru import logger

from tradekit.backoff import backoff_delay
from tradekit.errors import (
    ConfigError,
    ExchangeError,
    RateLimited,
    TemporaryExchangeError,
)
from tradekit.models import Balance, Bar, Order, OrderStatus, OrderType, Side, Timeframe, Trade
from tradekit_bithumb.auth import QueryEncoder, encode_query, json_body, make_token
from tradekit_bithumb.config import DEFAULT_BASE_URL, BithumbConfig
from tradekit_bithumb.errors import (
    MALFORMED,
    error_from_response,
    error_from_transport,
    malformed,
    order_state_unknown,
)
from tradekit_bithumb.parse import (
    MarketInfo,
    OrderBook,
    OrderChance,
    Ticker,
    kst_naive,
    parse_balances,
    parse_candles,
    parse_chance,
    parse_markets,
    parse_order,
    parse_order_id,
    parse_orderbooks,
    parse_orders,
    parse_tickers,
    parse_time,
    parse_trades,
)
from tradekit_bithumb.ratelimit import Category, RateLimiter

__all__ = ["MAX_CANDLES", "Backoff", "BithumbClient", "candle_path"]

MAX_CANDLES = 200  # per candle request (docs/bithumb.md#candles)
MAX_TICKER_MARKETS = 200  # per ticker request (docs/bithumb.md#known-pitfalls)
MINUTE_UNITS = (1, 3, 5, 10, 15, 30, 60, 240)
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
OrderSide = Literal["bid", "ask"]
BithumbOrderType = Literal["limit", "price", "market", "best"]


@attrs.frozen
class Backoff:
    """Retry delays: ``base * 2**attempt`` capped at ``cap``, the upper half randomised.

    Equal jitter keeps at least half the delay (so a retry storm still backs off) while
    spreading clients that failed together.
    """

    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        return backoff_delay(attempt, self.base, self.cap, jitter=rng)


def candle_path(timeframe: Timeframe) -> str:
    """The candle endpoint for a timeframe (``1h`` -> ``/v1/candles/minutes/60``).

    Raises:
        ConfigError: Bithumb has no candles of that length.
    """
    ms = timeframe.milliseconds
    minutes, rest = divmod(ms, 60_000)
    if rest == 0 and minutes in MINUTE_UNITS:
        return f"/v1/candles/minutes/{minutes}"
    if ms == _DAY_MS:
        return "/v1/candles/days"
    if ms == _WEEK_MS:
        return "/v1/candles/weeks"
    raise ConfigError(
        f"timeframe {timeframe}: Bithumb has candles of 1m, 3m, 5m, 10m, 15m, 30m, 1h, 4h, "
        "1d and 1w only"
    )


class BithumbClient:
    """Async REST client for Bithumb API 2.0.

    Args:
        base_url: REST host, e.g. ``https://api.bithumb.com`` or a test server.
        api_key: API key; needed for private calls only.
        api_secret: Secret key; needed for private calls only.
        timeout: Seconds per request.
        max_retries: Retries of a temporary failure of a read or cancel (0-3); an order is
            never retried.
        backoff: Retry delays.
        max_retry_after: A 429 asking for a longer wait is raised instead of waited out.
        rate_limits: Requests per second per category (public, private, order).
        order_endpoint: ``v2`` (``POST /v2/orders``, with ``client_order_id``) or ``v1``
            (classic ``POST /v1/orders``, which has no idempotency key).
        query_encoder: Builds query strings (for URLs and ``query_hash`` alike).
        http: An ``httpx.AsyncClient`` to use (closed by :meth:`aclose` only if created here).
        sleep: Async sleep used between retries (tests pass a recorder).
        rng: Random numbers in [0, 1) for jitter.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: Backoff = Backoff(),
        max_retry_after: float = 30.0,
        rate_limits: Mapping[Category, float] | None = None,
        order_endpoint: Literal["v2", "v1"] = "v2",
        query_encoder: QueryEncoder = encode_query,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 <= max_retries <= 3:
            raise ValueError(f"max_retries must be 0 to 3, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.order_endpoint = order_endpoint
        self._encode = query_encoder
        self._sleep = sleep
        self._rng = rng
        self._limiter = RateLimiter(
            rate_limits or {"public": 100.0, "private": 100.0, "order": 8.0}
        )
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "User-Agent": "tradekit-bithumb"},
        )

    @classmethod
    def from_config(cls, config: BithumbConfig, **overrides: Any) -> BithumbClient:
        """A client built from the exchange config block (keyword arguments override it)."""
        options: dict[str, Any] = {
            "api_key": config.api_key,
            "api_secret": config.api_secret,
            "timeout": config.timeout,
            "max_retries": config.max_retries,
            "backoff": Backoff(config.backoff_base_s, config.backoff_max_s),
            "max_retry_after": config.max_retry_after_s,
            "rate_limits": attrs.asdict(config.rate_limits),
            "order_endpoint": config.order_endpoint,
        }
        options.update(overrides)
        return cls(config.base_url, **options)

    def __repr__(self) -> str:
        # Never the key pair: reprs end up in logs and tracebacks.
        return f"BithumbClient({self.base_url!r}, order_endpoint={self.order_endpoint!r})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool (if this client created it)."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> BithumbClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- transport ---------------------------------------------------------------------

    def _credentials(self, method: str, path: str) -> tuple[str, str]:
        if not self._api_key or not self._api_secret:
            raise ConfigError(
                f"exchange.api_key and exchange.api_secret are required for {method} {path} "
                "(Bithumb private API)"
            )
        return self._api_key, self._api_secret

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        *,
        category: Category,
        private: bool,
        placing_order: bool = False,
    ) -> Any:
        """One attempt: returns the decoded JSON or raises a mapped ExchangeError.

        With ``placing_order`` a failure is classified by what it proves about the order
        (see :mod:`tradekit_bithumb.errors`).
        """
        credentials = self._credentials(method, path) if private else None
        await self._limiter.acquire(category)
        headers: dict[str, str] = {}
        content: bytes | None = None
        url = path
        if method == "POST":
            content, query = json_body(params or {}, self._encode)
            headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            query = self._encode(params or {})
            if query:
                url = f"{path}?{query}"
        if credentials is not None:
            # A fresh token per attempt: Bithumb refuses a nonce it has seen.
            token = make_token(credentials[0], credentials[1], query or None)
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._http.request(
                method, self.base_url + url, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise error_from_transport(method, path, exc, placing_order=placing_order) from None
        if response.status_code >= 400:
            raise error_from_response(
                method,
                path,
                response.status_code,
                response.content,
                response.headers,
                placing_order=placing_order,
            )
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            snippet = response.content[:80].decode("utf-8", "replace")
            raise malformed(
                method, path, f"HTTP {response.status_code} body is not JSON: {snippet!r}"
            ) from None

    async def _pause(self, exc: TemporaryExchangeError, attempt: int, what: str) -> None:
        delay = self.backoff.delay(attempt, self._rng)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            if exc.retry_after > self.max_retry_after:
                raise exc
            delay = max(delay, exc.retry_after)
        # The error's own sentence (it names the request, and an unreachable host says what
        # to check), not just its class.
        text = " ".join(str(exc).split()) or type(exc).__name__
        if what not in text:
            text = f"Bithumb {what}: {text}"
        logger.warning("{}; retry {}/{} in {:.2f}s", text, attempt + 1, self.max_retries, delay)
        await self._sleep(delay)

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        category: Category,
        private: bool = False,
    ) -> Any:
        """A request with bounded retries of temporary failures (safe for reads and cancels)."""
        for attempt in itertools.count():
            try:
                return await self._send(method, path, params, category=category, private=private)
            except TemporaryExchangeError as exc:
                if attempt >= self.max_retries:
                    raise
                await self._pause(exc, attempt, f"{method} {path}")
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- public ------------------------------------------------------------------------

    async def markets(self, *, details: bool = True) -> list[MarketInfo]:
        """Listed markets (``GET /v1/market/all``), with ``market_warning`` when ``details``."""
        data = await self._call("GET", "/v1/market/all", {"isDetails": details}, category="public")
        return parse_markets(data)

    async def candles(
        self, market: str, timeframe: Timeframe, *, to_ms: int | None = None, count: int = 200
    ) -> list[Bar]:
        """One page of candles opening strictly before ``to_ms`` (default: now), newest first.

        Candles exist only for intervals with trades, so pages may have gaps.
        """
        if not 1 <= count <= MAX_CANDLES:
            raise ValueError(f"count must be 1 to {MAX_CANDLES}, got {count}")
        path = candle_path(timeframe)
        params: dict[str, Any] = {"market": market}
        if to_ms is not None:
            # ``to`` has whole seconds; round up so a candle opening at to_ms - 0.5 s stays in.
            params["to"] = kst_naive(-(-to_ms // 1000) * 1000)
        params["count"] = count
        data = await self._call("GET", path, params, category="public")
        return parse_candles(data, market, f"GET {path}")

    async def candles_between(
        self,
        market: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        *,
        on_page: Callable[[int], None] | None = None,
    ) -> list[Bar]:
        """Candles with ``since_ms <= time_ms < until_ms``, oldest first, paginated.

        Pages of 200 are fetched backwards from ``until_ms`` (``to`` is exclusive) until a
        page reaches ``since_ms`` or comes back short (the start of the market's history).

        Args:
            on_page: Called with the number of candles of each page (for progress bars).
        """
        found: dict[int, Bar] = {}
        to_ms = until_ms
        while True:
            page = await self.candles(market, timeframe, to_ms=to_ms, count=MAX_CANDLES)
            if on_page is not None:
                on_page(len(page))
            if not page:
                break
            for bar in page:
                if bar.time_ms >= since_ms and (until_ms is None or bar.time_ms < until_ms):
                    found[bar.time_ms] = bar
            oldest = min(bar.time_ms for bar in page)
            if oldest <= since_ms or len(page) < MAX_CANDLES:
                break
            if to_ms is not None and oldest >= to_ms:
                # The server ignored ``to``; stop rather than loop on the same page forever.
                raise malformed("GET", candle_path(timeframe), f"to={to_ms} was not honoured")
            to_ms = oldest
        return [found[t] for t in sorted(found)]

    async def tickers(self, markets: Sequence[str]) -> list[Ticker]:
        """Current tickers (``GET /v1/ticker``), 200 markets per request at most."""
        out: list[Ticker] = []
        for start in range(0, len(markets), MAX_TICKER_MARKETS):
            chunk = markets[start : start + MAX_TICKER_MARKETS]
            data = await self._call(
                "GET", "/v1/ticker", {"markets": ",".join(chunk)}, category="public"
            )
            out.extend(parse_tickers(data))
        return out

    async def orderbooks(self, markets: Sequence[str]) -> list[OrderBook]:
        """Order books (30 levels for one market, 15 each for several)."""
        data = await self._call(
            "GET", "/v1/orderbook", {"markets": ",".join(markets)}, category="public"
        )
        return parse_orderbooks(data)

    async def recent_trades(
        self, market: str, *, count: int = 100, cursor: str | None = None
    ) -> list[Trade]:
        """Recent public trades, newest first (``cursor``: a ``sequential_id`` to page back)."""
        params: dict[str, Any] = {"market": market, "count": count, "cursor": cursor}
        data = await self._call("GET", "/v1/trades/ticks", params, category="public")
        return parse_trades(data, market)

    # ---- private: account --------------------------------------------------------------

    async def accounts(self) -> dict[str, Balance]:
        """Balances by currency (``GET /v1/accounts``)."""
        data = await self._call("GET", "/v1/accounts", category="private", private=True)
        return parse_balances(data)

    async def order_chance(self, market: str) -> OrderChance:
        """Fees and order limits of a market for this account."""
        data = await self._call(
            "GET", "/v1/orders/chance", {"market": market}, category="private", private=True
        )
        return parse_chance(data, market)

    # ---- private: orders ---------------------------------------------------------------

    async def get_order(
        self, *, uuid: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        """One order by exchange id or client order id; None when Bithumb does not know it."""
        if (uuid is None) == (client_order_id is None):
            raise ValueError("give exactly one of uuid and client_order_id")
        params = {"uuid": uuid} if uuid is not None else {"client_order_id": client_order_id}
        try:
            data = await self._call("GET", "/v1/order", params, category="private", private=True)
        except ExchangeError as exc:
            if exc.code == "order_not_found":
                return None
            raise
        return parse_order(data, "GET /v1/order", client_order_id=client_order_id)

    async def list_orders(
        self,
        market: str | None = None,
        *,
        uuids: Sequence[str] = (),
        client_order_ids: Sequence[str] = (),
        states: Sequence[str] = (),
        page: int = 1,
        limit: int = 100,
        order_by: Literal["asc", "desc"] = "desc",
    ) -> list[Order]:
        """Orders matching every filter (``GET /v1/orders``; ``limit`` at most 100)."""
        params: dict[str, Any] = {"market": market}
        if uuids:
            params["uuids"] = list(uuids)
        if client_order_ids:
            params["client_order_ids"] = list(client_order_ids)
        if len(states) == 1:
            params["state"] = states[0]
        elif states:
            params["states"] = list(states)
        params |= {"page": page, "limit": limit, "order_by": order_by}
        data = await self._call("GET", "/v1/orders", params, category="private", private=True)
        return parse_orders(data, "GET /v1/orders")

    async def place_order(
        self,
        market: str,
        side: OrderSide,
        order_type: BithumbOrderType,
        *,
        price: Decimal | None = None,
        volume: Decimal | None = None,
        client_order_id: str | None = None,
        time_in_force: str | None = None,
    ) -> Order:
        """Place an order with one attempt and return it as tradekit sees it.

        The order is sent exactly once (after the rate limiter allows it) and never retried
        or looked up here: the caller owns retries and look-ups. With ``order_endpoint="v2"``
        the answer carries only the order's id and time, so the order comes back ``OPEN``;
        with ``v1`` it comes back in the state Bithumb reports.

        Raises:
            OrderRejected: Bithumb refused the order (invalid price or volume, under the
                minimum, insufficient funds...).
            OrderNotSent: it provably never reached Bithumb or was not processed (no
                connection, 429 with ``retry_after``); sending it again with the same
                ``client_order_id`` is safe.
            OrderStateUnknown: it may or may not exist (timeout or dropped connection after
                sending, 5xx, its ``client_order_id`` already taken, an unreadable success
                answer); look it up, never send it again blindly.
            AuthenticationError: the key, secret or token was refused.
            ExchangeError: another answer, e.g. an endpoint that does not exist
                (``not_found``): a configuration problem, not a refusal of the order.
        """
        v2 = self.order_endpoint == "v2"
        path = "/v2/orders" if v2 else "/v1/orders"
        params: dict[str, Any] = {
            "market": market,
            "side": side,
            "order_type" if v2 else "ord_type": order_type,
            "price": price,
            "volume": volume,
        }
        if v2:
            params["client_order_id"] = client_order_id
            params["time_in_force"] = time_in_force
        elif time_in_force is not None:
            raise ValueError("time_in_force needs order_endpoint 'v2'")
        try:
            data = await self._send(
                "POST", path, params, category="order", private=True, placing_order=True
            )
            return self._placed(data, f"POST {path}", params, client_order_id)
        except ExchangeError as exc:
            if exc.code != MALFORMED:
                raise
            # A 2xx answer that cannot be read: the order most likely exists.
            raise order_state_unknown(str(exc)) from exc

    def _placed(
        self, data: Any, source: str, params: Mapping[str, Any], client_order_id: str | None
    ) -> Order:
        """The order from a place answer: v1 sends the full order, v2 only its id and time."""
        if isinstance(data, Mapping) and "state" in data:
            return parse_order(data, source, client_order_id=client_order_id)
        order_id = parse_order_id(data, source)
        assert isinstance(data, Mapping)
        created_ms = parse_time(data.get("created_at"), "created_at", source)
        order_type = str(params.get("order_type", params.get("ord_type")))
        price, volume = params.get("price"), params.get("volume")
        return Order(
            client_order_id=client_order_id or "",
            market=str(params["market"]),
            side=Side.BUY if params["side"] == "bid" else Side.SELL,
            type=OrderType.LIMIT if order_type == "limit" else OrderType.MARKET,
            volume=float(volume) if volume is not None else None,
            price=float(price) if price is not None else None,
            status=OrderStatus.OPEN,
            created_ms=created_ms,
            updated_ms=int(time.time() * 1000),
            exchange_order_id=order_id,
        )

    async def cancel_order(
        self, *, uuid: str | None = None, client_order_id: str | None = None
    ) -> str:
        """Cancel a resting order; returns its exchange id.

        v2 cancels with ``DELETE /v2/order`` (by ``order_id`` or ``client_order_id``), v1 with
        ``DELETE /v1/order?uuid=``. A finished or unknown order answers ``order_not_found``
        (raised as ExchangeError with that code): look the order up to see how it ended.
        """
        if (uuid is None) == (client_order_id is None):
            raise ValueError("give exactly one of uuid and client_order_id")
        if self.order_endpoint == "v2":
            path = "/v2/order"
            params = (
                {"order_id": uuid} if uuid is not None else {"client_order_id": client_order_id}
            )
        else:
            if uuid is None:
                raise ValueError("the v1 cancel endpoint needs the exchange's uuid")
            path, params = "/v1/order", {"uuid": uuid}
        data = await self._call("DELETE", path, params, category="order", private=True)
        return parse_order_id(data, f"DELETE {path}")
