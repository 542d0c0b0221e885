"""Public trades from Bithumb's v1 WebSocket, kept alive across drops.

:class:`TradeStream` subscribes to ``trade`` (and optionally ``ticker``) messages
(docs/bithumb.md#websocket-stream), reconnects with exponential backoff and jitter, resubscribes
(the server keeps no state across connections), treats a silent connection as dropped, skips
malformed messages with a log line and drops trades it has already yielded. A trade stamped
more than a few seconds ahead of the local clock is malformed too: one such trade would
otherwise open a bar hours ahead and make every real trade after it "late". Connection callbacks
report the periods in which trades may have been missed, so a consumer can backfill them over
REST.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.uri import parse_uri

from tradekit.backoff import backoff_delay
from tradekit.models import Side, Trade
from tradekit.network import connect_failure

__all__ = ["StreamStats", "TradeStream", "wall_clock_ms"]

_SIDES = {"ASK": Side.SELL, "BID": Side.BUY}  # ask_bid names the taker's side
_MICROSECONDS = 10**14  # a millisecond time stays below this until the year 5138


def wall_clock_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


@attrs.define
class StreamStats:
    """Counters of a :class:`TradeStream` (for logs, metrics and tests)."""

    connects: int = 0  #: connections opened
    drops: int = 0  #: connections lost or failed attempts
    trades: int = 0  #: trades yielded
    duplicates: int = 0  #: trades dropped because they were already yielded
    malformed: int = 0  #: messages skipped as malformed
    ahead: int = 0  #: trades skipped as stamped too far ahead of the clock


class _Malformed(ValueError):
    """A message that cannot be used; the text says why."""


class TradeStream:
    """An async iterator of :class:`~tradekit.models.Trade` from the public v1 WebSocket.

    Example:
        >>> async with TradeStream(url, ["KRW-BTC"]) as stream:  # doctest: +SKIP
        ...     async for trade in stream:
        ...         print(trade.price)

    Keep-alive: the library sends WebSocket pings every ``ping_interval`` seconds, and while the
    stream is waiting it sends the text ``PING`` after ``ping_interval`` seconds of silence, which
    the server answers with ``{"status":"UP"}``; so a quiet market is not mistaken for a dead
    connection as long as ``stale_after`` exceeds ``ping_interval``. Staleness (``stale_after``
    seconds spent waiting without any message) counts as a drop; time the consumer spends away
    from the stream does not count, and the library's pings watch the connection meanwhile.

    Gaps: after a drop, trades are missed until a new connection delivers its first message.
    ``on_disconnect(since_ms)`` fires once per drop, with the clock time of the last message
    received; ``on_reconnect(gap_start_ms, gap_end_ms)`` fires before the first trade of the new
    connection is yielded. ``on_connect(live_ms)`` fires when the first connection goes live
    (nothing before ``live_ms`` was seen). Times come from ``clock``.

    Only one task may consume a stream at a time.

    Args:
        ws_url: e.g. ``wss://ws-api.bithumb.com/websocket/v1``.
        markets: Market codes such as ``KRW-BTC`` (upper-cased; the server rejects lower case).
        stale_after: Seconds of waiting without any message after which the connection is
            replaced.
        ping_interval: Seconds between keep-alive pings.
        ping_timeout: Seconds to wait for a pong before the library closes the connection.
        open_timeout: Seconds allowed for opening a connection.
        backoff_initial: Delay before the first reconnection attempt (seconds, before jitter).
        backoff_max: Largest delay between attempts; delays double up to it.
        include_ticker: Also subscribe to ``ticker``; its messages count as traffic and update
            :attr:`last_prices`, but only trades are yielded.
        on_connect: Called with the clock time when the first connection goes live.
        on_disconnect: Called with the clock time of the last message before a drop.
        on_reconnect: Called with the gap's start and end when a new connection goes live.
        clock: Wall clock in Unix milliseconds used for the callbacks' times, and to judge
            trade times.
        dedup_size: How many recent trade ids are remembered to drop duplicates.
        rng: Source of the backoff jitter (for reproducible tests).
        max_ahead: A trade stamped more than this many seconds after ``clock`` (at its arrival)
            is skipped, never yielded. The first one per market is logged as a warning with its
            time; later ones only in a summary every ``ahead_warning_interval`` seconds.
        ahead_warning_interval: Least seconds between two such warnings for one market.
    """

    def __init__(
        self,
        ws_url: str,
        markets: Sequence[str],
        *,
        stale_after: float = 30.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        open_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        include_ticker: bool = False,
        on_connect: Callable[[int], None] | None = None,
        on_disconnect: Callable[[int], None] | None = None,
        on_reconnect: Callable[[int, int], None] | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        dedup_size: int = 10_000,
        rng: random.Random | None = None,
        max_ahead: float = 5.0,
        ahead_warning_interval: float = 60.0,
    ) -> None:
        parse_uri(ws_url)  # a malformed URL is a configuration error, not worth retrying
        codes = list(dict.fromkeys(market.strip().upper() for market in markets))
        if not codes or not all(codes):
            raise ValueError(f"markets must name at least one market, got {list(markets)!r}")
        for name, value in (
            ("stale_after", stale_after),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("open_timeout", open_timeout),
            ("backoff_max", backoff_max),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not 0 <= backoff_initial <= backoff_max:
            raise ValueError(f"backoff_initial must be in [0, backoff_max], got {backoff_initial}")
        if dedup_size < 1:
            raise ValueError(f"dedup_size must be >= 1, got {dedup_size}")
        if not max_ahead >= 0 or not ahead_warning_interval >= 0:
            raise ValueError(
                "max_ahead and ahead_warning_interval must be >= 0, "
                f"got {max_ahead!r} and {ahead_warning_interval!r}"
            )
        self.ws_url = ws_url
        self.markets: tuple[str, ...] = tuple(codes)
        self.stale_after = stale_after
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.include_ticker = include_ticker
        self.stats = StreamStats()
        self.last_prices: dict[str, float] = {}
        self.clock = clock
        self._rng = rng or random.Random()
        self._on_connect: list[Callable[[int], None]] = []
        self._on_disconnect: list[Callable[[int], None]] = []
        self._on_reconnect: list[Callable[[int, int], None]] = []
        self.add_listener(
            on_connect=on_connect, on_disconnect=on_disconnect, on_reconnect=on_reconnect
        )
        self._ws: ClientConnection | None = None
        self._live = False  # the current connection has delivered a message
        self._ever_live = False
        self._closed = False
        self._failures = 0  # consecutive drops or failed attempts since the stream was live
        self._retry_at = -math.inf  # anyio.current_time() before which no attempt is made
        self._last_rx = 0.0  # anyio.current_time() of the last message (or of connecting)
        # Seconds spent waiting in vain since then; time the consumer spends elsewhere does not
        # count, or a slow consumer would find its connection (full of messages) stale.
        self._silence = 0.0
        self._last_ping = 0.0
        self._last_rx_ms = 0  # clock time of the last message on a live connection
        self._gap_start_ms: int | None = None
        self._seen: set[tuple[str, str]] = set()
        self._seen_order: deque[tuple[str, str]] = deque()
        self._dedup_size = dedup_size
        self._max_ahead_ms = round(max_ahead * 1000)
        self._ahead_every = ahead_warning_interval
        # Per market: anyio.current_time() of the last warning about trades ahead of the clock,
        # and how many were skipped since without one.
        self._ahead_warned: dict[str, float] = {}
        self._ahead_quiet: dict[str, int] = {}

    # ---- public API ------------------------------------------------------------------------

    def add_listener(
        self,
        *,
        on_connect: Callable[[int], None] | None = None,
        on_disconnect: Callable[[int], None] | None = None,
        on_reconnect: Callable[[int, int], None] | None = None,
    ) -> None:
        """Add connection callbacks (see the class docstring); they run in the consumer's task."""
        if on_connect is not None:
            self._on_connect.append(on_connect)
        if on_disconnect is not None:
            self._on_disconnect.append(on_disconnect)
        if on_reconnect is not None:
            self._on_reconnect.append(on_reconnect)

    @property
    def is_live(self) -> bool:
        """True while connected and the connection has delivered at least one message."""
        return self._ws is not None and self._live

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    def __aiter__(self) -> TradeStream:
        return self

    async def __anext__(self) -> Trade:
        try:
            trade = await self.receive()
        except anyio.ClosedResourceError:
            raise StopAsyncIteration from None
        assert trade is not None  # receive() without a timeout only returns trades
        return trade

    # An explicit timeout rather than a cancel scope: it never cuts a connection attempt or a
    # subscription in half.
    async def receive(self, timeout: float | None = None) -> Trade | None:  # noqa: ASYNC109
        """The next trade, or None if none arrived within ``timeout`` seconds.

        Connecting, reconnecting and keep-alive happen inside this call; a connection attempt
        in progress is not cut short by the timeout (it is bounded by ``open_timeout``).

        Raises:
            anyio.ClosedResourceError: the stream was closed.
        """
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            ws = self._ws
            if ws is None:
                if await self._wait_for_retry(deadline):
                    await self._open()
            else:
                frame = await self._next_frame(ws, deadline)
                if frame is not None:
                    trade = self._on_frame(frame)
                    if trade is not None:
                        return trade
            if anyio.current_time() >= deadline and not self._closed:
                return None

    async def aclose(self) -> None:
        """Close the connection; iteration ends. Safe to call more than once."""
        self._closed = True
        ws, self._ws = self._ws, None
        if ws is not None:
            # Shielded and bounded: closing must finish even when the caller is being cancelled.
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await ws.close()
            ws.transport.abort()

    async def __aenter__(self) -> TradeStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- connection ------------------------------------------------------------------------

    async def _wait_for_retry(self, deadline: float) -> bool:
        """Sleep until the next attempt is due; False if the deadline comes first."""
        now = anyio.current_time()
        if self._retry_at <= now:
            return True
        if deadline < self._retry_at:
            await anyio.sleep(max(0.0, deadline - now))
            return False
        await anyio.sleep(self._retry_at - now)
        return not self._closed

    async def _open(self) -> None:
        try:
            ws = await connect(
                self.ws_url,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                close_timeout=2,
            )
        except (OSError, TimeoutError) as exc:
            # Which host, why, and which setting names it: something a user can act on.
            host = urlsplit(self.ws_url).netloc or self.ws_url
            self._drop(
                f"cannot connect to {host} ({type(exc).__name__}: {connect_failure(exc)}): "
                "check the network connection and exchange.ws_url"
            )
            return
        except WebSocketException as exc:
            self._drop(f"cannot connect: {exc!r}")
            return
        if self._closed:  # aclose() ran while connecting
            await ws.close()
            return
        self._ws = ws
        self._live = False
        self._last_rx = self._last_ping = anyio.current_time()
        self._silence = 0.0
        self.stats.connects += 1
        try:
            await ws.send(self._subscription())
        except ConnectionClosed as exc:
            self._drop(f"closed while subscribing ({exc})")
            return
        logger.debug("bithumb ws: connected to {}, subscribed to {}", self.ws_url, self.markets)

    def _subscription(self) -> str:
        # A fresh ticket per connection; several types may share one request
        # (docs/bithumb.md#websocket-stream).
        request: list[dict[str, Any]] = [{"ticket": f"tradekit-{uuid.uuid4()}"}]
        request.append({"type": "trade", "codes": list(self.markets)})
        if self.include_ticker:
            request.append({"type": "ticker", "codes": list(self.markets)})
        request.append({"format": "DEFAULT"})
        return json.dumps(request)

    async def _next_frame(self, ws: ClientConnection, deadline: float) -> bytes | None:
        """The next frame, or None after a drop, a keep-alive ping, or the deadline."""
        started = anyio.current_time()
        stale_at = started + self.stale_after - self._silence
        ping_at = max(self._last_rx, self._last_ping) + self.ping_interval
        frame: bytes | None = None
        with anyio.move_on_after(max(0.0, min(stale_at, ping_at, deadline) - started)):
            try:
                # Bytes for text frames too: a bad text frame must be skipped like a bad binary
                # one, not fail the whole connection inside the library.
                frame = await ws.recv(decode=False)
            except ConnectionClosed as exc:
                self._drop(f"connection lost ({exc})")
                return None
        now = anyio.current_time()
        if frame is not None:
            self._last_rx = now
            self._silence = 0.0
            return frame
        self._silence += now - started
        if self._silence >= self.stale_after:
            self._drop(f"no message for {self.stale_after:g} s")
        elif now >= ping_at:
            self._last_ping = now
            try:
                await ws.send("PING")
            except ConnectionClosed as exc:
                self._drop(f"connection lost ({exc})")
        return None

    def _drop(self, reason: str) -> None:
        """Forget the connection, report a new gap, and schedule the next attempt."""
        if self._closed:
            return  # aclose() closed it: not a drop
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.transport.abort()  # no closing handshake: the connection is useless already
        self.stats.drops += 1
        self._failures += 1
        delay = self._backoff(self._failures)
        self._retry_at = anyio.current_time() + delay
        if self._live:
            self._live = False
            self._gap_start_ms = self._last_rx_ms
            logger.warning("bithumb ws: {}; reconnecting in {:.2f} s", reason, delay)
            for callback in self._on_disconnect:
                callback(self._gap_start_ms)
        else:
            logger.warning(
                "bithumb ws: {} (attempt {}); retrying in {:.2f} s", reason, self._failures, delay
            )

    def _backoff(self, failures: int) -> float:
        return backoff_delay(
            failures - 1, self.backoff_initial, self.backoff_max, jitter=self._rng.random
        )

    def _mark_live(self) -> None:
        now_ms = self.clock()
        self._last_rx_ms = now_ms
        if self._live:
            return
        self._live = True
        self._failures = 0
        if not self._ever_live:
            self._ever_live = True
            logger.info("bithumb ws: live for {}", ", ".join(self.markets))
            for on_connect in self._on_connect:
                on_connect(now_ms)
            return
        gap_start = self._gap_start_ms if self._gap_start_ms is not None else now_ms
        self._gap_start_ms = None
        logger.info(
            "bithumb ws: live again; trades between {} and {} may be missing", gap_start, now_ms
        )
        for on_reconnect in self._on_reconnect:
            on_reconnect(gap_start, now_ms)

    # ---- messages --------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> Trade | None:
        self._mark_live()
        try:
            try:
                message = json.loads(frame.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _Malformed(f"not UTF-8 ({exc.reason})") from None
            except ValueError as exc:
                raise _Malformed(f"not JSON ({exc})") from None
            return self._on_message(message)
        except _Malformed as exc:
            self.stats.malformed += 1
            logger.warning("bithumb ws: skipped a malformed message: {}: {}", exc, _snippet(frame))
            return None

    def _on_message(self, message: object) -> Trade | None:
        if not isinstance(message, dict):
            raise _Malformed(f"expected a JSON object, got {type(message).__name__}")
        kind = message.get("type")
        if kind == "trade":
            return self._on_trade(message)
        if kind == "ticker":
            self.last_prices[_code(message)] = _price(message, "trade_price")
            return None
        if "error" in message:
            # Usually a refused subscription: the stream then goes stale and resubscribes.
            logger.error("bithumb ws: server error {}", message["error"])
            return None
        if "status" in message:
            return None  # {"status":"UP"}: the answer to our keep-alive PING
        if kind is None:
            raise _Malformed("no 'type'")
        logger.debug("bithumb ws: ignored a {!r} message", kind)
        return None

    def _on_trade(self, message: dict[str, Any]) -> Trade | None:
        market = _code(message)
        price = _price(message, "trade_price")
        volume = _number(message, "trade_volume")
        if volume < 0:
            raise _Malformed(f"trade_volume must be >= 0, got {volume!r}")
        time_ms = _millis(message, "trade_timestamp")
        trade_id = _trade_id(message)
        # _mark_live read the clock as this frame arrived.
        if time_ms > self._last_rx_ms + self._max_ahead_ms:
            self._skip_ahead(market, time_ms, message["trade_timestamp"])
            return None
        if self._ahead_quiet:
            self._summarise_ahead(market)
        side = _SIDES.get(message.get("ask_bid"))  # type: ignore[arg-type]
        key = (market, trade_id)
        if key in self._seen:
            # A reconnection replays the last trade as a SNAPSHOT; it was yielded already.
            self.stats.duplicates += 1
            logger.debug("bithumb ws: dropped duplicate trade {} {}", market, trade_id)
            return None
        self._remember(key)
        self.stats.trades += 1
        return Trade(market, time_ms, price, volume, side, trade_id)

    def _skip_ahead(self, market: str, time_ms: int, raw: object) -> None:
        """Count a trade stamped in the future; warn once, then at most every interval."""
        self.stats.ahead += 1
        quiet = self._ahead_quiet.get(market, 0)
        last = self._ahead_warned.get(market)
        now = anyio.current_time()
        if last is not None and now - last < self._ahead_every:
            self._ahead_quiet[market] = quiet + 1
            logger.debug("bithumb ws: {}: skipped a trade stamped {!r} (ahead)", market, raw)
            return
        self._ahead_warned[market] = now
        self._ahead_quiet.pop(market, None)
        since = f"; {quiet} more skipped since the last warning" if quiet else ""
        logger.warning(
            "bithumb ws: {}: skipped a trade stamped {!r} ({}), {:.1f} s ahead of this "
            "machine's clock (more than {:g} s is refused){}; if this repeats, check the clock",
            market,
            raw,
            _utc(time_ms),
            (time_ms - self._last_rx_ms) / 1000,
            self._max_ahead_ms / 1000,
            since,
        )

    def _summarise_ahead(self, market: str) -> None:
        """After a good trade, report skipped ones not warned about yet (once per interval)."""
        quiet = self._ahead_quiet.get(market)
        last = self._ahead_warned.get(market)
        if not quiet or last is None or anyio.current_time() - last < self._ahead_every:
            return
        self._ahead_warned[market] = anyio.current_time()
        del self._ahead_quiet[market]
        logger.warning(
            "bithumb ws: {}: {} more trades stamped ahead of this machine's clock were skipped",
            market,
            quiet,
        )

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > self._dedup_size:
            self._seen.discard(self._seen_order.popleft())


def _utc(time_ms: int) -> str:
    try:
        return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


def _snippet(frame: bytes, limit: int = 120) -> str:
    text = repr(frame)
    return text if len(text) <= limit else text[:limit] + "..."


def _code(message: dict[str, Any]) -> str:
    code = message.get("code")
    if not isinstance(code, str) or not code:
        raise _Malformed(f"code must be a market code, got {code!r}")
    return code


def _number(message: dict[str, Any], key: str) -> float:
    """A finite number sent as a JSON number or a decimal string (both occur).

    See docs/bithumb.md#numbers-and-errors.
    """
    if key not in message:
        raise _Malformed(f"missing {key!r}")
    value = message[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Malformed(f"{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise _Malformed(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise _Malformed(f"{key} must be finite, got {value!r}")
    return number


def _price(message: dict[str, Any], key: str) -> float:
    price = _number(message, key)
    if price <= 0:
        raise _Malformed(f"{key} must be > 0, got {price!r}")
    return price


def _millis(message: dict[str, Any], key: str) -> int:
    number = _number(message, key)
    if number <= 0 or number != int(number):
        raise _Malformed(f"{key} must be a positive whole number of ms, got {message[key]!r}")
    millis = int(number)
    # Some Bithumb timestamps carry microseconds (16 digits); keep the first 13
    # (docs/bithumb.md#websocket-stream).
    return millis // 1000 if millis >= _MICROSECONDS else millis


def _trade_id(message: dict[str, Any]) -> str:
    value = message.get("sequential_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise _Malformed(f"sequential_id must be a string or integer, got {value!r}")
    return str(value)
