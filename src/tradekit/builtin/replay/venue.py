"""The replayed market, synchronously: candles, the replay clock, trades, fills and balances.

:class:`ReplayVenue` holds every market's candles and a clock that only moves when a trade is
played or an interval ends. Each bar is played as the trades of its path (open -> low -> high
-> close, :func:`tradekit.bar_path.bar_path`) spread over its interval; when the interval ends
the bar is closed, the clock moves to its end and the price to the next bar's open without a
trade, so a market buy decided on the closed bar fills at the next open, as in a backtest.

Market orders fill at once, in full, at the current price, with Bithumb's rules: a buy spends
a whole-KRW amount and gets ``amount / price`` truncated to 8 decimals; a sale must be on the
quantity step; both must reach the minimum order value and the account must hold the money
(the fee on top). The async :class:`~tradekit.builtin.replay.exchange.ReplayExchange` paces it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

import attrs

from tradekit.bar_path import bar_path
from tradekit.builtin.replay.config import DEFAULT_HISTORY_BARS, ReplayConfig
from tradekit.engine.rules import KRW_TICKS
from tradekit.errors import DataError, OrderRejected
from tradekit.interfaces import CandleSource
from tradekit.models import (
    Balance,
    Bar,
    MarketRules,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Timeframe,
    Trade,
)

__all__ = ["KRW_TICK_TABLE", "ReplayVenue", "load_bars", "rules_for"]

#: Bithumb's KRW price units as exact decimals, highest band first.
KRW_TICK_TABLE: tuple[tuple[Decimal, Decimal], ...] = tuple(
    (Decimal(str(bound)), Decimal(str(tick))) for bound, tick in KRW_TICKS
)
_VOLUME_PLACES = Decimal("0.00000001")  # what a market buy by amount receives (Bithumb)


def load_bars(uri: str, market: str, timeframe: Timeframe) -> list[Bar]:
    """Every bar of ``market`` in the candle file (CSV, Parquet) or store URL ``uri``, oldest
    first: the built-in readers, as a backtest reads ``backtest.data``.

    Raises:
        DataError: the file cannot be read, is malformed or does not match ``timeframe``.
    """
    from tradekit.builtin.csv_source import open_csv_source
    from tradekit.builtin.parquet_candles import open_parquet_source
    from tradekit.store.candles import open_store_candle_source

    source: CandleSource | None = None
    if "://" in uri and not uri.startswith("file://"):
        source = open_store_candle_source(uri)
    else:
        source = open_parquet_source(uri) or open_csv_source(uri)
    if source is None:
        raise DataError(f"exchange.data: {uri!r} is not a .csv or Parquet file nor a database URL")
    try:
        return list(source.bars(market, timeframe))
    except DataError as exc:  # say which setting named the file
        raise DataError(f"exchange.data: {exc}") from None


@attrs.define
class _Series:
    bars: list[Bar]
    next_index: int  # the first bar not played yet
    price: Decimal  # the current price: last trade, or the next open after a bar closed


class ReplayVenue:
    """Recorded candles of one or more markets played as a market on a replay clock.

    Args:
        config: the replay's config block.
        markets: the markets to load; each needs a file in ``config.data``.
        timeframe: the candles' interval (the bot's timeframe).
        bars: ``{market: bars}`` to play instead of reading ``config.data`` (tests).

    Raises:
        DataError: a market has no file or no bar before ``end``, or ``start`` lies after the
            data (the message names the key).
    """

    def __init__(
        self,
        config: ReplayConfig,
        markets: Sequence[str],
        timeframe: Timeframe,
        bars: Mapping[str, Sequence[Bar]] | None = None,
    ) -> None:
        self.config = config
        self.timeframe = timeframe
        self.period = timeframe.milliseconds
        loaded: dict[str, list[Bar]] = {}
        for market in markets:
            if bars is not None and market in bars:
                loaded[market] = list(bars[market])
                continue
            uri = config.file_for(market)
            if uri is None:
                raise DataError(f"exchange.data: no candle file for market {market!r}")
            loaded[market] = load_bars(uri, market, timeframe)
        end = config.end_ms
        if end is not None:
            loaded = {m: [b for b in series if b.time_ms < end] for m, series in loaded.items()}
        for market, series in loaded.items():
            if not series:
                raise DataError(f"exchange.data: no {timeframe} bars of {market} to replay")
        start = config.start_ms
        if start is None:
            first = min(series[0].time_ms for series in loaded.values())
            start = first + DEFAULT_HISTORY_BARS * self.period
        start -= start % self.period
        last = max(series[-1].time_ms for series in loaded.values())
        if start > last:
            raise DataError(
                f"exchange.start: {config.start!r} is after the last bar to replay "
                f"({_iso(last)}); choose a start inside the data"
            )
        #: The replay clock (UTC ms): the last trade played, or the end of the last interval.
        self.now_ms = start
        self.start_ms = start
        self.series: dict[str, _Series] = {}
        for market, series in loaded.items():
            index = next((i for i, b in enumerate(series) if b.time_ms >= start), len(series))
            price = series[index].open if index < len(series) else series[-1].close
            self.series[market] = _Series(series, index, _dec(price))
        self._free: dict[str, Decimal] = {c: _dec(v) for c, v in config.balances.items()}
        self._average: dict[str, Decimal] = {}
        self._orders: dict[str, Order] = {}
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)

    # -- market data -------------------------------------------------------------------

    def history(self, market: str, since_ms: int, until_ms: int | None) -> list[Bar]:
        """Bars with ``since_ms <= time_ms < until_ms`` that have closed on the replay clock."""
        series = self._series(market)
        closed_before = self.now_ms - self.period  # a bar opened then has ended by now
        until = closed_before + 1 if until_ms is None else min(until_ms, closed_before + 1)
        return [b for b in series.bars if since_ms <= b.time_ms < until]

    @property
    def next_interval_ms(self) -> int | None:
        """Open time of the next interval holding a bar to play (None once all are played)."""
        upcoming = [
            s.bars[s.next_index].time_ms for s in self.series.values() if s.next_index < len(s.bars)
        ]
        return min(upcoming) if upcoming else None

    def interval_trades(self, interval_ms: int) -> list[Trade]:
        """The trades of every market's bar opening at ``interval_ms``, in time order.

        Each bar's path is spread evenly over its interval: step *j* of *n* trades at
        ``interval_ms + j * period // n``; the volumes add up to the bar's volume.
        """
        per_market: list[list[Trade]] = []
        for market, series in self.series.items():
            if series.next_index >= len(series.bars):
                continue
            bar = series.bars[series.next_index]
            if bar.time_ms != interval_ms:
                continue
            prices = bar_path(
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                self._tick_for,
                max_steps_per_leg=self.config.steps_per_leg,
            )
            count = len(prices)
            share = bar.volume / count
            trades: list[Trade] = []
            previous: Decimal | None = None
            for j, price in enumerate(prices):
                side = Side.SELL if previous is not None and price < previous else Side.BUY
                trades.append(
                    Trade(
                        market,
                        interval_ms + j * self.period // count,
                        float(price),
                        share,
                        side,
                        f"R{next(self._trade_ids)}",
                    )
                )
                previous = price
            per_market.append(trades)
        return list(heapq.merge(*per_market, key=lambda t: t.time_ms))

    def play(self, trade: Trade) -> None:
        """The trade happened: its price is the market's price, its time the clock's."""
        self.series[trade.market].price = _dec(trade.price)
        self.now_ms = max(self.now_ms, trade.time_ms)

    def close_interval(self, interval_ms: int) -> list[Bar]:
        """End the interval: its bars close, the clock moves to its end and each price to the
        next bar's open (no trade), so an order decided on a closed bar fills at that open.
        """
        closed: list[Bar] = []
        for series in self.series.values():
            if series.next_index < len(series.bars):
                bar = series.bars[series.next_index]
                if bar.time_ms == interval_ms:
                    closed.append(bar)
                    series.next_index += 1
                    following = (
                        series.bars[series.next_index]
                        if series.next_index < len(series.bars)
                        else None
                    )
                    series.price = _dec(following.open if following else bar.close)
        self.now_ms = max(self.now_ms, interval_ms + self.period)
        return closed

    def price(self, market: str) -> Decimal:
        """The market's current price."""
        return self._series(market).price

    # -- rules and account ---------------------------------------------------------------

    def market_rules(self, market: str) -> MarketRules:
        """The rules of a market this venue plays (:func:`rules_for`)."""
        self._series(market)
        return rules_for(self.config, market)

    def balances(self) -> dict[str, Balance]:
        """Every currency the account holds (KRW always)."""
        out = {"KRW": Balance("KRW", self._free.get("KRW", Decimal(0)))}
        for currency, amount in self._free.items():
            if amount > 0 or currency == "KRW":
                out[currency] = Balance(currency, amount, Decimal(0), self._average.get(currency))
        return out

    def place(self, order: Order) -> Order:
        """Fill a market order at the current price, at once and in full.

        Raises:
            OrderRejected: not a market order, off the quantity step, under the minimum,
                more than the account holds, or an id already used (never sent twice).
        """
        cid = order.client_order_id
        if cid in self._orders:
            raise OrderRejected(f"order {cid}: this client order id was already used", code="dup")
        if order.type is not OrderType.MARKET:
            raise _reject(order, "the replay exchange fills market orders only", "invalid_ord_type")
        quote, _, base = order.market.partition("-")  # QUOTE-BASE, e.g. KRW-BTC
        price = self.price(order.market)
        fee_rate = _dec(self.config.fee_rate)
        minimum = _dec(self.config.min_order_krw)
        if order.side is Side.BUY:
            if order.price is None:
                raise _reject(order, "a market buy needs its KRW amount", "invalid_price")
            amount = _dec(order.price).quantize(Decimal(1), ROUND_DOWN)
            if amount < minimum:
                raise _reject(order, f"{amount} KRW is under the minimum {minimum}", "under_min")
            need = amount * (1 + fee_rate)
            have = self._free.get(quote, Decimal(0))
            if need > have:
                raise _reject(order, f"needs {need} {quote}, has {have}", "insufficient_funds")
            volume = (amount / price).quantize(_VOLUME_PLACES, ROUND_DOWN)
            if volume <= 0:
                raise _reject(order, f"{amount} KRW buys nothing at {price}", "invalid_price")
        else:
            if order.volume is None:
                raise _reject(order, "a market sell needs a volume", "invalid_volume")
            volume = _dec(order.volume)
            step = Decimal(1).scaleb(-self.config.quantity_decimals)
            if volume <= 0 or volume % step != 0:
                raise _reject(order, f"volume {volume} is off the step {step}", "invalid_volume")
            if volume * price < minimum:
                raise _reject(
                    order, f"{volume * price} KRW is under the minimum {minimum}", "under_min"
                )
            have = self._free.get(base, Decimal(0))
            if volume > have:
                raise _reject(order, f"needs {volume} {base}, has {have}", "insufficient_funds")
        funds = volume * price
        fee = funds * fee_rate
        if order.side is Side.BUY:
            held = self._free.get(base, Decimal(0))
            average = self._average.get(base, Decimal(0))
            self._average[base] = (held * average + funds) / (held + volume)
            self._free[base] = held + volume
            self._free[quote] = self._free.get(quote, Decimal(0)) - funds - fee
        else:
            self._free[base] -= volume
            self._free[quote] = self._free.get(quote, Decimal(0)) + funds - fee
            if self._free[base] == 0:
                self._average.pop(base, None)
        filled = attrs.evolve(
            order,
            status=OrderStatus.FILLED,
            exchange_order_id=f"replay-{next(self._ids)}",
            executed_volume=float(volume),
            average_price=float(price),
            fee=float(fee),
            updated_ms=max(self.now_ms, order.updated_ms),
        )
        self._orders[cid] = filled
        return filled

    def order(self, client_order_id: str) -> Order | None:
        """An order this venue filled, or None."""
        return self._orders.get(client_order_id)

    # -- helpers -------------------------------------------------------------------------

    def _series(self, market: str) -> _Series:
        try:
            return self.series[market]
        except KeyError:
            raise DataError(f"the replay has no candles of {market!r}") from None

    @staticmethod
    def _tick_for(price: Decimal) -> Decimal:
        for bound, tick in KRW_TICK_TABLE:
            if price >= bound:
                return tick
        return KRW_TICK_TABLE[-1][1]


def rules_for(config: ReplayConfig, market: str) -> MarketRules:
    """Bithumb-like rules: the KRW tick table, the configured quantity step, minimum and fee."""
    fee = _dec(config.fee_rate)
    return MarketRules(
        market=market,
        tick_table=KRW_TICK_TABLE,
        quantity_decimals=config.quantity_decimals,
        min_order_value=_dec(config.min_order_krw),
        taker_fee=fee,
        maker_fee=fee,
    )


def _reject(order: Order, problem: str, code: str) -> OrderRejected:
    return OrderRejected(f"order {order.client_order_id} ({order.market}): {problem}", code=code)


def _dec(value: float | int | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _iso(time_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
