"""Bithumb JSON -> tradekit values, validated at the edge (design rule 5).

Public endpoints send JSON numbers, private ones decimal strings, and recorded samples show
both (docs/bithumb.md#numbers-and-errors): every numeric field accepts either and goes through
``Decimal(str(x))``.
A malformed answer raises :class:`~tradekit.errors.ExchangeError` (code
``malformed_response``) naming the field and value; listings where one bad row should not
hide the rest (markets, recent trades) skip it with a log line instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from loguru import logger

from tradekit.errors import ExchangeError
from tradekit.models import Balance, Bar, Order, OrderStatus, OrderType, Side, Trade
from tradekit_bithumb.errors import MALFORMED

__all__ = [
    "KST",
    "MarketInfo",
    "OrderBook",
    "OrderChance",
    "Ticker",
    "kst_naive",
    "parse_balances",
    "parse_candles",
    "parse_chance",
    "parse_markets",
    "parse_order",
    "parse_order_id",
    "parse_orderbooks",
    "parse_orders",
    "parse_tickers",
    "parse_time",
    "parse_trades",
    "to_decimal",
]

KST = timezone(timedelta(hours=9), "KST")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


@attrs.frozen
class MarketInfo:
    """A listed market (``GET /v1/market/all``); ``warning`` is ``NONE``/``CAUTION`` or None."""

    market: str
    korean_name: str
    english_name: str
    warning: str | None = None


@attrs.frozen
class Ticker:
    """The current price and day statistics of one market (``GET /v1/ticker``)."""

    market: str
    price: Decimal
    time_ms: int
    opening_price: Decimal | None = None
    high_price: Decimal | None = None
    low_price: Decimal | None = None
    prev_closing_price: Decimal | None = None
    acc_trade_volume_24h: Decimal | None = None
    acc_trade_price_24h: Decimal | None = None


@attrs.frozen
class OrderBook:
    """Price levels best first, as ``(price, size)``; empty levels are dropped."""

    market: str
    time_ms: int
    asks: tuple[tuple[Decimal, Decimal], ...]
    bids: tuple[tuple[Decimal, Decimal], ...]


@attrs.frozen
class OrderChance:
    """Fees and limits of one market for this account (``GET /v1/orders/chance``).

    The layout is the Upbit twin's (docs/bithumb.md#order-chance, uncertain), so every field is
    optional.
    """

    market: str
    bid_fee: Decimal | None = None
    ask_fee: Decimal | None = None
    maker_bid_fee: Decimal | None = None
    maker_ask_fee: Decimal | None = None
    bid_min_total: Decimal | None = None
    ask_min_total: Decimal | None = None
    max_total: Decimal | None = None


# ---- scalars -----------------------------------------------------------------------------


def _bad(source: str, field: str, expected: str, value: Any) -> ExchangeError:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return ExchangeError(
        f"Bithumb {source}: malformed response: {field}: expected {expected}, got {text}",
        code=MALFORMED,
    )


def to_decimal(value: Any, field: str, source: str) -> Decimal:
    """A finite decimal from a JSON number or numeric string.

    Raises:
        ExchangeError: the value is missing, not numeric or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _bad(source, field, "a number", value)
    # Legacy payloads wrote thousands separators ("1,115.0508", docs/bithumb.md#known-pitfalls);
    # harmless to drop.
    text = value.strip().replace(",", "") if isinstance(value, str) else str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _bad(source, field, "a number", value) from None
    if not number.is_finite():
        raise _bad(source, field, "a finite number", value)
    return number


def _optional_decimal(row: Mapping[str, Any], field: str, source: str) -> Decimal | None:
    value = row.get(field)
    if value is None or value == "":
        return None
    return to_decimal(value, field, source)


def _text(row: Mapping[str, Any], field: str, source: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value:
        raise _bad(source, field, "a non-empty string", value)
    return value


def _int(row: Mapping[str, Any], field: str, source: str) -> int:
    value = row.get(field)
    if isinstance(value, bool):
        raise _bad(source, field, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _bad(source, field, "an integer", value)


def _mapping(value: Any, field: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(source, field, "an object", value)
    return value


def _rows(data: Any, source: str) -> Sequence[Any]:
    if not isinstance(data, list):
        raise _bad(source, "<body>", "a JSON array", data)
    return data


# ---- time --------------------------------------------------------------------------------


def parse_time(value: Any, field: str, source: str, *, naive_zone: timezone = KST) -> int:
    """UTC milliseconds from an ISO date-time.

    Strings with an offset (order ``created_at`` carries ``+09:00``) are exact; naive ones are
    read in ``naive_zone``: KST by default, because Bithumb's naive times are KST except the
    fields whose names end in ``_utc`` (docs/bithumb.md#candles).
    """
    if not isinstance(value, str) or not value:
        raise _bad(source, field, "an ISO date-time", value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(source, field, "an ISO date-time", value) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    return int(moment.timestamp() * 1000)


def kst_naive(time_ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in KST without an offset: the only ``to`` format candles accept.

    The official kit reports HTTP 400 for a ``Z`` or ``+09:00`` suffix (docs/bithumb.md#candles).
    """
    return datetime.fromtimestamp(time_ms / 1000, KST).strftime(_NAIVE_FORMATS[0])


# ---- public ------------------------------------------------------------------------------


def parse_markets(data: Any, source: str = "GET /v1/market/all") -> list[MarketInfo]:
    """Listed markets; an unusable row is skipped with a warning."""
    out: list[MarketInfo] = []
    for index, row in enumerate(_rows(data, source)):
        try:
            item = _mapping(row, f"[{index}]", source)
            warning = item.get("market_warning")
            out.append(
                MarketInfo(
                    market=_text(item, "market", source),
                    korean_name=str(item.get("korean_name") or ""),
                    english_name=str(item.get("english_name") or ""),
                    warning=str(warning) if warning is not None else None,
                )
            )
        except ExchangeError as exc:
            logger.warning("skipped market row {}: {}", index, exc)
    return out


def parse_candles(data: Any, market: str, source: str) -> list[Bar]:
    """Candles as bars (open time in UTC ms), in the order received (newest first).

    The open time comes from ``candle_date_time_utc``; ``candle_date_time_kst`` is the fallback.

    Raises:
        ExchangeError: a candle is malformed or belongs to another market; the message names
            the field and the value.
    """
    bars: list[Bar] = []
    for index, row in enumerate(_rows(data, source)):
        item = _mapping(row, f"[{index}]", source)
        where = f"{source} [{index}]"
        got = item.get("market")
        if got is not None and got != market:
            raise _bad(where, "market", repr(market), got)
        if item.get("candle_date_time_utc") is not None:
            time_ms = parse_time(
                item["candle_date_time_utc"], "candle_date_time_utc", where, naive_zone=UTC
            )
        else:
            time_ms = parse_time(item.get("candle_date_time_kst"), "candle_date_time_kst", where)
        values = [
            float(to_decimal(item.get(field), field, where))
            for field in (
                "opening_price",
                "high_price",
                "low_price",
                "trade_price",
                "candle_acc_trade_volume",
            )
        ]
        try:
            bars.append(Bar(market, time_ms, *values))
        except ValueError as exc:
            raise ExchangeError(
                f"Bithumb {where}: malformed response: {exc}", code=MALFORMED
            ) from None
    return bars


def parse_tickers(data: Any, source: str = "GET /v1/ticker") -> list[Ticker]:
    """Tickers, one per market."""
    out: list[Ticker] = []
    for index, row in enumerate(_rows(data, source)):
        item = _mapping(row, f"[{index}]", source)
        where = f"{source} [{index}]"
        stamp_field = "trade_timestamp" if "trade_timestamp" in item else "timestamp"
        out.append(
            Ticker(
                market=_text(item, "market", where),
                price=to_decimal(item.get("trade_price"), "trade_price", where),
                time_ms=_int(item, stamp_field, where),
                opening_price=_optional_decimal(item, "opening_price", where),
                high_price=_optional_decimal(item, "high_price", where),
                low_price=_optional_decimal(item, "low_price", where),
                prev_closing_price=_optional_decimal(item, "prev_closing_price", where),
                acc_trade_volume_24h=_optional_decimal(item, "acc_trade_volume_24h", where),
                acc_trade_price_24h=_optional_decimal(item, "acc_trade_price_24h", where),
            )
        )
    return out


def parse_orderbooks(data: Any, source: str = "GET /v1/orderbook") -> list[OrderBook]:
    """Order books, one per market; levels of size 0 are dropped (they may appear)."""
    out: list[OrderBook] = []
    for index, row in enumerate(_rows(data, source)):
        item = _mapping(row, f"[{index}]", source)
        where = f"{source} [{index}]"
        asks: list[tuple[Decimal, Decimal]] = []
        bids: list[tuple[Decimal, Decimal]] = []
        for level, unit in enumerate(_rows(item.get("orderbook_units"), where)):
            u = _mapping(unit, f"orderbook_units[{level}]", where)
            ask = (
                to_decimal(u.get("ask_price"), "ask_price", where),
                to_decimal(u.get("ask_size"), "ask_size", where),
            )
            bid = (
                to_decimal(u.get("bid_price"), "bid_price", where),
                to_decimal(u.get("bid_size"), "bid_size", where),
            )
            if ask[1] > 0:
                asks.append(ask)
            if bid[1] > 0:
                bids.append(bid)
        out.append(
            OrderBook(
                market=_text(item, "market", where),
                time_ms=_int(item, "timestamp", where),
                asks=tuple(asks),
                bids=tuple(bids),
            )
        )
    return out


def parse_trades(data: Any, market: str, source: str = "GET /v1/trades/ticks") -> list[Trade]:
    """Recent public trades, newest first; an unusable row is skipped with a warning.

    ``ask_bid`` is the taker's side: ``BID`` is a buy.
    """
    out: list[Trade] = []
    for index, row in enumerate(_rows(data, source)):
        where = f"{source} [{index}]"
        try:
            item = _mapping(row, f"[{index}]", source)
            side_text = str(item.get("ask_bid", "")).upper()
            side = Side.BUY if side_text == "BID" else Side.SELL if side_text == "ASK" else None
            seq = item.get("sequential_id")
            out.append(
                Trade(
                    market=str(item.get("market") or market),
                    time_ms=_int(item, "timestamp", where),
                    price=float(to_decimal(item.get("trade_price"), "trade_price", where)),
                    volume=float(to_decimal(item.get("trade_volume"), "trade_volume", where)),
                    side=side,
                    trade_id=None if seq is None else str(seq),
                )
            )
        except ExchangeError as exc:
            logger.warning("skipped trade row {}: {}", index, exc)
    return out


# ---- private -----------------------------------------------------------------------------


def parse_balances(data: Any, source: str = "GET /v1/accounts") -> dict[str, Balance]:
    """Balances by currency: ``free`` is Bithumb's ``balance``, ``locked`` its ``locked``."""
    out: dict[str, Balance] = {}
    for index, row in enumerate(_rows(data, source)):
        item = _mapping(row, f"[{index}]", source)
        where = f"{source} [{index}]"
        currency = _text(item, "currency", where).upper()
        avg = _optional_decimal(item, "avg_buy_price", where)
        out[currency] = Balance(
            currency=currency,
            free=to_decimal(item.get("balance"), "balance", where),
            locked=_optional_decimal(item, "locked", where) or Decimal(0),
            average_buy_price=avg if avg else None,
        )
    return out


def _submapping(item: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = item.get(field)
    return value if isinstance(value, Mapping) else {}


def parse_chance(data: Any, market: str, source: str = "GET /v1/orders/chance") -> OrderChance:
    """Fees and limits; missing parts stay None (callers fall back to configuration)."""
    item = _mapping(data, "<body>", source)
    info = _submapping(item, "market")
    bid, ask = _submapping(info, "bid"), _submapping(info, "ask")
    return OrderChance(
        market=market,
        bid_fee=_optional_decimal(item, "bid_fee", source),
        ask_fee=_optional_decimal(item, "ask_fee", source),
        maker_bid_fee=_optional_decimal(item, "maker_bid_fee", source),
        maker_ask_fee=_optional_decimal(item, "maker_ask_fee", source),
        bid_min_total=_optional_decimal(bid, "min_total", f"{source} market.bid"),
        ask_min_total=_optional_decimal(ask, "min_total", f"{source} market.ask"),
        max_total=_optional_decimal(info, "max_total", f"{source} market"),
    )


def parse_order_id(data: Any, source: str) -> str:
    """The exchange's id from an order answer: ``order_id`` (v2) or ``uuid`` (v1)."""
    item = _mapping(data, "<body>", source)
    value = item.get("order_id", item.get("uuid"))
    if not isinstance(value, str) or not value:
        raise _bad(source, "order_id", "a non-empty string", value)
    return value


_SIDES = {"bid": Side.BUY, "ask": Side.SELL}
_TYPES = {
    "limit": OrderType.LIMIT,
    "price": OrderType.MARKET,
    "market": OrderType.MARKET,
    "best": OrderType.MARKET,
}


def _status(state: str, volume: Decimal | None, executed: Decimal, where: str) -> OrderStatus:
    if state in ("wait", "watch"):
        return OrderStatus.OPEN
    if state == "cancel":
        return OrderStatus.CANCELLED
    if state == "done":
        # An IOC or FOK order that filled in part also ends "done" (docs/bithumb.md#known-pitfalls):
        # the rest was cancelled, so only a complete fill is FILLED.
        if volume is not None and executed < volume:
            return OrderStatus.CANCELLED
        return OrderStatus.FILLED
    raise _bad(where, "state", "wait, watch, done or cancel", state)


def parse_order(
    data: Any,
    source: str,
    *,
    client_order_id: str | None = None,
    reason: str = "",
    now_ms: int | None = None,
) -> Order:
    """A full order object (``GET /v1/order``, ``GET /v1/orders`` rows, v1 place/cancel).

    Args:
        data: The JSON object.
        source: ``METHOD /path`` for messages.
        client_order_id: Used when the answer does not echo one.
        reason: Kept on the returned order (tradekit's own label).
        now_ms: ``updated_ms`` of the result (default: now).
    """
    item = _mapping(data, "<body>", source)
    uuid = _text(item, "uuid", source)
    where = f"{source} {uuid}"
    side_text = _text(item, "side", where)
    kind = item.get("ord_type", item.get("order_type"))
    if side_text not in _SIDES:
        raise _bad(where, "side", "'bid' or 'ask'", side_text)
    if kind not in _TYPES:
        raise _bad(where, "ord_type", "limit, price, market or best", kind)
    volume = _optional_decimal(item, "volume", where)
    price = _optional_decimal(item, "price", where)
    executed = _optional_decimal(item, "executed_volume", where) or Decimal(0)
    funds = _optional_decimal(item, "executed_funds", where)
    trades = item.get("trades")
    if funds is None and isinstance(trades, list):
        funds = sum(
            (
                to_decimal(_mapping(t, "trades[]", where).get("funds"), "trades[].funds", where)
                for t in trades
            ),
            Decimal(0),
        )
    echoed = item.get("client_order_id")
    created_ms = parse_time(item.get("created_at"), "created_at", where)
    return Order(
        client_order_id=echoed if isinstance(echoed, str) and echoed else client_order_id or "",
        market=_text(item, "market", where),
        side=_SIDES[side_text],
        type=_TYPES[str(kind)],
        volume=float(volume) if volume is not None else None,
        price=float(price) if price is not None and kind != "market" else None,
        status=_status(_text(item, "state", where), volume, executed, where),
        created_ms=created_ms,
        updated_ms=now_ms if now_ms is not None else int(time.time() * 1000),
        exchange_order_id=uuid,
        executed_volume=float(executed),
        # No average-price field exists: executed_funds / executed_volume (docs/bithumb.md#orders).
        average_price=float(funds / executed) if funds is not None and executed > 0 else None,
        fee=float(_optional_decimal(item, "paid_fee", where) or 0),
        reason=reason,
    )


def parse_orders(data: Any, source: str, *, now_ms: int | None = None) -> list[Order]:
    """A list of order objects."""
    return [parse_order(row, source, now_ms=now_ms) for row in _rows(data, source)]
