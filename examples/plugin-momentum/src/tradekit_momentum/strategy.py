"""Buy after ``rising_bars`` consecutive higher closes; exits come from the exit plan."""

from __future__ import annotations

from typing import ClassVar

import attrs

from tradekit.models import Bar, ExitPlan, Signal


@attrs.frozen
class MomentumConfig:
    """Options of the ``momentum`` strategy."""

    rising_bars: int = 4
    stop_loss: float = 0.02
    take_profit: float = 0.04


class Momentum:
    """A minimal strategy: a counter of rising closes."""

    name: ClassVar[str] = "momentum"

    Config: ClassVar[type[MomentumConfig]] = MomentumConfig

    def __init__(self, config: MomentumConfig) -> None:
        self.config = config
        self.plan = ExitPlan(
            stop_loss=config.stop_loss, take_profit=config.take_profit, take_profit_fraction=1.0
        )
        self._rising = 0
        self._last: float | None = None

    @property
    def warmup_bars(self) -> int:
        return self.config.rising_bars + 1

    def on_bar(self, bar: Bar) -> Signal | None:
        rising = self._last is not None and bar.close > self._last
        self._rising = self._rising + 1 if rising else 0
        self._last = bar.close
        if self._rising == self.config.rising_bars:
            return Signal(
                bar.market,
                bar.time_ms,
                "buy",
                bar.close,
                self.plan,
                reason=f"{self._rising} rising closes",
                strategy=self.name,
            )
        return None
