"""Turn tradekit events into short Slack messages (no secrets ever reach them)."""

from __future__ import annotations

from datetime import UTC, datetime

from tradekit.events import (
    DailyReport,
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    PositionClosed,
    SignalEvent,
    TradingHalted,
)

__all__ = ["format_event"]


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_event(event: Event) -> str | None:
    """The message text for an event, or None for events not worth a message."""
    if isinstance(event, SignalEvent):
        s = event.signal
        when = _when(s.time_ms)
        return f":mag: *Signal* {s.action} {s.market} at {s.price:,.0f} ({when}): {s.reason}"
    if isinstance(event, FillEvent):
        f = event.fill
        icon = ":large_green_circle:" if f.side.value == "buy" else ":red_circle:"
        return (
            f"{icon} *Fill* {f.side.value} {f.quantity:.8f} {f.market} at {f.price:,.0f} "
            f"(fee {f.fee:,.0f}, {f.reason}); equity {event.equity:,.0f}"
        )
    if isinstance(event, PositionClosed):
        market = event.position.market
        return f":checkered_flag: *Closed* {market} ({event.reason}): P&L {event.pnl:,.0f} KRW"
    if isinstance(event, EntryRejected) and event.rule != "paused":
        return f":no_entry: *Entry rejected* {event.market} by {event.rule}: {event.reason}"
    if isinstance(event, TradingHalted):
        return f":octagonal_sign: *Trading halted* for {event.trading_day}: {event.reason}"
    if isinstance(event, ErrorEvent):
        prefix = ":rotating_light: *Fatal error*" if event.fatal else ":warning: *Error*"
        return f"{prefix} in {event.source}: {event.message}"
    if isinstance(event, DailyReport):
        win = "-" if event.win_rate is None else f"{event.win_rate:.0%}"
        return (
            f":bar_chart: *Daily report {event.trading_day}*: P&L {event.profit:,.0f} KRW, "
            f"equity {event.end_equity:,.0f}, max drawdown {event.max_drawdown:.2%}, "
            f"trades {event.trades}, win rate {win}"
        )
    return None
