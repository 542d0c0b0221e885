"""Events and errors as one readable line: what the log notifier and the runner's log print.

No object dumps (``ErrorEvent(time_ms=..., ...)``): each event kind is a short sentence with
its numbers formatted for people, and an error is its message on one line. Events carry no
secrets, and nothing here adds any.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from tradekit.errors import TradekitError
from tradekit.events import (
    AccountSnapshot,
    BarClosed,
    DailyReport,
    EngineStopped,
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    OrderEvent,
    Paused,
    PositionClosed,
    PositionOpened,
    Resumed,
    SignalEvent,
    TradingHalted,
    TradingResumed,
)

__all__ = ["describe_error", "describe_event", "one_line"]


def one_line(text: str) -> str:
    """``text`` with its lines joined by ``; `` (a log or chat line stays one line)."""
    parts = [part.strip() for part in text.splitlines()]
    return "; ".join(part for part in parts if part)


def describe_error(exc: BaseException) -> str:
    """An exception as one line: tradekit's own errors by their message (written for people),
    anything else with its type name in front."""
    message = one_line(str(exc))
    if isinstance(exc, TradekitError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _when(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def _krw(value: float) -> str:
    return f"{value:+,.0f} KRW"


def _quantity(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def describe_event(event: Event) -> str:
    """One line saying what happened, e.g. ``fill: bought 0.056 KRW-BTC at 8,925,000 (entry)``."""
    text = _describe(event)
    return one_line(f"{event.kind}: {text}")


def _describe(event: Event) -> str:
    if isinstance(event, SignalEvent):
        s = event.signal
        why = f": {s.reason}" if s.reason else ""
        return f"{s.action} {s.market} at {_price(s.price)} on the bar of {_when(s.time_ms)}{why}"
    if isinstance(event, FillEvent):
        f = event.fill
        verb = "bought" if f.side.value == "buy" else "sold"
        return (
            f"{verb} {_quantity(f.quantity)} {f.market} at {_price(f.price)} ({f.reason}, "
            f"fee {f.fee:,.0f}); cash {event.cash:,.0f}, equity {event.equity:,.0f}"
        )
    if isinstance(event, OrderEvent):
        o = event.order
        size = _quantity(o.volume) if o.volume is not None else f"{_price(o.price)} KRW of"
        done = ""
        if o.executed_volume:
            done = f", executed {_quantity(o.executed_volume)} at {_price(o.average_price)}"
        why = f" ({o.reason})" if o.reason else ""
        return f"{o.side.value} {size} {o.market} {o.type.value} is {o.status.value}{done}{why}"
    if isinstance(event, PositionOpened):
        p = event.position
        return (
            f"{_quantity(p.quantity)} {p.market} at {_price(p.entry_price)}, stop "
            f"{_price(p.stop)}, take-profit {_price(p.take_profit_price)}"
        )
    if isinstance(event, PositionClosed):
        return f"{event.position.market} by {event.reason}, P&L {_krw(event.pnl)}"
    if isinstance(event, EntryRejected):
        return f"{event.market} by {event.rule}: {event.reason}"
    if isinstance(event, TradingHalted):
        return (
            f"no new entries on {event.trading_day}: {event.reason} (equity "
            f"{event.equity:,.0f} of {event.reference_equity:,.0f} at the day's start)"
        )
    if isinstance(event, TradingResumed):
        return f"new entries allowed again on {event.trading_day}"
    if isinstance(event, Paused):
        return f"new entries paused by {event.by} (exits keep working)"
    if isinstance(event, Resumed):
        return f"new entries resumed by {event.by}"
    if isinstance(event, ErrorEvent):
        level = "fatal, the bot stops" if event.fatal else "the bot goes on"
        return f"{event.source} ({level}): {event.message}"
    if isinstance(event, EngineStopped):
        return f"the bot stopped ({event.reason})"
    if isinstance(event, DailyReport):
        win = "-" if event.win_rate is None else f"{event.win_rate:.0%}"
        notes = f" ({event.notes})" if event.notes else ""
        change = event.profit / event.start_equity if event.start_equity else 0.0
        return (
            f"{event.trading_day}{notes}: P&L {_krw(event.profit)} ({change:+.2%}), equity "
            f"{event.end_equity:,.0f}, max drawdown {event.max_drawdown:.2%}, "
            f"{event.trades} trade(s), win rate {win}"
        )
    if isinstance(event, BarClosed):
        b = event.bar
        return (
            f"{b.market} {_when(b.time_ms)} open {_price(b.open)} high {_price(b.high)} low "
            f"{_price(b.low)} close {_price(b.close)} volume {b.volume:,.4f}"
        )
    if isinstance(event, AccountSnapshot):
        held = ", ".join(f"{_quantity(p.quantity)} {p.market}" for p in event.positions)
        return f"cash {event.cash:,.0f}, holding {held or 'nothing'}"
    return _generic(event)


def _generic(event: Event) -> str:
    """An event kind this module does not know (a plugin's): its scalar fields."""
    fields = [
        f"{field.name}={getattr(event, field.name)}"
        for field in attrs.fields(type(event))
        if field.name != "time_ms"
        and isinstance(getattr(event, field.name), str | int | float | bool | None)
    ]
    return f"at {_when(event.time_ms)}" + (f": {', '.join(fields)}" if fields else "")
