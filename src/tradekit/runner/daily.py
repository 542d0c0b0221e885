"""The daily performance report: one :class:`~tradekit.events.DailyReport` per trading day."""

from __future__ import annotations

from tradekit.events import DailyReport
from tradekit.trading_day import TradingDay

__all__ = ["DailyTracker"]


class DailyTracker:
    """Follows equity bar by bar and closed trades; reports a day when the next one starts.

    Days are calendar days in ``timezone`` (Asia/Seoul by default, like the daily loss limit).
    O(1) per bar.
    """

    def __init__(self, timezone: str = "Asia/Seoul") -> None:
        self._day = TradingDay(timezone)
        self._label = ""
        self._start_equity = 0.0
        self._last_equity = 0.0
        self._peak = 0.0
        self._max_drawdown = 0.0
        self._trades = 0
        self._wins = 0

    def on_bar(self, time_ms: int, equity: float) -> DailyReport | None:
        """Record the equity after a bar; returns the previous day's report on a new day."""
        report = None
        if self._day.is_new_day(time_ms):
            if self._label:
                report = self.report(time_ms)
            self._label = self._day.label
            self._start_equity = self._peak = self._last_equity or equity
            self._max_drawdown = 0.0
            self._trades = self._wins = 0
        self._last_equity = equity
        if equity > self._peak:
            self._peak = equity
        elif self._peak > 0:
            drawdown = 1 - equity / self._peak
            if drawdown > self._max_drawdown:
                self._max_drawdown = drawdown
        return report

    def on_trade_closed(self, pnl: float) -> None:
        """Count a round trip that ended today."""
        self._trades += 1
        if pnl > 0:
            self._wins += 1

    def report(self, time_ms: int, notes: str = "") -> DailyReport:
        """The report of the day followed so far (also for a partial day, at shutdown)."""
        return DailyReport(
            time_ms,
            self._label,
            self._start_equity,
            self._last_equity,
            self._last_equity - self._start_equity,
            self._max_drawdown,
            self._trades,
            self._wins / self._trades if self._trades else None,
            notes,
        )

    @property
    def started(self) -> bool:
        """True once a bar has been seen."""
        return bool(self._label)
