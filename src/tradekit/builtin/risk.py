"""Built-in risk rules: ``position_size`` and ``daily_loss_limit``.

Their rules are in ``docs/backtests.md#fills-within-a-bar`` (step 3) and ``#signal`` (sizing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import attrs

from tradekit.events import Event, TradingHalted, TradingResumed
from tradekit.interfaces import AccountView
from tradekit.models import OrderIntent, Rejection, floor8
from tradekit.params import ConfigValueError, check_range

__all__ = [
    "DailyLossLimit",
    "DailyLossLimitConfig",
    "PositionSize",
    "PositionSizeConfig",
    "TradingDay",
]


_DAY_MS = 86_400_000


@attrs.frozen
class PositionSizeConfig:
    """``fraction``: entry notional as a fraction of equity."""

    fraction: float = attrs.field(default=0.05, validator=check_range(0, 1, low_open=True))


class PositionSize:
    """Sizes each entry at ``fraction`` of current equity: ``floor8(equity * fraction / price)``."""

    name: ClassVar[str] = "position_size"
    sizes_entries: ClassVar[bool] = True
    #: The core skips ``on_bar_close`` of a rule that says it does not watch bars.
    watches_bars: ClassVar[bool] = False
    #: Sizing never halts trading.
    halted: bool = False

    Config: ClassVar[type[PositionSizeConfig]] = PositionSizeConfig

    def __init__(self, config: PositionSizeConfig) -> None:
        self.fraction = config.fraction

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        """Nothing to reset: the rule keeps no state."""

    def on_bar_close(self, time_ms: int, equity: float) -> Event | None:
        """Nothing to track per bar."""
        return None

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection:
        """Set the entry's quantity from the account's equity and the signal price."""
        quantity = floor8(account.equity * self.fraction / intent.price)
        if quantity <= 0:
            return Rejection(self.name, f"equity {account.equity!r} too small for an entry")
        return attrs.evolve(intent, quantity=quantity)


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
            # unless the zone's offset changes during it (daylight saving time).
            start, end = self.end_ms, self.end_ms + _DAY_MS
            if time_ms < end and self._offset_at(end) == self._end_offset:
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


@attrs.frozen
class DailyLossLimitConfig:
    """``limit``: loss fraction of the day's reference equity; ``timezone``: trading day."""

    limit: float = attrs.field(default=0.05, validator=check_range(0, 1, low_open=True))
    timezone: str = attrs.field(default="Asia/Seoul")

    @timezone.validator
    def _zone(self, _attr: object, value: str) -> None:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            raise ConfigValueError(
                "an IANA time zone such as 'Asia/Seoul'", value, "timezone"
            ) from None


class DailyLossLimit:
    """Halts new entries for the rest of the trading day once equity falls past ``limit``.

    The day's reference is the equity at the close of the previous day's last bar (the
    starting equity on the first day). Open positions keep their exits while halted.
    """

    name: ClassVar[str] = "daily_loss_limit"
    sizes_entries: ClassVar[bool] = False

    Config: ClassVar[type[DailyLossLimitConfig]] = DailyLossLimitConfig

    def __init__(self, config: DailyLossLimitConfig) -> None:
        self.limit = config.limit
        self.day = TradingDay(config.timezone)
        self.halted = False
        #: Why new entries are halted, in words (None while they are not).
        self.halt_reason: str | None = None
        self.reference: float | None = None
        self.threshold = float("-inf")
        self._last_equity: float | None = None
        # The current day's bounds, copied from ``day`` for the per-bar test.
        self._day_start, self._day_end = 0, -1

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        """Start from ``equity`` (the first day's reference); with ``time_ms``, in that day."""
        self._last_equity = equity
        self.halted = False
        self.halt_reason = None
        if time_ms is not None:
            self.day.is_new_day(time_ms)
            self._day_start, self._day_end = self.day.start_ms, self.day.end_ms
            self._set_reference(equity)

    def _set_reference(self, equity: float) -> None:
        self.reference = equity
        self.threshold = equity * (1 - self.limit)

    def on_bar_close(self, time_ms: int, equity: float) -> Event | None:
        """Roll the trading day if needed, then halt when equity is below the threshold."""
        if self._day_start <= time_ms < self._day_end and (self.halted or equity >= self.threshold):
            # The usual bar, within the current day and nothing to halt: runs on every bar.
            self._last_equity = equity
            return None
        event: Event | None = None
        day = self.day
        new_day = day.is_new_day(time_ms)
        self._day_start, self._day_end = day.start_ms, day.end_ms
        if new_day:
            self._set_reference(equity if self._last_equity is None else self._last_equity)
            if self.halted:
                self.halted = False
                self.halt_reason = None
                event = TradingResumed(time_ms, self.day.label)
        self._last_equity = equity
        if not self.halted and equity < self.threshold:
            self.halted = True
            assert self.reference is not None
            self.halt_reason = (
                f"equity {equity:,.0f} fell more than {self.limit:.2%} below the day's "
                f"reference {self.reference:,.0f}"
            )
            return TradingHalted(
                time_ms,
                self.day.label,
                equity,
                self.reference,
                self.halt_reason,
                limit=self.limit,
            )
        return event

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection:
        """Reject entries while halted."""
        if self.halted:
            return Rejection(
                self.name,
                f"trading halted for {self.day.label} (daily loss limit {self.limit:.2%}); "
                "new entries resume on the next trading day",
            )
        return intent
