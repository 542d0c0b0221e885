"""The fake public WebSocket (``/websocket/v1``): subscriptions, snapshots, realtime messages.

Subscription format (docs/bithumb.md#websocket-stream): one JSON array holding a
``{"ticket": ...}`` object, one or more
``{"type": "ticker"|"trade"|"orderbook", "codes": [...]}`` objects and optionally
``{"format": "DEFAULT"|"SIMPLE"}``. A new subscription replaces the previous one. The text
message ``PING`` is answered with ``{"status":"UP"}``; WebSocket ping frames are answered by the
websockets library itself.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import attrs
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tradekit_bithumb.testing.exchange import Event, Exchange
from tradekit_bithumb.testing.faults import Faults
from tradekit_bithumb.testing.messages import (
    malformed,
    simplify,
    ws_orderbook,
    ws_ticker,
    ws_trade,
)

STREAM_TYPES = ("ticker", "trade", "orderbook")


@attrs.frozen
class Subscription:
    """What one connection asked for."""

    ticket: str
    types: dict[str, frozenset[str]]
    format: str
    only_snapshot: frozenset[str]
    only_realtime: frozenset[str]


class SubscriptionError(Exception):
    """A bad subscription request; ``name`` is the error name sent back."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def parse_subscription(text: str) -> Subscription:
    """Parse and validate a subscription request."""
    try:
        request = json.loads(text)
    except ValueError:
        raise SubscriptionError("WRONG_FORMAT", "request is not JSON") from None
    if not isinstance(request, list) or not all(isinstance(item, dict) for item in request):
        raise SubscriptionError("WRONG_FORMAT", "request must be a JSON array of objects")
    ticket = next((item["ticket"] for item in request if "ticket" in item), None)
    if not isinstance(ticket, str) or not ticket:
        raise SubscriptionError("NO_TICKET", "a {'ticket': ...} object is required")
    fmt = next((item["format"] for item in request if "format" in item), "DEFAULT")
    if fmt not in ("DEFAULT", "SIMPLE"):
        raise SubscriptionError("INVALID_PARAM", f"format must be DEFAULT or SIMPLE, got {fmt!r}")
    types: dict[str, frozenset[str]] = {}
    only_snapshot: set[str] = set()
    only_realtime: set[str] = set()
    for item in request:
        if "type" not in item:
            continue
        kind = item["type"]
        if kind not in STREAM_TYPES:
            raise SubscriptionError("INVALID_PARAM", f"unknown type {kind!r}")
        codes = item.get("codes")
        if not isinstance(codes, list) or not codes:
            raise SubscriptionError("NO_CODES", f"type {kind!r} needs a non-empty 'codes' list")
        if not all(isinstance(code, str) and code == code.upper() for code in codes):
            raise SubscriptionError(
                "INVALID_PARAM", "codes must be upper-case strings like KRW-BTC"
            )
        types[kind] = frozenset(codes)
        # The docs spell these two ways (docs/bithumb.md#websocket-stream); accept both.
        if item.get("is_only_snapshot") or item.get("isOnlySnapshot"):
            only_snapshot.add(kind)
        if item.get("is_only_realtime") or item.get("isOnlyRealtime"):
            only_realtime.add(kind)
    if not types:
        raise SubscriptionError("NO_TYPE", "at least one {'type': ..., 'codes': [...]} is required")
    return Subscription(ticket, types, fmt, frozenset(only_snapshot), frozenset(only_realtime))


class WsHub:
    """Keeps the open connections and sends them what they subscribed to."""

    def __init__(self, exchange: Exchange, faults: Faults, *, binary_frames: bool) -> None:
        self._exchange = exchange
        self._faults = faults
        self._binary = binary_frames
        self.connections: dict[ServerConnection, Subscription | None] = {}
        self.subscriptions: list[Subscription] = []
        self.connects = 0

    async def handle(self, connection: ServerConnection) -> None:
        """Serve one connection until it closes."""
        self.connections[connection] = None
        self.connects += 1
        try:
            async for message in connection:
                text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
                if text.strip() == "PING":
                    await connection.send('{"status":"UP"}')
                    continue
                try:
                    subscription = parse_subscription(text)
                except SubscriptionError as exc:
                    await connection.send(_error(exc.name, exc.message))
                    continue
                # Snapshots first, then realtime: once ``subscriptions`` shows it, every later
                # event reaches the client as REALTIME (tests wait on that, then publish).
                await self._send_snapshots(connection, subscription)
                self.connections[connection] = subscription
                self.subscriptions.append(subscription)
        except ConnectionClosed:
            pass
        finally:
            self.connections.pop(connection, None)

    def drop_all(self) -> int:
        """Abort every connection without a close frame; return how many."""
        dropped = list(self.connections)
        for connection in dropped:
            connection.transport.abort()
        return len(dropped)

    async def publish(self, events: list[Event]) -> None:
        """Send realtime messages for exchange events to the subscribers."""
        for event in events:
            kinds: tuple[str, ...] = (
                ("trade",) if event.kind == "trade" else ("ticker", "orderbook")
            )
            for kind in kinds:
                message = self._message(kind, event, "REALTIME")
                if message is None:
                    continue
                targets = [
                    connection
                    for connection, sub in list(self.connections.items())
                    if sub is not None
                    and event.market in sub.types.get(kind, ())
                    and kind not in sub.only_snapshot
                ]
                if targets:
                    await self._send_all(targets, message)

    async def _send_snapshots(self, connection: ServerConnection, sub: Subscription) -> None:
        for kind, codes in sub.types.items():
            if kind in sub.only_realtime:
                continue
            for code in sorted(codes):
                message = self._message(kind, Event("ticker", code), "SNAPSHOT")
                if message is not None:
                    await self._send_all([connection], message)

    def _message(self, kind: str, event: Event, stream_type: str) -> dict[str, Any] | None:
        exchange = self._exchange
        with exchange.lock:
            if kind == "trade":
                trade = event.trade
                if trade is None:
                    history = exchange.trades.get(event.market)
                    trade = history[-1] if history else None
                return ws_trade(trade, stream_type) if trade is not None else None
            ticker = exchange.tickers.get(event.market)
            if ticker is None:
                return None
            if kind == "ticker":
                warning = exchange.markets[event.market].market_warning
                return ws_ticker(event.market, ticker, warning, stream_type)
            return ws_orderbook(event.market, ticker.price, exchange.orderbook_size, stream_type)

    async def _send_all(self, targets: list[ServerConnection], message: dict[str, Any]) -> None:
        garbage = self._faults.take_malformed()
        for connection in targets:
            sub = self.connections.get(connection)
            body = simplify(message) if sub is not None and sub.format == "SIMPLE" else message
            frames: list[str | bytes] = [malformed(i, message) for i in range(garbage)]
            frames.append(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
            with contextlib.suppress(ConnectionClosed):
                for frame in frames:
                    await connection.send(self._frame(frame))

    def _frame(self, frame: str | bytes) -> str | bytes:
        if self._binary and isinstance(frame, str):
            return frame.encode()
        return frame


def _error(name: str, message: str) -> str:
    return json.dumps({"error": {"name": name, "message": message}}, ensure_ascii=False)
