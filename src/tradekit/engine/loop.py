"""The async engine loop shared by backtest, paper and live runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tradekit.engine.core import TradingCore
from tradekit.models import Bar

__all__ = ["Venue", "run_loop"]


class Venue(Protocol):
    """A source of closed bars (the simulated and paper venues)."""

    def bars(self) -> AsyncIterator[Bar]: ...


async def run_loop(core: TradingCore, venue: Venue, *, finish: bool = True) -> None:
    """Feed every bar of ``venue`` to ``core``; with ``finish``, close out at the end.

    The core is sync and does no I/O: all awaiting happens here, between bars.
    """
    step = core.step
    async for bar in venue.bars():
        step(bar)
    if finish:
        core.finish()
