"""The last closed bars of each market, kept in memory for the dashboard's charts."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from tradekit.models import Bar

__all__ = ["DEFAULT_SIZE", "RecentBars"]

#: Bars kept per market: as many as ``GET /candles`` may return.
DEFAULT_SIZE = 1000


class RecentBars:
    """A bounded window of closed bars per market, oldest first. O(1) per bar.

    Bars of markets it was not made for are ignored; a bar no newer than the last one kept
    replaces it when it has the same open time (a corrected bar) and is dropped otherwise, so
    the window stays in time order for the chart.
    """

    def __init__(self, markets: Iterable[str], size: int = DEFAULT_SIZE) -> None:
        self._bars: dict[str, deque[Bar]] = {m: deque(maxlen=size) for m in markets}

    def add(self, bar: Bar) -> None:
        """Keep ``bar``, dropping the oldest bar of its market when the window is full."""
        window = self._bars.get(bar.market)
        if window is None:
            return
        if window and bar.time_ms <= window[-1].time_ms:
            if bar.time_ms == window[-1].time_ms:
                window[-1] = bar
            return
        window.append(bar)

    def extend(self, bars: Iterable[Bar]) -> None:
        """Keep each of ``bars`` in turn (warm-up history)."""
        for bar in bars:
            self.add(bar)

    def last(self, market: str, limit: int) -> list[Bar]:
        """The last ``limit`` bars of ``market``, oldest first (KeyError: not a kept market)."""
        window = self._bars[market]
        if limit >= len(window):
            return list(window)
        return list(window)[-limit:]
