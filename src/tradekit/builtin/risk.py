"""Built-in risk rules: ``position_size`` and ``daily_loss_limit``.

Their rules are in ``docs/backtests.md#fills-within-a-bar`` (step 3) and ``#signal`` (sizing).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import ClassVar
from zoneinfo import ZoneInfo

import attrs

from tradekit.events import Event, TradingHalted, TradingResumed
from tradekit.interfaces import AccountView
from tradekit.models import OrderIntent, Rejection, floor8
from tradekit.params import ConfigValueError, check_range
from tradekit.trading_day import TradingDay

__all__ = [
    "DailyLossLimit",
    "DailyLossLimitConfig",
    "PositionSize",
    "PositionSizeConfig",
    "TradingDay",
]


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
        # attrs.evolve, spelled out: evolve inspects the class on every call (3 µs an entry).
        return OrderIntent(
            intent.market,
            intent.side,
            intent.price,
            quantity,
            intent.reason,
            intent.time_ms,
            intent.signal,
        )


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

    def on_idle_bars(self, times_ms: Sequence[int], equity: float) -> list[Event]:
        """:meth:`on_bar_close` for each time, in at most three calls.

        With the equity unchanged, the first bar of a day does all there is to do that day:
        it rolls the day and halts if need be; the rest of the day passes the per-bar test.
        Once a day has rolled over within the run, its reference is this same equity, and so
        is every later day's: nothing changes after that but the day itself, unless that day
        halted at once (equity below zero), in which case every later day halts again.
        """
        events: list[Event] = []
        last = len(times_ms) - 1
        i = 0
        while i <= last:
            event = self.on_bar_close(times_ms[i], equity)
            if event is not None:
                events.append(event)
            if i > 0 and not self.halted:
                if times_ms[last] >= self._day_end:
                    self.on_bar_close(times_ms[last], equity)
                break
            i = bisect_left(times_ms, self._day_end, i + 1)
        return events

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection:
        """Reject entries while halted."""
        if self.halted:
            return Rejection(
                self.name,
                f"trading halted for {self.day.label} (daily loss limit {self.limit:.2%}); "
                "new entries resume on the next trading day",
            )
        return intent
