"""The fake exchange's state: markets, candles, prices, balances and orders, kept in memory.

Everything here is synchronous and guarded by one lock, because REST handlers (on the server's
event loop) and a test's control calls (on the test's thread) both change it. HTTP concerns stay
in ``server.py``; this module raises :class:`ApiError` with the status and error name to send.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

import attrs

from tradekit_bithumb.testing.rules import (
    KST,
    MIN_TICK,
    VOLUME_PLACES,
    decimal_or_none,
    fmt,
    krw_tick,
    on_tick,
)

MINUTE_UNITS = (1, 3, 5, 10, 15, 30, 60, 240)
DAY_MS = 86_400_000
CandleUnit = int | Literal["days"]
Number = Decimal | int | float | str
OrderState = Literal["wait", "watch", "done", "cancel"]

_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_MISSING_PARAMETER = "Missing request parameter error. Check the required parameters!"


class ApiError(Exception):
    """An error answer: HTTP ``status`` with body ``{"error": {"name": name, "message": ...}}``."""

    def __init__(self, status: int, name: str | int, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message


def missing_parameter() -> ApiError:
    """The error Bithumb answers for a missing required parameter (its name is a number)."""
    return ApiError(400, 400, _MISSING_PARAMETER)


def invalid_parameter(message: str) -> ApiError:
    """A 400 ``invalid_parameter`` error."""
    return ApiError(400, "invalid_parameter", message)


@attrs.define
class MarketInfo:
    """A listed market."""

    market: str
    korean_name: str
    english_name: str
    market_warning: str = "NONE"

    @property
    def base(self) -> str:
        """The traded coin (``BTC`` in ``KRW-BTC``)."""
        return self.market.split("-", 1)[1]

    @property
    def quote(self) -> str:
        """The pricing currency (``KRW`` in ``KRW-BTC``)."""
        return self.market.split("-", 1)[0]


@attrs.frozen
class Candle:
    """One loaded candle; ``open_time_ms`` is the UTC open time in milliseconds."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal


@attrs.frozen
class Trade:
    """A public trade print."""

    market: str
    price: Decimal
    volume: Decimal
    time_ms: int
    ask_bid: str
    sequential_id: int
    prev_closing_price: Decimal


@attrs.define
class Ticker:
    """Running day statistics for one market, from the prices and trades it has seen."""

    price: Decimal
    opening_price: Decimal
    high_price: Decimal
    low_price: Decimal
    prev_closing_price: Decimal
    trade_volume: Decimal = Decimal(0)
    acc_trade_volume: Decimal = Decimal(0)
    acc_trade_price: Decimal = Decimal(0)
    acc_ask_volume: Decimal = Decimal(0)
    acc_bid_volume: Decimal = Decimal(0)
    trade_time_ms: int = attrs.field(factory=lambda: int(time.time() * 1000))


@attrs.define
class OrderFill:
    """One fill of one of the account's orders."""

    trade_id: str
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    created_at: datetime


@attrs.define
class Order:
    """One of the account's orders, with Bithumb's bookkeeping fields."""

    order_id: str
    sequence: int
    market: str
    side: str
    ord_type: str
    price: Decimal | None
    volume: Decimal | None
    created_at: datetime
    client_order_id: str | None
    time_in_force: str | None
    fee_rate: Decimal
    state: OrderState = "wait"
    remaining_volume: Decimal | None = None
    reserved_fee: Decimal = Decimal(0)
    remaining_fee: Decimal = Decimal(0)
    paid_fee: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)
    executed_volume: Decimal = Decimal(0)
    executed_funds: Decimal = Decimal(0)
    fills: list[OrderFill] = attrs.field(factory=list)

    def to_json(self, *, with_trades: bool = False) -> dict[str, Any]:
        """The order object of ``GET /v1/order`` (numbers as decimal strings)."""
        body: dict[str, Any] = {
            "uuid": self.order_id,
            "side": self.side,
            "ord_type": self.ord_type,
            "price": fmt(self.price),
            "state": self.state,
            "market": self.market,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "volume": fmt(self.volume),
            "remaining_volume": fmt(self.remaining_volume),
            "reserved_fee": fmt(self.reserved_fee),
            "remaining_fee": fmt(self.remaining_fee),
            "paid_fee": fmt(self.paid_fee),
            "locked": fmt(self.locked),
            "executed_volume": fmt(self.executed_volume),
            "executed_funds": fmt(self.executed_funds),
            "trades_count": len(self.fills),
            "stp_type": "cancel_taker",
            "client_order_id": self.client_order_id,
        }
        if self.time_in_force is not None:
            body["time_in_force"] = self.time_in_force
        if with_trades:
            body["trades"] = [
                {
                    "market": self.market,
                    "uuid": fill.trade_id,
                    "price": fmt(fill.price),
                    "volume": fmt(fill.volume),
                    "funds": fmt(fill.funds),
                    "side": self.side,
                    "created_at": fill.created_at.isoformat(timespec="seconds"),
                }
                for fill in self.fills
            ]
        return body

    def to_v2_created(self) -> dict[str, Any]:
        """The short answer of ``POST /v2/orders``."""
        return {
            "order_id": self.order_id,
            "market": self.market,
            "side": self.side,
            "order_type": self.ord_type,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "stp_type": "cancel_taker",
        }


@attrs.define
class Balance:
    """One currency of the account."""

    balance: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)
    avg_buy_price: Decimal = Decimal(0)


@attrs.frozen
class Event:
    """Something the WebSocket streams must hear about (``kind`` is trade, ticker or orderbook)."""

    kind: Literal["trade", "ticker"]
    market: str
    trade: Trade | None = None


class Exchange:
    """In-memory exchange for one account.

    Args:
        markets: Markets to list at start, as ``{"KRW-BTC": ("비트코인", "Bitcoin")}``.
        fee_rate: Taker and maker fee rate.
        min_order_krw: Minimum order value in KRW.
        duplicate_client_order_id: ``"return_existing"`` answers a re-sent ``client_order_id``
            with the existing order (what Bithumb documents); ``"reject"`` answers 400
            ``duplicate_client_order_id``.
    """

    def __init__(
        self,
        markets: Mapping[str, tuple[str, str]],
        fee_rate: Decimal,
        min_order_krw: Decimal,
        duplicate_client_order_id: Literal["return_existing", "reject"],
    ) -> None:
        self.lock = threading.RLock()
        self.fee_rate = fee_rate
        self.min_order_krw = min_order_krw
        self.duplicate_policy = duplicate_client_order_id
        self.orderbook_size = Decimal(1)
        self.path_trade_volume = Decimal("0.001")
        # Replay mode (see replay.py): trades printed without a time of their own (the account's
        # fills, price-path steps) carry ``clock_ms`` instead of the wall clock, and with
        # ``print_own_fills`` False the account's own market fills print no public trade.
        self.clock_ms: int | None = None
        self.print_own_fills = True
        self.markets: dict[str, MarketInfo] = {
            market: MarketInfo(market, korean, english)
            for market, (korean, english) in markets.items()
        }
        self.candles: dict[tuple[str, CandleUnit], dict[int, Candle]] = {}
        self.tickers: dict[str, Ticker] = {}
        self.paths: dict[str, deque[Decimal]] = {}
        self.trades: dict[str, list[Trade]] = {}
        self.balances: dict[str, Balance] = {"KRW": Balance()}
        self.orders: dict[str, Order] = {}
        self.client_order_ids: dict[str, str] = {}
        self.duplicates: list[str] = []
        self._events: list[Event] = []
        self._trade_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._fill_ids = itertools.count(1)

    # ---- control -------------------------------------------------------------------------

    def drain_events(self) -> list[Event]:
        """Take the events produced since the last call."""
        with self.lock:
            events, self._events = self._events, []
            return events

    def add_market(self, market: str, korean_name: str, english_name: str, warning: str) -> None:
        """List a market (or replace its names)."""
        with self.lock:
            self.markets[market] = MarketInfo(market, korean_name, english_name, warning)

    def load_candles(self, market: str, unit: CandleUnit, rows: Iterable[Sequence[Number]]) -> None:
        """Add candles; a row with an existing open time replaces it."""
        if unit != "days" and unit not in MINUTE_UNITS:
            raise ValueError(f"unit must be one of {MINUTE_UNITS} or 'days', got {unit!r}")
        parsed: list[Candle] = []
        for row in rows:
            if len(row) not in (6, 7):
                raise ValueError(
                    f"candle row needs (open_time_ms, o, h, l, c, v[, turnover]): {row!r}"
                )
            open_time_ms = int(row[0])
            o, h, low, c, v = (Decimal(str(x)) for x in row[1:6])
            turnover = Decimal(str(row[6])) if len(row) == 7 else c * v
            parsed.append(Candle(open_time_ms, o, h, low, c, v, turnover))
        with self.lock:
            self._require_market(market)
            store = self.candles.setdefault((market, unit), {})
            for candle in parsed:
                store[candle.open_time_ms] = candle

    def set_price(self, market: str, price: Decimal, path: Sequence[Decimal] = ()) -> None:
        """Move the current price (no trade print) and match resting orders."""
        with self.lock:
            self._require_market(market)
            self.paths[market] = deque(path)
            self._move_price(market, price)
            self._events.append(Event("ticker", market))

    def advance_price(self, market: str) -> Decimal | None:
        """Step the scripted price path: print a trade at its next price; None when exhausted."""
        with self.lock:
            path = self.paths.get(market)
            if not path:
                return None
            price = path.popleft()
            self.record_trade(market, price, self.path_trade_volume, None, "BID")
            return price

    def record_trade(
        self, market: str, price: Decimal, volume: Decimal, time_ms: int | None, ask_bid: str
    ) -> Trade:
        """Print a public trade: moves the price, updates the ticker, matches resting orders."""
        with self.lock:
            self._require_market(market)
            if ask_bid not in ("ASK", "BID"):
                raise ValueError(f"ask_bid must be 'ASK' or 'BID', got {ask_bid!r}")
            trade = self._print(market, price, volume, time_ms, ask_bid)
            self._move_price(market, price)
            return trade

    def set_balance(self, currency: str, amount: Decimal, avg_buy_price: Decimal | None) -> None:
        """Set a currency's free balance (locked amounts are untouched)."""
        with self.lock:
            balance = self.balances.setdefault(currency, Balance())
            balance.balance = amount
            if avg_buy_price is not None:
                balance.avg_buy_price = avg_buy_price

    def fill_order(self, order_id: str, volume: Decimal | None, price: Decimal | None) -> Order:
        """Fill a resting limit order (all, or ``volume``) at ``price`` (default: its limit)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.state != "wait" or order.remaining_volume is None:
                raise ValueError(f"no resting order {order_id!r}")
            assert order.price is not None
            size = order.remaining_volume if volume is None else volume
            if not 0 < size <= order.remaining_volume:
                raise ValueError(f"fill volume {size} not in (0, {order.remaining_volume}]")
            self._fill(order, price if price is not None else order.price, size)
            return order

    # ---- public queries --------------------------------------------------------------------

    def ticker(self, market: str) -> Ticker:
        """The ticker of a market that has a price."""
        ticker = self.tickers.get(market)
        if ticker is None:
            raise invalid_parameter(
                f"the fake server has no price for {market}; call set_price() or push_trade()"
            )
        return ticker

    def candles_before(
        self, market: str, unit: CandleUnit, to_ms: int | None, count: int
    ) -> list[Candle]:
        """Up to ``count`` candles opening strictly before ``to_ms``, newest first."""
        with self.lock:
            self._require_market(market)
            store = self.candles.get((market, unit), {})
            times = sorted((t for t in store if to_ms is None or t < to_ms), reverse=True)
            return [store[t] for t in times[:count]]

    def previous_candle(self, market: str, unit: CandleUnit, open_time_ms: int) -> Candle | None:
        """The newest candle opening before ``open_time_ms``."""
        with self.lock:
            store = self.candles.get((market, unit), {})
            earlier = [t for t in store if t < open_time_ms]
            return store[max(earlier)] if earlier else None

    def recent_trades(self, market: str, count: int, cursor: int | None) -> list[Trade]:
        """Newest-first trades, older than the ``cursor`` sequential id when given."""
        with self.lock:
            self._require_market(market)
            trades = self.trades.get(market, [])
            chosen = [t for t in reversed(trades) if cursor is None or t.sequential_id < cursor]
            return chosen[:count]

    # ---- private API -----------------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """The ``GET /v1/accounts`` list."""
        with self.lock:
            rows = []
            for currency, balance in self.balances.items():
                if currency != "KRW" and balance.balance == 0 and balance.locked == 0:
                    continue
                rows.append(self._account_json(currency, balance))
            return rows

    def chance(self, market: str) -> dict[str, Any]:
        """The ``GET /v1/orders/chance`` object in the Upbit twin's layout.

        See docs/bithumb.md#order-chance.
        """
        with self.lock:
            info = self._require_market(market, status=400)
            fee = fmt(self.fee_rate)
            min_total = fmt(self.min_order_krw)
            return {
                "bid_fee": fee,
                "ask_fee": fee,
                "maker_bid_fee": fee,
                "maker_ask_fee": fee,
                "market": {
                    "id": market,
                    "name": f"{info.base}/{info.quote}",
                    "order_types": ["limit"],
                    "order_sides": ["ask", "bid"],
                    "bid_types": ["limit", "price"],
                    "ask_types": ["limit", "market"],
                    "bid": {"currency": info.quote, "min_total": min_total},
                    "ask": {"currency": info.base, "min_total": min_total},
                    "max_total": "1000000000",
                    "state": "active",
                },
                "bid_account": self._account_json(
                    info.quote, self.balances.get(info.quote, Balance())
                ),
                "ask_account": self._account_json(
                    info.base, self.balances.get(info.base, Balance())
                ),
            }

    def place_order(
        self, params: Mapping[str, Any], api: Literal["v1", "v2"]
    ) -> tuple[Order, bool]:
        """Validate and place an order; return it and whether it is new (not a duplicate id)."""
        with self.lock:
            type_key = "order_type" if api == "v2" else "ord_type"
            market, side, ord_type = (params.get(k) for k in ("market", "side", type_key))
            if not market or not side or not ord_type:
                raise missing_parameter()
            self._require_market(str(market), status=400)
            market = str(market)
            if side not in ("bid", "ask"):
                raise invalid_parameter(f"side must be 'bid' or 'ask', got {side!r}")
            allowed = (
                ("limit", "price", "market", "best")
                if api == "v2"
                else ("limit", "price", "market")
            )
            if ord_type not in allowed:
                raise invalid_parameter(f"{type_key} must be one of {allowed}, got {ord_type!r}")
            tif = params.get("time_in_force") if api == "v2" else None
            self._check_time_in_force(str(ord_type), tif)
            client_order_id = params.get("client_order_id") if api == "v2" else None
            if client_order_id is not None:
                if not isinstance(client_order_id, str) or not _CLIENT_ORDER_ID.match(
                    client_order_id
                ):
                    raise invalid_parameter("client_order_id must be 1-36 chars of [A-Za-z0-9_-]")
                existing = self.client_order_ids.get(client_order_id)
                if existing is not None:
                    self.duplicates.append(client_order_id)
                    if self.duplicate_policy == "reject":
                        raise ApiError(
                            400,
                            "duplicate_client_order_id",
                            f"client_order_id {client_order_id!r} was already used by {existing}",
                        )
                    return self.orders[existing], False
            price, volume = self._order_numbers(params, str(ord_type), str(side))
            order = self._create(
                market, str(side), str(ord_type), price, volume, tif, client_order_id
            )
            return order, True

    def find_order(self, order_id: str | None, client_order_id: str | None) -> Order:
        """An order by id or client order id, or 404 ``order_not_found``."""
        with self.lock:
            if order_id is None and client_order_id is not None:
                order_id = self.client_order_ids.get(client_order_id)
            order = self.orders.get(order_id) if order_id is not None else None
            if order is None:
                raise ApiError(404, "order_not_found", "주문을 찾지 못했습니다.")
            return order

    def cancel_order(self, order_id: str | None, client_order_id: str | None) -> Order:
        """Cancel a resting order; a finished or unknown one is ``order_not_found`` (404)."""
        with self.lock:
            order = self.find_order(order_id, client_order_id)
            if order.state not in ("wait", "watch"):
                raise ApiError(404, "order_not_found", f"order {order.order_id} is {order.state}")
            self._release(order)
            order.state = "cancel"
            return order

    def list_orders(
        self,
        market: str | None,
        ids: Sequence[str],
        client_ids: Sequence[str],
        states: Sequence[str],
        page: int,
        limit: int,
        newest_first: bool,
    ) -> list[Order]:
        """Orders matching every given filter, paged."""
        with self.lock:
            chosen = [
                order
                for order in self.orders.values()
                if (market is None or order.market == market)
                and (not ids or order.order_id in ids)
                and (not client_ids or order.client_order_id in client_ids)
                and (not states or order.state in states)
            ]
            chosen.sort(key=lambda order: order.sequence, reverse=newest_first)
            return chosen[(page - 1) * limit : page * limit]

    # ---- internals -------------------------------------------------------------------------

    def _require_market(self, market: str, status: int = 400) -> MarketInfo:
        info = self.markets.get(market)
        if info is None:
            raise ApiError(status, "invalid_parameter", f"unknown market {market!r}")
        return info

    @staticmethod
    def _account_json(currency: str, balance: Balance) -> dict[str, Any]:
        return {
            "currency": currency,
            "balance": fmt(balance.balance),
            "locked": fmt(balance.locked),
            "avg_buy_price": fmt(balance.avg_buy_price),
            "avg_buy_price_modified": False,
            "unit_currency": "KRW",
        }

    @staticmethod
    def _check_time_in_force(ord_type: str, tif: object) -> None:
        if tif is None:
            if ord_type == "best":
                raise invalid_parameter("order_type 'best' needs time_in_force 'ioc' or 'fok'")
            return
        if tif not in ("ioc", "fok", "post_only"):
            raise invalid_parameter(f"time_in_force must be ioc, fok or post_only, got {tif!r}")
        if ord_type not in ("limit", "best") or (tif == "post_only" and ord_type != "limit"):
            raise invalid_parameter(f"time_in_force {tif!r} is not allowed with {ord_type!r}")

    def _order_numbers(
        self, params: Mapping[str, Any], ord_type: str, side: str
    ) -> tuple[Decimal | None, Decimal | None]:
        raw_price, raw_volume = params.get("price"), params.get("volume")
        needs = {
            "limit": (True, True),
            "price": (True, False),
            "market": (False, True),
            "best": (False, True),
        }[ord_type]
        if needs[0] and raw_price in (None, ""):
            raise missing_parameter()
        if needs[1] and raw_volume in (None, ""):
            raise missing_parameter()
        if not needs[0] and raw_price not in (None, ""):
            raise invalid_parameter(f"price must not be sent with order type {ord_type!r}")
        if not needs[1] and raw_volume not in (None, ""):
            raise invalid_parameter(f"volume must not be sent with order type {ord_type!r}")
        if ord_type == "price" and side != "bid":
            raise invalid_parameter("order type 'price' (market buy) needs side 'bid'")
        if ord_type == "market" and side != "ask":
            raise invalid_parameter("order type 'market' (market sell) needs side 'ask'")
        price = decimal_or_none(raw_price) if needs[0] else None
        volume = decimal_or_none(raw_volume) if needs[1] else None
        if needs[0] and price is None:
            raise invalid_parameter(f"price is not a number: {raw_price!r}")
        if needs[1] and volume is None:
            raise invalid_parameter(f"volume is not a number: {raw_volume!r}")
        if volume is not None and (
            volume <= 0 or volume != volume.quantize(VOLUME_PLACES, ROUND_DOWN)
        ):
            raise invalid_parameter(
                f"volume must be positive with at most 8 decimals: {raw_volume!r}"
            )
        if price is not None and price < MIN_TICK:
            raise ApiError(
                400,
                f"under_price_limit_{side}",
                f"주문가격은 최소 {MIN_TICK} 이상으로 주문 가능합니다.",
            )
        if ord_type == "limit" and price is not None and not on_tick(price):
            raise ApiError(
                400,
                f"invalid_price_{side}",
                f"주문가격 단위를 잘못 입력하셨습니다. {price} is off the {krw_tick(price)} tick",
            )
        return price, volume

    def _create(
        self,
        market: str,
        side: str,
        ord_type: str,
        price: Decimal | None,
        volume: Decimal | None,
        tif: object,
        client_order_id: str | None,
    ) -> Order:
        info = self.markets[market]
        current = self.tickers[market].price if market in self.tickers else None
        if ord_type in ("market", "best") and current is None:
            raise invalid_parameter(
                f"the fake server has no price for {market}; call set_price() before market orders"
            )
        if ord_type == "limit":
            assert price is not None
            assert volume is not None
            total = price * volume
        elif ord_type == "price":
            assert price is not None
            total = price
        else:
            assert volume is not None
            assert current is not None
            total = volume * current
        if total < self.min_order_krw:
            raise ApiError(
                400,
                f"under_min_total_{side}",
                f"order total {total} KRW is under the minimum {self.min_order_krw} KRW",
            )
        if side == "bid":
            need = total * (1 + self.fee_rate)
            wallet = self.balances.setdefault(info.quote, Balance())
            if need > wallet.balance:
                raise ApiError(
                    400,
                    "insufficient_funds_bid",
                    f"need {need} {info.quote}, have {wallet.balance}",
                )
        else:
            assert volume is not None
            wallet = self.balances.setdefault(info.base, Balance())
            if volume > wallet.balance:
                raise ApiError(
                    400,
                    "insufficient_funds_ask",
                    f"need {volume} {info.base}, have {wallet.balance}",
                )
        sequence = next(self._order_ids)
        order = Order(
            order_id=f"C0101{sequence:015d}",
            sequence=sequence,
            market=market,
            side=side,
            ord_type=ord_type,
            price=price,
            volume=volume,
            created_at=datetime.now(KST),
            client_order_id=client_order_id,
            time_in_force=str(tif) if tif is not None else None,
            fee_rate=self.fee_rate,
            remaining_volume=volume,
        )
        self.orders[order.order_id] = order
        if client_order_id is not None:
            self.client_order_ids[client_order_id] = order.order_id
        self._lock_funds(order, total)
        self._execute_new(order, current)
        return order

    def _lock_funds(self, order: Order, total: Decimal) -> None:
        info = self.markets[order.market]
        if order.side == "bid":
            order.reserved_fee = total * order.fee_rate
            order.remaining_fee = order.reserved_fee
            order.locked = total + order.reserved_fee
            wallet = self.balances[info.quote]
        else:
            assert order.volume is not None
            order.locked = order.volume
            wallet = self.balances[info.base]
        wallet.balance -= order.locked
        wallet.locked += order.locked

    def _execute_new(self, order: Order, current: Decimal | None) -> None:
        """Fill what is marketable now, as a taker at the current price."""
        if current is None:
            return
        if order.ord_type in ("price", "market", "best"):
            if order.ord_type == "price":
                assert order.price is not None
                size = (order.price / current).quantize(VOLUME_PLACES, ROUND_DOWN)
            else:
                assert order.volume is not None
                size = order.volume
            if size > 0:
                self._fill(order, current, size)
                self._print_own(order, current, size)
            self._finish(order, "done")
            self.advance_price(order.market)
            return
        assert order.price is not None
        marketable = order.price >= current if order.side == "bid" else order.price <= current
        if marketable and order.time_in_force == "post_only":
            self._finish(order, "cancel")
        elif marketable:
            assert order.remaining_volume is not None
            size = order.remaining_volume
            self._fill(order, current, size)
            self._print_own(order, current, size)
        elif order.time_in_force in ("ioc", "fok"):
            self._finish(order, "cancel")

    def _fill(self, order: Order, price: Decimal, size: Decimal) -> None:
        info = self.markets[order.market]
        funds = price * size
        fee = funds * order.fee_rate
        quote = self.balances.setdefault(info.quote, Balance())
        base = self.balances.setdefault(info.base, Balance())
        if order.side == "bid":
            if order.ord_type in ("price", "best"):
                # Market-style buys lock an estimate and always finish in one fill.
                release = order.locked
            else:
                assert order.price is not None
                release = order.price * size * (1 + order.fee_rate)
                order.remaining_fee -= order.price * size * order.fee_rate
            order.locked -= release
            quote.locked -= release
            quote.balance += release - funds - fee
            held = base.balance + base.locked
            base.avg_buy_price = (held * base.avg_buy_price + funds) / (held + size)
            base.balance += size
        else:
            order.locked -= size
            base.locked -= size
            quote.balance += funds - fee
            if base.balance + base.locked == 0:
                base.avg_buy_price = Decimal(0)
        order.paid_fee += fee
        order.executed_volume += size
        order.executed_funds += funds
        if order.remaining_volume is not None:
            order.remaining_volume -= size
        order.fills.append(
            OrderFill(f"T{next(self._fill_ids):015d}", price, size, funds, fee, datetime.now(KST))
        )
        if order.remaining_volume is not None and order.remaining_volume == 0:
            self._finish(order, "done")

    def _finish(self, order: Order, state: OrderState) -> None:
        self._release(order)
        order.state = state

    def _release(self, order: Order) -> None:
        """Give back whatever the order still holds."""
        info = self.markets[order.market]
        wallet = self.balances[info.quote if order.side == "bid" else info.base]
        wallet.locked -= order.locked
        wallet.balance += order.locked
        order.locked = Decimal(0)
        order.remaining_fee = Decimal(0)

    def _print_own(self, order: Order, price: Decimal, size: Decimal) -> None:
        """Print the account's own taker fill as a public trade, unless replay mode keeps it out."""
        if self.print_own_fills:
            self._print(order.market, price, size, None, "BID" if order.side == "bid" else "ASK")

    def _print(
        self, market: str, price: Decimal, volume: Decimal, time_ms: int | None, ask_bid: str
    ) -> Trade:
        ticker = self._touch_ticker(market, price)
        trade = Trade(
            market=market,
            price=price,
            volume=volume,
            time_ms=time_ms if time_ms is not None else self._now_ms(),
            ask_bid=ask_bid,
            sequential_id=next(self._trade_ids),
            prev_closing_price=ticker.prev_closing_price,
        )
        self.trades.setdefault(market, []).append(trade)
        ticker.trade_volume = volume
        ticker.acc_trade_volume += volume
        ticker.acc_trade_price += price * volume
        if ask_bid == "ASK":
            ticker.acc_ask_volume += volume
        else:
            ticker.acc_bid_volume += volume
        ticker.trade_time_ms = trade.time_ms
        self._events.append(Event("trade", market, trade))
        self._events.append(Event("ticker", market))
        return trade

    def _now_ms(self) -> int:
        return self.clock_ms if self.clock_ms is not None else int(time.time() * 1000)

    def _touch_ticker(self, market: str, price: Decimal) -> Ticker:
        ticker = self.tickers.get(market)
        if ticker is None:
            ticker = Ticker(price, price, price, price, price)
            self.tickers[market] = ticker
        ticker.price = price
        ticker.high_price = max(ticker.high_price, price)
        ticker.low_price = min(ticker.low_price, price)
        return ticker

    def _move_price(self, market: str, price: Decimal) -> None:
        """Set the price and fill resting limit orders it crosses, at their own limit price."""
        self._touch_ticker(market, price)
        resting = sorted(
            (o for o in self.orders.values() if o.market == market and o.state == "wait"),
            key=lambda order: order.sequence,
        )
        for order in resting:
            assert order.price is not None
            assert order.remaining_volume is not None
            crossed = price <= order.price if order.side == "bid" else price >= order.price
            if crossed:
                self._fill(order, order.price, order.remaining_volume)
