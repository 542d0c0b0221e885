"""``ReplayExchange``: a recorded candle file as a live exchange, paced at a chosen speed.

It implements :class:`~tradekit.interfaces.Exchange` like the Bithumb connector does (history
for warm-up, live bars with every trade, balances, market orders), so ``tradekit run`` trades it
in paper or live mode with no network and no keys. Its market runs on a clock of its own, which
the bot takes (:class:`~tradekit.interfaces.OwnClock`): fills, reports and days follow the
replayed time, not the wall clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import anyio
import anyio.lowlevel
from loguru import logger

from tradekit.builtin.replay.config import ReplayConfig
from tradekit.builtin.replay.venue import ReplayVenue, rules_for
from tradekit.errors import DataError, ExchangeError, OrderRejected
from tradekit.models import Balance, Bar, MarketRules, Order, Timeframe, Trade

__all__ = ["ReplayExchange", "ReplayFeed"]


class ReplayExchange:
    """The ``replay`` exchange: candles played as trades, market orders filled at their price.

    The candles are read when the bot asks for its clock (or for the first history or bars),
    once the timeframe is known. One feed (live bars or trades) plays the market at a time.

    Args:
        config: the ``exchange`` config block.
        bars: ``{market: bars}`` to play instead of reading ``config.data`` (tests).
    """

    name: ClassVar[str] = "replay"
    Config: ClassVar[type[ReplayConfig]] = ReplayConfig

    def __init__(self, config: ReplayConfig, *, bars: Mapping[str, Sequence[Bar]] | None = None):
        self.config = config
        self._bars = bars
        self.venue: ReplayVenue | None = None
        self._markets: tuple[str, ...] = ()
        self._idle: Callable[[], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"ReplayExchange({self.config.data!r}, speed={self.config.speed:g})"

    # -- the replay clock ----------------------------------------------------------------

    def clock_for(self, markets: Sequence[str], timeframe: Timeframe) -> Callable[[], int]:
        """Load the candles of ``markets`` and return the replay clock (UTC ms).

        Raises:
            DataError: the candles cannot be read or do not fit the config.
        """
        venue = self._open(markets, timeframe)
        return lambda: venue.now_ms

    def wait_for_orders(self, idle: Callable[[], Awaitable[None]]) -> None:
        """Before each trade and each bar's close, await ``idle()`` (the bot's orders are out
        and booked): orders take no market time, so a buy decided on a bar fills at the next
        open and a stop at the trade that crossed it, at any speed."""
        self._idle = idle

    def _open(self, markets: Sequence[str], timeframe: Timeframe) -> ReplayVenue:
        venue = self.venue
        if venue is None:
            venue = self.venue = ReplayVenue(self.config, markets, timeframe, self._bars)
            self._markets = tuple(markets)
            speed = self.config.speed
            logger.info(
                "replay: {} from {} at {:g}x real time (one {} bar every {:.3g} s), no network",
                ", ".join(markets),
                _iso(venue.start_ms),
                speed,
                timeframe,
                timeframe.milliseconds / 1000 / speed,
            )
            return venue
        if timeframe != venue.timeframe:
            raise DataError(
                f"the replay plays {venue.timeframe} bars; {timeframe} bars were asked for"
            )
        missing = [m for m in markets if m not in self._markets]
        if missing:
            raise DataError(
                f"the replay was opened for {', '.join(self._markets)}; it has no {missing[0]}"
            )
        return venue

    # -- Exchange ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Nothing to release (no connections)."""

    async def market_rules(self, market: str) -> MarketRules:
        """Bithumb-like rules: KRW ticks, the configured quantity step, minimum and fee."""
        return rules_for(self.config, market)

    async def fetch_candles(
        self, market: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None
    ) -> Sequence[Bar]:
        """Bars with ``since_ms <= time_ms < until_ms`` closed on the replay clock."""
        return self._open([market], timeframe).history(market, since_ms, until_ms)

    def stream_trades(self, markets: Sequence[str]) -> AsyncIterator[Trade]:
        """The replayed trades of ``markets``, paced (needs the clock opened: it knows the
        timeframe)."""
        if self.venue is None:
            raise DataError("the replay's timeframe is not known yet: call clock_for() first")
        venue = self._open(markets, self.venue.timeframe)
        feed = ReplayFeed(venue, markets, speed=self.config.speed, idle=self._idle, trades=True)
        return _trades(feed)

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Callable[[Trade], None] | None = None,
    ) -> ReplayFeed:
        """Closed bars from the interval holding ``start_ms`` on; ``on_trade`` sees every
        trade of each bar's path before the bar closes."""
        venue = self._open(markets, timeframe)
        return ReplayFeed(
            venue,
            markets,
            speed=self.config.speed,
            start_ms=start_ms,
            on_trade=on_trade,
            idle=self._idle,
        )

    async def balances(self) -> Mapping[str, Balance]:
        """The replay account by currency."""
        if self.venue is None:
            return {c: Balance(c, Decimal(str(v))) for c, v in self.config.balances.items()}
        return self.venue.balances()

    async def place_order(self, order: Order) -> Order:
        """Fill a market order at the current replayed price, at once and in full.

        Raises:
            OrderRejected: see :meth:`ReplayVenue.place`; also before any market data.
        """
        if self.venue is None:
            raise OrderRejected(
                f"order {order.client_order_id}: the replay has not started", code="not_started"
            )
        return self.venue.place(order)

    async def get_order(self, client_order_id: str) -> Order | None:
        """An order this replay filled, or None."""
        return None if self.venue is None else self.venue.order(client_order_id)

    async def cancel_order(self, order: Order) -> Order:
        """Market orders are final at once: the order as it ended."""
        found = await self.get_order(order.client_order_id)
        if found is None:
            raise ExchangeError(
                f"cannot cancel {order.client_order_id}: the replay has no such order",
                code="order_not_found",
            )
        return found


class ReplayFeed:
    """Plays the venue interval by interval, paced by ``speed``; yields the closed bars.

    Market time maps to real time from the first step on: an event at market time *m* is
    played ``(m - m0) / speed`` after the start. A consumer that falls behind is not waited
    for (the replay catches up without sleeping).

    Args:
        venue: the market to play.
        markets: bars of these markets are yielded.
        speed: times faster than real time.
        start_ms: intervals before the one holding this time are closed without a pause or a
            bar (they were history).
        on_trade: called with each trade; without it trades are not generated (paper mode
            needs only the bars).
        idle: awaited before each trade and each close (see
            :meth:`ReplayExchange.wait_for_orders`).
        trades: yield trades instead of bars (:meth:`ReplayExchange.stream_trades`).
    """

    def __init__(
        self,
        venue: ReplayVenue,
        markets: Sequence[str],
        *,
        speed: float,
        start_ms: int | None = None,
        on_trade: Callable[[Trade], None] | None = None,
        idle: Callable[[], Awaitable[None]] | None = None,
        trades: bool = False,
    ) -> None:
        self.venue = venue
        self.markets = frozenset(markets)
        self.speed = speed
        self.start_ms = start_ms
        self.on_trade = on_trade
        self.idle = idle
        self.trades = trades
        self._out: deque[Bar | Trade] = deque()
        self._interval: int | None = None  # the interval being played
        self._pending: deque[Trade] = deque()  # its trades not played yet
        self._closed = False
        self._anchor: tuple[float, int] | None = None  # (real time, market time) at the start

    def __aiter__(self) -> ReplayFeed:
        return self

    async def __anext__(self) -> Bar:
        item = await self._next()
        assert isinstance(item, Bar)
        return item

    async def _next(self) -> Bar | Trade:
        venue = self.venue
        while True:
            if self._out:
                return self._out.popleft()
            if self._closed:
                raise StopAsyncIteration
            if self._interval is None:
                interval = venue.next_interval_ms
                if interval is None:
                    self._closed = True
                    logger.info("replay: the data ends at {}; no more bars", _iso(venue.now_ms))
                    raise StopAsyncIteration
                if self.start_ms is not None and interval + venue.period <= self.start_ms:
                    venue.close_interval(interval)  # history: not played
                    continue
                if self._anchor is None:
                    self._anchor = (anyio.current_time(), venue.now_ms)
                self._interval = interval
                if self.on_trade is not None or self.trades:
                    self._pending.extend(venue.interval_trades(interval))
            if self._pending:
                trade = self._pending.popleft()
                await self._wait_until(trade.time_ms)
                if self.idle is not None:
                    await self.idle()
                venue.play(trade)
                if self.on_trade is not None:
                    self.on_trade(trade)
                if self.trades and trade.market in self.markets:
                    self._out.append(trade)
                continue
            await self._wait_until(self._interval + venue.period)
            if self.idle is not None:
                await self.idle()
            bars = venue.close_interval(self._interval)
            self._interval = None
            if not self.trades:
                self._out.extend(bar for bar in bars if bar.market in self.markets)

    async def _wait_until(self, market_ms: int) -> None:
        assert self._anchor is not None
        real0, market0 = self._anchor
        delay = real0 + (market_ms - market0) / 1000 / self.speed - anyio.current_time()
        if delay > 0:
            await anyio.sleep(delay)
        else:
            await anyio.lowlevel.checkpoint()  # let the bot's order tasks run

    async def aclose(self) -> None:
        """Stop playing (bars already yielded stay yielded)."""
        self._closed = True
        self._out.clear()


async def _trades(feed: ReplayFeed) -> AsyncIterator[Trade]:
    try:
        while True:
            try:
                item = await feed._next()
            except StopAsyncIteration:
                return
            if isinstance(item, Trade):
                yield item
    finally:
        await feed.aclose()


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
