"""Trading days: UTC millisecond times mapped to calendar days in a time zone (Asia/Seoul).

The daily loss limit and the daily performance report both count days this way, so it lives
in the core rather than in either of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["TradingDay"]

_DAY_MS = 86_400_000
_MS = timedelta(milliseconds=1)


class TradingDay:
    """Maps UTC millisecond times to calendar days in a time zone, O(1) per call.

    The boundaries of the current day are cached, so the zone is consulted once per day (and
    the next day, the usual case in a backtest, costs a single look-up of the zone's offset).
    """

    def __init__(self, timezone: str = "Asia/Seoul") -> None:
        self.zone = ZoneInfo(timezone)
        self.start_ms = 0
        self.end_ms = -1
        self._known = False
        self._end_offset: timedelta | None = None  # the zone's offset at end_ms
        self._label = ""

    @property
    def label(self) -> str:
        """The current day as ``YYYY-MM-DD`` (empty before the first call)."""
        if not self._label and self._known:
            self._label = datetime.fromtimestamp(self.start_ms / 1000, self.zone).date().isoformat()
        return self._label

    def _offset_at(self, time_ms: int) -> timedelta | None:
        return datetime.fromtimestamp(time_ms / 1000, self.zone).utcoffset()

    def is_new_day(self, time_ms: int) -> bool:
        """Move to the day of ``time_ms``; True when it differs from the previous call's day.

        Days only move forward: a time before the current day (a late bar of another market,
        live) counts as the current day, so a halt is never lifted by a late bar.
        """
        if self.start_ms <= time_ms < self.end_ms or (self._known and time_ms < self.start_ms):
            return False
        if self._known and time_ms < self.end_ms + _DAY_MS:
            # Most likely the next day: it starts where the current one ends and lasts 24 h
            # unless the zone's offset changes during it (daylight saving time) or right at
            # its start (a midnight that does not exist: that day starts at 01:00, 23 h long).
            start, end = self.end_ms, self.end_ms + _DAY_MS
            offset = self._end_offset
            if (
                time_ms < end
                and offset is not None
                and (start + offset // _MS) % _DAY_MS == 0
                and self._offset_at(end) == offset
            ):
                self.start_ms, self.end_ms, self._label = start, end, ""
                return True
        local = datetime.fromtimestamp(time_ms / 1000, self.zone)
        start_local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end_local = (start_local + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=self.zone)
        self.start_ms = int(start_local.timestamp() * 1000)
        self.end_ms = int(end_local.timestamp() * 1000)
        self._end_offset = self._offset_at(self.end_ms)
        self._known = True
        self._label = ""
        return True
