"""Live closed bars with no gaps: built from trades, from REST wherever trades were missed.

:class:`LiveBarFeed` builds bars from a :class:`~tradekit_bithumb.stream.TradeStream` with a
:class:`~tradekit_bithumb.candle_builder.CandleBuilder`. Every period in which the stream may
have missed trades (before it first went live, and between a drop and the next live
connection) taints the intervals it touches. A tainted interval is never taken from trades
alone: bars from the first tainted interval on are held back until those intervals have closed
and the ``backfill`` callable (REST candles) has answered. Then, for each tainted interval, the
REST candle is emitted when there is one — REST wins over the trade-built bar — and the held
bars after the tainted range follow. So bars come out in time order per market, never twice,
and with no interval missing that had trades.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import anyio
import attrs
from loguru import logger

from tradekit.backoff import backoff_delay
from tradekit.errors import TemporaryExchangeError
from tradekit.models import Bar, Timeframe, Trade
from tradekit_bithumb.candle_builder import CandleBuilder
from tradekit_bithumb.stream import TradeStream

__all__ = ["Backfill", "LiveBarFeed"]

Backfill = Callable[[str, Timeframe, int, int], Awaitable[Sequence[Bar]]]
"""``(market, timeframe, since_ms, until_ms) -> bars`` with ``since_ms <= time_ms < until_ms``,
oldest first (the shape of ``BithumbExchange.fetch_candles``)."""

# Worth another try later; anything else is a bug or a refusal and stops the feed.
_TEMPORARY = (TemporaryExchangeError, OSError, TimeoutError)


@attrs.define
class _Tainted:
    """Intervals ``start_ms`` .. ``end_ms`` (open times, inclusive) that need REST candles."""

    start_ms: int
    end_ms: int | None  # None while the stream is still down
    retry_at: float = -math.inf  # anyio.current_time() of the next backfill attempt
    failures: int = 0


@attrs.define
class _Market:
    next_ms: int  # open time of the first interval not emitted yet
    pending: deque[Bar] = attrs.field(factory=deque)  # built bars held back, in time order
    tainted: list[_Tainted] = attrs.field(factory=list)  # in time order, not overlapping


class LiveBarFeed:
    """An async iterator of closed bars for the stream's markets, in time order per market.

    Intervals without trades produce no bar (like Bithumb's REST candles). REST is asked only
    about tainted intervals, and only once they have closed (their end plus the builder's grace
    has passed on ``clock``); closed tainted intervals are fetched even while the stream is still
    down, so a long outage delays bars by about one interval rather than stopping them. If REST
    has no candle for an interval that trades did build, the trade-built bar is kept (with a
    warning). A temporary backfill error (:class:`~tradekit.errors.TemporaryExchangeError`,
    ``OSError``, ``TimeoutError``) is retried with capped exponential backoff while trades keep
    being read; any other error ends the iteration by propagating.

    Args:
        stream: The trade stream; the feed reads it and listens to its connection callbacks.
        builder: Builds bars from the stream's trades (its timeframe is the feed's).
        backfill: Fetches REST candles, e.g. ``BithumbExchange.fetch_candles``.
        clock: Wall clock in Unix ms; it must be the stream's clock (the default).
        start_ms: Emit bars from the interval holding this time (default: now). Intervals before
            the stream goes live come from ``backfill``, so this also loads warm-up history.
        poll_interval: Seconds between clock checks while no trade arrives.
        gap_margin_ms: Widening of every gap on both sides, for clock skew between this host
            and the exchange and for trades in flight.
        backoff_initial: First delay before retrying a failed backfill (seconds).
        backoff_max: Largest retry delay (seconds).
        on_trade: Called with every trade of the feed's markets as it arrives, before it is
            built into a bar (live trading watches its stops on it).
    """

    def __init__(
        self,
        stream: TradeStream,
        builder: CandleBuilder,
        backfill: Backfill,
        *,
        clock: Callable[[], int] | None = None,
        start_ms: int | None = None,
        poll_interval: float = 1.0,
        gap_margin_ms: int = 1000,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        on_trade: Callable[[Trade], None] | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
        if gap_margin_ms < 0:
            raise ValueError(f"gap_margin_ms must be >= 0, got {gap_margin_ms!r}")
        self.stream = stream
        self.builder = builder
        self.timeframe = builder.timeframe
        self._backfill = backfill
        self._clock = clock or stream.clock
        self._poll_interval = poll_interval
        self._margin = gap_margin_ms
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._on_trade = on_trade
        self._period = builder.timeframe.milliseconds
        self._grace_ms = round(builder.grace_s * 1000)
        self._out: deque[Bar] = deque()
        self._done = False
        first = builder.interval_start(self._clock() if start_ms is None else start_ms)
        # Nothing before the stream goes live was seen: the start is a gap like any other.
        self._markets = {
            market: _Market(first, tainted=[_Tainted(first, None)]) for market in stream.markets
        }
        stream.add_listener(
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_reconnect=self._on_reconnect,
        )
        if stream.is_live:
            self._on_connect(self._clock())

    # ---- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> LiveBarFeed:
        return self

    async def __anext__(self) -> Bar:
        while True:
            if self._out:
                return self._out.popleft()
            if self._done:
                raise StopAsyncIteration
            for bar in self.builder.close_due(self._clock()):
                self._add(bar)
            await self._backfill_due()
            if self._out:
                continue
            try:
                trade = await self.stream.receive(self._poll_interval)
            except anyio.ClosedResourceError:
                self._done = True
                continue
            if trade is not None and trade.market in self._markets:
                if self._on_trade is not None:
                    self._on_trade(trade)
                closed = self.builder.add(trade)
                if closed is not None:
                    self._add(closed)

    async def aclose(self) -> None:
        """Close the stream; iteration ends after the bars already released (held ones drop)."""
        self._done = True
        await self.stream.aclose()

    async def __aenter__(self) -> LiveBarFeed:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- gaps (stream callbacks; they run inside stream.receive, in this task) -------------

    def _on_connect(self, live_ms: int) -> None:
        self._end_gap(live_ms)

    def _on_disconnect(self, since_ms: int) -> None:
        first = self.builder.interval_start(since_ms - self._margin)
        for market in self._markets.values():
            start = max(first, market.next_ms)
            last = market.tainted[-1] if market.tainted else None
            if last is not None and (last.end_ms is None or start <= last.end_ms + self._period):
                last.end_ms = None  # overlaps or touches the unresolved range: extend it
            else:
                market.tainted.append(_Tainted(start, None))

    def _on_reconnect(self, gap_start_ms: int, gap_end_ms: int) -> None:
        # on_disconnect (or the start) already opened the range at gap_start_ms.
        self._end_gap(gap_end_ms)

    def _end_gap(self, live_ms: int) -> None:
        last = self.builder.interval_start(live_ms + self._margin)
        for market in self._markets.values():
            if market.tainted and market.tainted[-1].end_ms is None:
                gap = market.tainted[-1]
                gap.end_ms = max(last, gap.start_ms)

    # ---- emitting --------------------------------------------------------------------------

    def _add(self, bar: Bar) -> None:
        market = self._markets.get(bar.market)
        if market is not None:
            market.pending.append(bar)
            self._release(market)

    def _release(self, market: _Market) -> None:
        """Emit held bars that come before every tainted interval."""
        pending = market.pending
        while pending:
            bar = pending[0]
            if bar.time_ms < market.next_ms:
                # Its interval was already emitted (from REST): never twice.
                pending.popleft()
                continue
            if market.tainted and bar.time_ms >= market.tainted[0].start_ms:
                return
            pending.popleft()
            self._out.append(bar)
            market.next_ms = bar.time_ms + self._period

    async def _backfill_due(self) -> None:
        # Intervals opening before this have ended at least grace ago: they are final.
        closed_before = self.builder.interval_start(self._clock() - self._grace_ms)
        for name, market in self._markets.items():
            self._release(market)
            while market.tainted:
                gap = market.tainted[0]
                until = (
                    closed_before
                    if gap.end_ms is None
                    else min(gap.end_ms + self._period, closed_before)
                )
                since = max(gap.start_ms, market.next_ms)
                if until <= since or anyio.current_time() < gap.retry_at:
                    break
                if not await self._fill(name, market, gap, since, until):
                    break
                if gap.end_ms is not None and until >= gap.end_ms + self._period:
                    market.tainted.pop(0)
                else:
                    gap.start_ms = until  # the rest has not closed yet
                self._release(market)

    async def _fill(
        self, name: str, market: _Market, gap: _Tainted, since: int, until: int
    ) -> bool:
        """Emit ``[since, until)`` from REST (trade-built bars where REST has none)."""
        try:
            fetched = await self._backfill(name, self.timeframe, since, until)
        except _TEMPORARY as exc:
            gap.failures += 1
            delay = backoff_delay(gap.failures - 1, self._backoff_initial, self._backoff_max)
            gap.retry_at = anyio.current_time() + delay
            logger.warning(
                "bars {} {}: backfill of {}..{} failed ({!r}); retrying in {:.1f} s",
                name,
                self.timeframe,
                since,
                until,
                exc,
                delay,
            )
            return False
        gap.failures = 0
        chosen: dict[int, Bar] = {}
        for bar in fetched:
            if bar.market == name and since <= bar.time_ms < until:
                chosen[bar.time_ms] = bar
        while market.pending and market.pending[0].time_ms < until:
            built = market.pending.popleft()
            rest = chosen.get(built.time_ms)
            if rest is None:
                logger.warning(
                    "bars {} {}: REST has no candle at {}; keeping the bar built from trades",
                    name,
                    self.timeframe,
                    built.time_ms,
                )
                chosen[built.time_ms] = built
            elif rest != built:
                logger.info(
                    "bars {} {}: REST candle at {} differs from the trades seen; using REST",
                    name,
                    self.timeframe,
                    built.time_ms,
                )
        self._out.extend(chosen[t] for t in sorted(chosen))
        market.next_ms = until
        logger.debug(
            "bars {} {}: backfilled {}..{} ({} bars)",
            name,
            self.timeframe,
            since,
            until,
            len(chosen),
        )
        return True
