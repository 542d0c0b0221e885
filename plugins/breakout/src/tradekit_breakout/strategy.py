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
from typing import ClassVar

import attrs

from tradekit.models import Bar, ExitPlan, Signal
from tradekit.params import check_range

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
            signal = Signal(
                market=bar.market,
                time_ms=bar.time_ms,
                action="buy",
                price=bar.close,
                exit_plan=self.exit_plan,
                confidence=1.0,
                reason=f"close {bar.close:,.10g} above {lookback}-bar high {highs[0][1]:,.10g}",
                strategy=self.name,
            )
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
