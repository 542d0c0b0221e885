"""JSON shapes the fake server sends: public REST bodies and WebSocket stream messages.

Public numbers are JSON numbers (docs/bithumb.md#numbers-and-errors); field names follow
docs/bithumb.md#candles and #websocket-stream.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradekit_bithumb.testing.exchange import DAY_MS, Candle, CandleUnit, Ticker, Trade
from tradekit_bithumb.testing.rules import KST, krw_tick, public_number

# SIMPLE-format abbreviations (Bithumb documents the ticker ones; the rest follow the Upbit twin).
SIMPLE_KEYS: dict[str, dict[str, str]] = {
    "common": {"type": "ty", "code": "cd", "timestamp": "tms", "stream_type": "st"},
    "ticker": {
        "opening_price": "op",
        "high_price": "hp",
        "low_price": "lp",
        "trade_price": "tp",
        "prev_closing_price": "pcp",
        "change": "c",
        "change_price": "cp",
        "signed_change_price": "scp",
        "change_rate": "cr",
        "signed_change_rate": "scr",
        "trade_volume": "tv",
        "acc_trade_volume": "atv",
        "acc_trade_volume_24h": "atv24h",
        "acc_trade_price": "atp",
        "acc_trade_price_24h": "atp24h",
        "trade_date": "tdt",
        "trade_time": "ttm",
        "trade_timestamp": "ttms",
        "ask_bid": "ab",
        "acc_ask_volume": "aav",
        "acc_bid_volume": "abv",
        "highest_52_week_price": "h52wp",
        "highest_52_week_date": "h52wdt",
        "lowest_52_week_price": "l52wp",
        "lowest_52_week_date": "l52wdt",
        "market_state": "ms",
        "is_trading_suspended": "its",
        "delisting_date": "dd",
        "market_warning": "mw",
    },
    "trade": {
        "trade_price": "tp",
        "trade_volume": "tv",
        "ask_bid": "ab",
        "prev_closing_price": "pcp",
        "change": "c",
        "change_price": "cp",
        "trade_date": "td",
        "trade_time": "ttm",
        "trade_timestamp": "ttms",
        "sequential_id": "sid",
    },
    "orderbook": {
        "total_ask_size": "tas",
        "total_bid_size": "tbs",
        "orderbook_units": "obu",
        "level": "lv",
        "ask_price": "ap",
        "bid_price": "bp",
        "ask_size": "as",
        "bid_size": "bs",
    },
}


def now_ms() -> int:
    """Current Unix time in milliseconds."""
    return int(time.time() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _kst(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, KST)


def _change(price: Decimal, prev: Decimal) -> tuple[str, Decimal, Decimal]:
    diff = price - prev
    rate = diff / prev if prev else Decimal(0)
    return ("RISE" if diff > 0 else "FALL" if diff < 0 else "EVEN"), diff, rate


def candle_json(
    market: str, unit: CandleUnit, candle: Candle, prev: Candle | None
) -> dict[str, Any]:
    """One element of a ``/v1/candles/...`` answer."""
    period = DAY_MS if unit == "days" else unit * 60_000
    body: dict[str, Any] = {
        "market": market,
        "candle_date_time_utc": _utc(candle.open_time_ms).strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": _kst(candle.open_time_ms).strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": public_number(candle.open),
        "high_price": public_number(candle.high),
        "low_price": public_number(candle.low),
        "trade_price": public_number(candle.close),
        # Bithumb sends the last tick's time; the fake has no ticks, so it uses the candle's end.
        "timestamp": candle.open_time_ms + period - 1,
        "candle_acc_trade_price": public_number(candle.turnover),
        "candle_acc_trade_volume": public_number(candle.volume),
    }
    if unit == "days":
        prev_close = prev.close if prev is not None else candle.open
        _, diff, rate = _change(candle.close, prev_close)
        body["prev_closing_price"] = public_number(prev_close)
        body["change_price"] = public_number(diff)
        body["change_rate"] = float(rate)
    else:
        body["unit"] = unit
    return body


def ticker_json(market: str, ticker: Ticker) -> dict[str, Any]:
    """One element of a ``GET /v1/ticker`` answer."""
    change, diff, rate = _change(ticker.price, ticker.prev_closing_price)
    utc, kst = _utc(ticker.trade_time_ms), _kst(ticker.trade_time_ms)
    return {
        "market": market,
        "trade_date": utc.strftime("%Y%m%d"),
        "trade_time": utc.strftime("%H%M%S"),
        "trade_date_kst": kst.strftime("%Y%m%d"),
        "trade_time_kst": kst.strftime("%H%M%S"),
        "trade_timestamp": ticker.trade_time_ms,
        "opening_price": public_number(ticker.opening_price),
        "high_price": public_number(ticker.high_price),
        "low_price": public_number(ticker.low_price),
        "trade_price": public_number(ticker.price),
        "prev_closing_price": public_number(ticker.prev_closing_price),
        "change": change,
        "change_price": public_number(abs(diff)),
        "change_rate": float(abs(rate)),
        "signed_change_price": public_number(diff),
        "signed_change_rate": float(rate),
        "trade_volume": public_number(ticker.trade_volume),
        "acc_trade_price": public_number(ticker.acc_trade_price),
        "acc_trade_price_24h": public_number(ticker.acc_trade_price),
        "acc_trade_volume": public_number(ticker.acc_trade_volume),
        "acc_trade_volume_24h": public_number(ticker.acc_trade_volume),
        "highest_52_week_price": public_number(ticker.high_price),
        "highest_52_week_date": kst.strftime("%Y-%m-%d"),
        "lowest_52_week_price": public_number(ticker.low_price),
        "lowest_52_week_date": kst.strftime("%Y-%m-%d"),
        "timestamp": now_ms(),
    }


def orderbook_json(market: str, price: Decimal, size: Decimal, depth: int) -> dict[str, Any]:
    """A synthetic book around ``price``: best ask at the price, best bid one tick below."""
    units = []
    ask = bid = price
    for _ in range(depth):
        step = krw_tick(bid)
        if bid - step <= 0:
            break
        bid -= step
        units.append(
            {
                "ask_price": public_number(ask),
                "bid_price": public_number(bid),
                "ask_size": public_number(size),
                "bid_size": public_number(size),
            }
        )
        ask += krw_tick(ask)
    total = public_number(size * len(units))
    return {
        "market": market,
        "timestamp": now_ms(),
        "total_ask_size": total,
        "total_bid_size": total,
        "orderbook_units": units,
    }


def trade_tick_json(trade: Trade) -> dict[str, Any]:
    """One element of a ``GET /v1/trades/ticks`` answer."""
    utc = _utc(trade.time_ms)
    return {
        "market": trade.market,
        "trade_date_utc": utc.strftime("%Y-%m-%d"),
        "trade_time_utc": utc.strftime("%H:%M:%S"),
        "timestamp": trade.time_ms,
        "trade_price": public_number(trade.price),
        "trade_volume": public_number(trade.volume),
        "prev_closing_price": public_number(trade.prev_closing_price),
        "change_price": public_number(trade.price - trade.prev_closing_price),
        "ask_bid": trade.ask_bid,
        "sequential_id": trade.sequential_id,
    }


def ws_trade(trade: Trade, stream_type: str) -> dict[str, Any]:
    """A ``trade`` stream message (dates in UTC, as the Upbit twin sends them)."""
    change, diff, _ = _change(trade.price, trade.prev_closing_price)
    utc = _utc(trade.time_ms)
    return {
        "type": "trade",
        "code": trade.market,
        "trade_price": public_number(trade.price),
        "trade_volume": public_number(trade.volume),
        "ask_bid": trade.ask_bid,
        "prev_closing_price": public_number(trade.prev_closing_price),
        "change": change,
        "change_price": public_number(abs(diff)),
        "trade_date": utc.strftime("%Y-%m-%d"),
        "trade_time": utc.strftime("%H:%M:%S"),
        "trade_timestamp": trade.time_ms,
        "sequential_id": str(trade.sequential_id),
        "timestamp": now_ms(),
        "stream_type": stream_type,
    }


def ws_ticker(market: str, ticker: Ticker, warning: str, stream_type: str) -> dict[str, Any]:
    """A ``ticker`` stream message (``trade_date``/``trade_time`` in KST, per the docs)."""
    rest = ticker_json(market, ticker)
    kst = _kst(ticker.trade_time_ms)
    body: dict[str, Any] = {"type": "ticker", "code": market}
    for key in (
        "opening_price",
        "high_price",
        "low_price",
        "trade_price",
        "prev_closing_price",
        "change",
        "change_price",
        "signed_change_price",
        "change_rate",
        "signed_change_rate",
        "trade_volume",
        "acc_trade_volume",
        "acc_trade_volume_24h",
        "acc_trade_price",
        "acc_trade_price_24h",
    ):
        body[key] = rest[key]
    body.update(
        {
            "trade_date": kst.strftime("%Y%m%d"),
            "trade_time": kst.strftime("%H%M%S"),
            "trade_timestamp": ticker.trade_time_ms,
            "ask_bid": "BID",
            "acc_ask_volume": public_number(ticker.acc_ask_volume),
            "acc_bid_volume": public_number(ticker.acc_bid_volume),
            "highest_52_week_price": rest["highest_52_week_price"],
            "highest_52_week_date": rest["highest_52_week_date"],
            "lowest_52_week_price": rest["lowest_52_week_price"],
            "lowest_52_week_date": rest["lowest_52_week_date"],
            "market_state": "ACTIVE",
            "is_trading_suspended": False,
            "delisting_date": None,
            "market_warning": warning,
            "timestamp": now_ms(),
            "stream_type": stream_type,
        }
    )
    return body


def ws_orderbook(market: str, price: Decimal, size: Decimal, stream_type: str) -> dict[str, Any]:
    """An ``orderbook`` stream message (a full book every time, as Bithumb sends it)."""
    book = orderbook_json(market, price, size, 15)
    return {
        "type": "orderbook",
        "code": market,
        "total_ask_size": book["total_ask_size"],
        "total_bid_size": book["total_bid_size"],
        "orderbook_units": book["orderbook_units"],
        "level": 0,
        "timestamp": book["timestamp"],
        "stream_type": stream_type,
    }


def simplify(message: dict[str, Any]) -> dict[str, Any]:
    """Rename keys to the SIMPLE format's abbreviations."""
    keys = {**SIMPLE_KEYS["common"], **SIMPLE_KEYS.get(str(message.get("type")), {})}
    out: dict[str, Any] = {}
    for key, value in message.items():
        if isinstance(value, list):
            value = [
                {keys.get(k, k): v for k, v in item.items()} if isinstance(item, dict) else item
                for item in value
            ]
        out[keys.get(key, key)] = value
    return out


def malformed(index: int, template: dict[str, Any]) -> str | bytes:
    """The ``index``-th kind of invalid stream message, shaped after a real one."""
    kind = index % 5
    if kind == 0:
        return "this is not JSON {"
    if kind == 1:
        return _dumps({"type": template.get("type"), "code": template.get("code")})
    if kind == 2:
        wrong: dict[str, Any] = {
            key: "not-a-number" if isinstance(v, int | float) else 12345
            for key, v in template.items()
        }
        wrong["type"], wrong["code"] = template.get("type"), template.get("code")
        return _dumps(wrong)
    if kind == 3:
        return _dumps([1, 2, 3])
    return b"\xff\xfe\x00not utf-8"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
