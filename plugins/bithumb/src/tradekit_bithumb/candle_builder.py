"""Closed candles built from a trade stream.

Pure and synchronous: :class:`CandleBuilder` does no I/O and keeps one partial bar per market,
so each trade costs O(1). Intervals without trades produce no bar, exactly like Bithumb's REST
candles (docs/bithumb.md#candles, "gaps"); callers that want a bar per interval forward-fill
themselves.
"""

from __future__ import annotations

from decimal import Decimal

from loguru import logger

from tradekit.models import Bar, Timeframe, Trade

__all__ = ["CandleBuilder"]


class _Partial:
    """The open interval of one market (mutable; only the builder sees it)."""

    __slots__ = (
        "close",
        "close_ms",
        "high",
        "low",
        "open",
        "open_ms",
        "start_ms",
        "volume",
    )

    def __init__(self, start_ms: int, trade: Trade) -> None:
        self.start_ms = start_ms
        self.open = self.high = self.low = self.close = trade.price
        self.open_ms = self.close_ms = trade.time_ms
        # Summed as decimals of the printed volumes so 0.1 + 0.2 closes as 0.3, as REST reports.
        self.volume = Decimal(repr(trade.volume))

    def add(self, trade: Trade) -> None:
        price, time_ms = trade.price, trade.time_ms
        # Open/close follow trade time, not arrival order; ties keep arrival order.
        if time_ms < self.open_ms:
            self.open, self.open_ms = price, time_ms
        if time_ms >= self.close_ms:
            self.close, self.close_ms = price, time_ms
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.volume += Decimal(repr(trade.volume))

    def bar(self, market: str) -> Bar:
        return Bar(
            market, self.start_ms, self.open, self.high, self.low, self.close, float(self.volume)
        )


class CandleBuilder:
    """Turns trades into closed bars of one timeframe, for any number of markets.

    A bar closes when a trade of a later interval of its market arrives (:meth:`add`), or when
    the clock passes the interval's end plus ``grace_s`` (:meth:`close_due`); the grace leaves
    room for trades still in flight. A trade for an interval that is already closed (or that a
    later interval has already started after) is late: it is ignored with a log line, so a bar
    never changes after it was handed out.

    Args:
        timeframe: The bar interval; bars open at multiples of it since the Unix epoch (UTC).
        grace_s: Seconds after an interval's end before :meth:`close_due` closes it.
    """

    def __init__(self, timeframe: Timeframe, grace_s: float = 2.0) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s!r}")
        self.timeframe = timeframe
        self.grace_s = grace_s
        self._period = timeframe.milliseconds
        self._grace_ms = round(grace_s * 1000)
        self._open: dict[str, _Partial] = {}
        # Per market: trades before this time belong to closed intervals.
        self._closed_until: dict[str, int] = {}

    def interval_start(self, time_ms: int) -> int:
        """Open time of the interval holding ``time_ms``."""
        return time_ms - time_ms % self._period

    def add(self, trade: Trade) -> Bar | None:
        """Add a trade; return the bar it closed, if any (at most one: the market's open bar)."""
        market, time_ms = trade.market, trade.time_ms
        if time_ms < self._closed_until.get(market, time_ms):
            logger.info(
                "candles {} {}: late trade at {} ignored (interval already closed)",
                market,
                self.timeframe,
                time_ms,
            )
            return None
        start = time_ms - time_ms % self._period
        partial = self._open.get(market)
        if partial is not None and partial.start_ms == start:
            partial.add(trade)
            return None
        self._open[market] = _Partial(start, trade)
        # Intervals before the new one are closed, including empty ones in between.
        self._closed_until[market] = start
        return partial.bar(market) if partial is not None else None

    def close_due(self, now_ms: int) -> list[Bar]:
        """Close every open bar whose interval ended more than ``grace_s`` before ``now_ms``."""
        closed: list[Bar] = []
        for market, partial in list(self._open.items()):
            end = partial.start_ms + self._period
            if now_ms >= end + self._grace_ms:
                del self._open[market]
                self._closed_until[market] = end
                closed.append(partial.bar(market))
        return closed

    def open_bar(self, market: str) -> Bar | None:
        """The market's interval still being built, as a bar (not closed; it may still change)."""
        partial = self._open.get(market)
        return partial.bar(market) if partial is not None else None
