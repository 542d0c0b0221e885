"""The breakout strategy of ``docs/backtests.md#signal``.

Entry on bar i when ``close[i] > max(high[i-lookback..i-1])`` and
``volume[i] > volume_factor * mean(volume[i-lookback..i-1])``. The window excludes bar i, and
the strategy only ever receives closed bars, so it cannot see a bar before it closes.

Volumes are compared exactly: each is held as an integer count of 1e-8 units (the finest
quantity any KRW market uses) and the factor as a fraction, so a run of zero-volume bars
gives a mean of exactly zero instead of float residue.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from itertools import repeat
from typing import TYPE_CHECKING, ClassVar

import attrs

from tradekit.interfaces import CandleArrays
from tradekit.models import Bar, ExitPlan, Signal
from tradekit.params import check_range

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BreakoutStrategy"]

_VOLUME_UNITS = 100_000_000


@attrs.frozen
class BreakoutConfig:
    """Parameters with the defaults of docs/backtests.md#parameters."""

    lookback: int = attrs.field(default=20, validator=check_range(1, None))
    volume_factor: float = attrs.field(default=1.5, validator=check_range(0, None))
    stop_loss: float = attrs.field(default=0.015, validator=check_range(0, 1, low_open=True))
    take_profit: float = attrs.field(default=0.03, validator=check_range(0, None, low_open=True))
    take_profit_fraction: float = attrs.field(default=0.5, validator=check_range(0, 1))
    trailing_stop: float = attrs.field(
        default=0.01, validator=check_range(0, 1, low_open=True, high_open=True)
    )


class BreakoutStrategy:
    """20-bar high breakout with a volume filter; exits by stop, partial take-profit, trail."""

    name: ClassVar[str] = "breakout"
    Config: ClassVar[type[BreakoutConfig]] = BreakoutConfig

    def __init__(self, config: BreakoutConfig) -> None:
        self.config = config
        self.lookback = config.lookback
        # The two windows of the rule, kept inline rather than as indicator objects
        # (tradekit_breakout.indicators): on_bar runs for every bar of every backtest, and two
        # method calls and a property per bar were a third of its time.
        # Highest highs: a monotonic deque of (bar number, high), the window's maximum first.
        self._highs: deque[tuple[int, float]] = deque()
        # Volumes in 1e-8 units: a ring of the last ``lookback`` and their exact sum.
        self._volumes = [0] * config.lookback
        self._volume_total = 0
        self._count = 0  # bars seen
        factor = Fraction(str(config.volume_factor))
        # volume[i] > factor * total / lookback  <=>  volume[i] * lookback * den > num * total
        self._lhs_scale = config.lookback * factor.denominator
        self._rhs_scale = factor.numerator
        self.exit_plan = ExitPlan(
            stop_loss=config.stop_loss,
            take_profit=config.take_profit,
            take_profit_fraction=config.take_profit_fraction,
            trailing_stop=config.trailing_stop,
        )

    @property
    def warmup_bars(self) -> int:
        """Closed bars needed before the first possible signal."""
        return self.lookback

    def on_bar(self, bar: Bar) -> Signal | None:
        """Update the window with a closed bar; return a buy signal on a breakout."""
        volume = round(bar.volume * 100_000_000)  # _VOLUME_UNITS, as a constant of the code
        high = bar.high
        highs = self._highs
        count = self._count
        lookback = self.lookback
        signal = None
        if (
            count >= lookback
            and bar.close > highs[0][1]
            and volume * self._lhs_scale > self._rhs_scale * self._volume_total
        ):
            signal = self._signal(bar.market, bar.time_ms, bar.close, highs[0][1])
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((count, high))
        if highs[0][0] <= count - lookback:
            highs.popleft()
        slot = count % lookback
        volumes = self._volumes
        self._volume_total += volume - volumes[slot]
        volumes[slot] = volume
        self._count = count + 1
        return signal

    def _signal(self, market: str, time_ms: int, close: float, window_high: float) -> Signal:
        return Signal(
            market=market,
            time_ms=time_ms,
            action="buy",
            price=close,
            exit_plan=self.exit_plan,
            confidence=1.0,
            reason=f"close {close:,.10g} above {self.lookback}-bar high {window_high:,.10g}",
            strategy=self.name,
        )

    # -- the whole history at once (backtests; tradekit.interfaces.ScansCandles) -----------

    def signal_rows(self, candles: CandleArrays) -> list[int]:
        """The rows on which :meth:`on_bar`, fed every row from the first, would signal.

        The same two tests on whole columns: the window's highest high by blocks (van Herk /
        Gil-Werman, linear in the rows whatever the lookback) and the volume sums as exact
        integers. Where those integers could overflow 64 bits, the rows are found by
        :meth:`on_bar` itself, on a fresh copy of this strategy.
        """
        import numpy as np

        n, lookback = len(candles), self.lookback
        if n <= lookback:
            return []
        high = np.asarray(candles.high, dtype=np.float64)
        close = np.asarray(candles.close, dtype=np.float64)
        # on_bar's round(volume * 1e8): the same product, rounded half to even.
        units = np.rint(np.asarray(candles.volume, dtype=np.float64) * _VOLUME_UNITS)
        # In exact integers: the scales of a factor such as 1e-300 are too big for a float,
        # and with every volume zero they still must not reach numpy's 64-bit products.
        biggest = max(int(units.max()), 1)
        if biggest * lookback * max(self._lhs_scale, self._rhs_scale) >= 2**62:
            return self._rows_bar_by_bar(candles)
        window_high = _window_max(high, lookback)  # [j]: max of high[j : j + lookback]
        breakout = close[lookback:] > window_high[:-1]
        volumes = units.astype(np.int64)
        sums = np.cumsum(volumes)
        # Sum of the ``lookback`` volumes before row i, for i >= lookback.
        totals = sums[lookback - 1 : n - 1] - np.concatenate(([0], sums[: n - lookback - 1]))
        surge = volumes[lookback:] * self._lhs_scale > totals * self._rhs_scale
        rows: list[int] = (np.flatnonzero(breakout & surge) + lookback).tolist()
        return rows

    def signal_at(self, candles: CandleArrays, row: int) -> Signal:
        """The signal :meth:`on_bar` returns on ``row`` (one of :meth:`signal_rows`)."""
        window_high = max(candles.high[row - self.lookback : row])
        return self._signal(candles.market, candles.times[row], candles.close[row], window_high)

    def _rows_bar_by_bar(self, candles: CandleArrays) -> list[int]:
        fresh = type(self)(self.config)
        c = candles
        bars = map(Bar, repeat(c.market), c.times, c.open, c.high, c.low, c.close, c.volume)
        return [row for row, bar in enumerate(bars) if fresh.on_bar(bar) is not None]


def _window_max(values: np.ndarray, width: int) -> np.ndarray:
    """``out[j] = max(values[j : j + width])`` for every full window (van Herk / Gil-Werman)."""
    import numpy as np

    n = len(values)
    blocks = -(-n // width)
    padded = np.full(blocks * width, -np.inf)
    padded[:n] = values
    shaped = padded.reshape(blocks, width)
    prefix = np.maximum.accumulate(shaped, axis=1).ravel()  # max from each block's start
    suffix = np.maximum.accumulate(shaped[:, ::-1], axis=1)[:, ::-1].ravel()  # to its end
    starts = np.arange(n - width + 1)
    return np.maximum(suffix[starts], prefix[starts + width - 1])
