"""Venues: where bars come from (and, live, where orders go).

The simulated venue yields recorded bars; fills are simulated by the core's bar fill model
(``spec/breakout.md``). A paper venue does the same over bars arriving from an exchange
plugin, so a paper run over recorded bars makes exactly the fills of a backtest.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

import anyio.lowlevel

from tradekit.models import Bar

__all__ = ["PaperVenue", "SimulatedVenue"]


class SimulatedVenue:
    """Recorded bars, in processing order. Advances only when the engine asks for more.

    Args:
        bars: bars already merged into processing order (see ``merge_markets``).
        yield_every: let other tasks run every this many bars (API, store writer).
    """

    def __init__(self, bars: Iterable[Bar], yield_every: int = 1024) -> None:
        self._bars = bars
        self._yield_every = yield_every

    async def bars(self) -> AsyncIterator[Bar]:
        """The bars, with a scheduling checkpoint every ``yield_every`` bars."""
        every = self._yield_every
        for count, bar in enumerate(self._bars, start=1):
            yield bar
            if count % every == 0:
                await anyio.lowlevel.checkpoint()


class PaperVenue:
    """Closed bars from a live (or replayed) stream; fills simulated by the bar fill model."""

    def __init__(self, stream: AsyncIterable[Bar]) -> None:
        self._stream = stream

    async def bars(self) -> AsyncIterator[Bar]:
        """The stream's closed bars as they arrive."""
        async for bar in self._stream:
            yield bar
