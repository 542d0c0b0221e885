"""The one loop that drives the decision core in every mode.

Paper and live trading hand :func:`run_loop` the exchange's live bars (an async iterable);
a backtest hands :func:`run_recorded` recorded bars outside any event loop. Either way each
bar goes to :meth:`TradingCore.step` and nothing else decides.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterable, Callable, Iterable

import anyio.lowlevel

from tradekit.engine.core import TradingCore
from tradekit.models import Bar

__all__ = ["run_loop", "run_recorded"]

AfterBar = Callable[[Bar, float], None]


async def run_loop(
    core: TradingCore,
    bars: Iterable[Bar] | AsyncIterable[Bar],
    *,
    after_bar: AfterBar | None = None,
    finish: bool = False,
    checkpoint_every: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed every bar to ``core``; with ``finish``, close out at the end (backtests).

    Args:
        core: the decision core.
        bars: closed bars in processing order.
        after_bar: called after each bar with the bar and the seconds its step took.
        finish: sell what is open at the last close afterwards (``end_of_data``).
        checkpoint_every: with recorded bars, let other tasks run this often.
        progress: with recorded bars, told the number of bars done at each checkpoint.
    """
    step = core.step
    if isinstance(bars, AsyncIterable):
        async for bar in bars:
            started = time.perf_counter()
            step(bar)
            if after_bar is not None:
                after_bar(bar, time.perf_counter() - started)
    else:
        count = done = 0
        for bar in bars:
            if after_bar is None:
                step(bar)
            else:
                started = time.perf_counter()
                step(bar)
                after_bar(bar, time.perf_counter() - started)
            count += 1
            if count == checkpoint_every:
                done += count
                count = 0
                if progress is not None:
                    progress(done)
                await anyio.lowlevel.checkpoint()
        if progress is not None and count:
            progress(done + count)
    if finish:
        core.finish()


def run_recorded(
    core: TradingCore,
    bars: Iterable[Bar],
    *,
    progress: Callable[[int], None] | None = None,
    chunk: int = 50_000,
) -> None:
    """The same loop for recorded bars outside an event loop (backtests), then close out.

    Args:
        core: the decision core.
        bars: closed bars in processing order.
        progress: told the number of bars done after every ``chunk`` bars.
        chunk: bars between progress reports.
    """
    step = core.step
    if progress is None:
        for bar in bars:
            step(bar)
    else:
        done = 0
        iterator = iter(bars)
        while True:
            # Not a list of the chunk's bars: bars that outlive a few allocations are moved to
            # the garbage collector's older generations and scanned again and again (a
            # million bars held 50,000 at a time cost more than the engine's own work).
            count = 0
            for count, bar in enumerate(itertools.islice(iterator, chunk), 1):  # noqa: B007
                step(bar)
            if not count:
                break
            done += count
            progress(done)
    core.finish()
