"""Backtests over recorded candle columns: the core steps only the bars that can matter.

A bar changes nothing but the equity curve when nothing is held, pending or being sold and
the strategy has no signal on it (:attr:`TradingCore.idle`). A strategy that scans its whole
history ahead (:class:`~tradekit.interfaces.ScansCandles`) says which bars have a signal, so
the runs of bars between them, while the core is idle, go to :meth:`TradingCore.step_idle` in
one call; every other bar goes to :meth:`TradingCore.step` as in any other mode. The core
still makes every decision; what is skipped is provably nothing.

Bars of several markets are processed in open-time order, ties in config order, exactly as
:func:`tradekit.backtest.merge_markets` orders them.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from tradekit.engine.core import TradingCore
from tradekit.errors import StrategyError
from tradekit.interfaces import CandleArrays, ScansCandles
from tradekit.models import Bar, Signal, trusted_bar

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BarColumns", "run_candles", "scans_all"]


class BarColumns:
    """:class:`~tradekit.interfaces.CandleArrays` of a list of one market's bars."""

    __slots__ = ("close", "high", "low", "market", "open", "times", "volume")

    def __init__(self, market: str, bars: Sequence[Bar]) -> None:
        self.market = market
        self.times = array("q", [b.time_ms for b in bars])
        self.open = array("d", [b.open for b in bars])
        self.high = array("d", [b.high for b in bars])
        self.low = array("d", [b.low for b in bars])
        self.close = array("d", [b.close for b in bars])
        self.volume = array("d", [b.volume for b in bars])

    def __len__(self) -> int:
        return len(self.times)


def bars_of(candles: CandleArrays) -> Iterator[Bar]:
    """The candles as bars, oldest first."""
    c = candles
    return map(Bar, repeat(c.market), c.times, c.open, c.high, c.low, c.close, c.volume)


def scans_all(core: TradingCore) -> bool:
    """True when every market's strategy can scan its candles ahead."""
    return all(_scans(state.strategy) for state in core.states.values())


def _scans(strategy: object) -> bool:
    # A subclass that changes on_bar but inherits the scan would be scanned by rules that are
    # no longer its own: its scan must be defined where its on_bar is, or below.
    if not isinstance(strategy, ScansCandles):
        return False
    mro = type(strategy).__mro__
    if any(
        name in getattr(strategy, "__dict__", ()) for name in ("on_bar", "signal_rows", "signal_at")
    ):
        return False  # set on the instance: where it comes from cannot be told
    on_bar, rows, at = (
        next((cls for cls in mro if name in vars(cls)), None)
        for name in ("on_bar", "signal_rows", "signal_at")
    )
    if on_bar is None or rows is None or at is None:
        return False
    return issubclass(rows, on_bar) and issubclass(at, on_bar)


def run_candles(
    core: TradingCore,
    candles: Sequence[CandleArrays],
    *,
    progress: Callable[[int], None] | None = None,
    chunk: int = 50_000,
) -> None:
    """Process every market's candles (one per market, in config order), then close out.

    Args:
        core: the decision core; every market's strategy must scan (:func:`scans_all`).
        candles: each market's candles, in the core's market order.
        progress: told the number of bars done, about every ``chunk`` bars.
        chunk: bars between progress reports.
    """
    candles = list(candles)
    order = _Order(candles)
    n = order.size
    signal_positions = []
    for rank, c in enumerate(candles):
        state = core.states[c.market]
        strategy = state.strategy
        assert isinstance(strategy, ScansCandles)
        try:
            rows = list(strategy.signal_rows(c))
        except Exception as exc:
            raise StrategyError(
                f"strategy {type(strategy).__name__} failed scanning {c.market}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        core.decide_with(c.market, _Decisions(strategy, c, rows))
        signal_positions += order.positions(rank, rows)
    signal_positions.sort()
    signal_positions.append(n)  # a sentinel: the end

    times = order.times
    step = core.step
    at = order.at
    single = len(candles) == 1
    if single:  # one market: position k is row k (the usual backtest)
        only = candles[0]
        market = only.market
        t, o, h, lo, cl, v = only.times, only.open, only.high, only.low, only.close, only.volume
    next_signal = 0
    next_report = chunk
    reported = 0
    k = 0
    while k < n:
        if core.idle:
            while signal_positions[next_signal] < k:
                next_signal += 1
            upto = signal_positions[next_signal]
            if upto > k:
                core.step_idle(times[k:upto], order.last_closes(k, upto))
                k = upto
                if progress is not None and k >= next_report:
                    progress(reported := k)
                    next_report = (k // chunk + 1) * chunk
                if k == n:
                    break
        # The rows are checked already (CandleArrays): the bar is not checked again.
        if single:
            step(trusted_bar(market, t[k], o[k], h[k], lo[k], cl[k], v[k]))
        else:
            col, row = at(k)
            step(
                trusted_bar(
                    col.market,
                    col.times[row],
                    col.open[row],
                    col.high[row],
                    col.low[row],
                    col.close[row],
                    col.volume[row],
                )
            )
        k += 1
        if progress is not None and k >= next_report:
            progress(reported := k)
            next_report = (k // chunk + 1) * chunk
    if progress is not None and reported != n:
        progress(n)
    core.finish()


class _Decisions:
    """A market's signals as its strategy's scan found them, asked for bar by bar."""

    __slots__ = ("_candles", "_rows", "_strategy")

    def __init__(self, strategy: ScansCandles, candles: CandleArrays, rows: list[int]) -> None:
        self._strategy = strategy
        self._candles = candles
        times = candles.times
        self._rows = {times[row]: row for row in rows}

    def __call__(self, bar: Bar) -> Signal | None:
        row = self._rows.get(bar.time_ms)
        if row is None:
            return None
        return self._strategy.signal_at(self._candles, row)


class _Order:
    """The processing order of several markets' bars: position ``k`` is (market, row)."""

    def __init__(self, candles: list[CandleArrays]) -> None:
        self.candles = candles
        self.size = sum(len(c) for c in candles)
        if len(candles) == 1:
            times = candles[0].times
            self.times: array[int] = times if isinstance(times, array) else array("q", times)
            self._ranks: list[int] | None = None
            self._rows: list[int] | None = None
            return
        import numpy as np

        lengths = [len(c) for c in candles]
        all_times = np.concatenate([np.asarray(c.times, dtype=np.int64) for c in candles])
        ranks = np.repeat(np.arange(len(candles)), lengths)
        merged = np.lexsort((ranks, all_times))  # by time, then config order
        self._offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self._position_of = np.empty(self.size, dtype=np.int64)
        self._position_of[merged] = np.arange(self.size)
        merged_ranks = ranks[merged]
        self.times = array("q", all_times[merged].tobytes())
        self._ranks = merged_ranks.tolist()
        self._rows = (merged - self._offsets[merged_ranks]).tolist()
        self._market_positions: list[np.ndarray] = [
            np.flatnonzero(merged_ranks == rank) for rank in range(len(candles))
        ]

    def positions(self, rank: int, rows: list[int]) -> list[int]:
        """The processing positions of market ``rank``'s ``rows``."""
        if self._ranks is None:
            return rows
        import numpy as np

        found = self._position_of[self._offsets[rank] + np.asarray(rows, dtype=np.int64)]
        return found.tolist()  # type: ignore[no-any-return]

    def at(self, k: int) -> tuple[CandleArrays, int]:
        """The market's candles and the row at position ``k``."""
        if self._ranks is None:
            return self.candles[0], k
        assert self._rows is not None
        return self.candles[self._ranks[k]], self._rows[k]

    def last_closes(self, start: int, stop: int) -> dict[str, tuple[int, float]]:
        """Each market's last bar among positions ``start`` to ``stop - 1``: (time, close)."""
        out: dict[str, tuple[int, float]] = {}
        if self._ranks is None:
            c = self.candles[0]
            out[c.market] = (c.times[stop - 1], c.close[stop - 1])
            return out
        assert self._rows is not None
        for rank, positions in enumerate(self._market_positions):
            i = int(positions.searchsorted(stop)) - 1
            if i >= 0 and positions[i] >= start:
                c, row = self.candles[rank], self._rows[int(positions[i])]
                out[c.market] = (c.times[row], c.close[row])
        return out
