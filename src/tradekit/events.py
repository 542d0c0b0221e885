"""Events the engine emits; the store writer, notifiers, API snapshot and metrics receive them.

Events are frozen values: receivers may keep them. Every event has ``time_ms`` (UTC ms) and a
``kind`` naming it for logs, the ``events`` table and notifiers.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from tradekit.models import Bar, Fill, Order, Position, PositionState, Signal

__all__ = [
    "AccountSnapshot",
    "BarClosed",
    "DailyReport",
    "EngineStopped",
    "EntryRejected",
    "ErrorEvent",
    "Event",
    "FillEvent",
    "LiveAccountSnapshot",
    "OrderEvent",
    "Paused",
    "PositionClosed",
    "PositionOpened",
    "Resumed",
    "SignalEvent",
    "TradingHalted",
    "TradingResumed",
]


@attrs.frozen(slots=True)
class Event:
    """Base class; ``kind`` is a stable, lowercase name."""

    kind: ClassVar[str] = "event"
    time_ms: int


@attrs.frozen(slots=True)
class BarClosed(Event):
    """A bar closed and was processed (emitted only when someone listens: not in backtests)."""

    kind: ClassVar[str] = "bar"
    bar: Bar


@attrs.frozen(slots=True)
class SignalEvent(Event):
    """A strategy produced a signal."""

    kind: ClassVar[str] = "signal"
    signal: Signal


@attrs.frozen(slots=True)
class EntryRejected(Event):
    """A risk rule or the market rules refused an entry."""

    kind: ClassVar[str] = "entry_rejected"
    market: str
    rule: str
    reason: str


@attrs.frozen(slots=True)
class OrderEvent(Event):
    """An order was created or changed state."""

    kind: ClassVar[str] = "order"
    order: Order


@attrs.frozen(slots=True)
class FillEvent(Event):
    """An order (or simulated order) was filled, fully or partly."""

    kind: ClassVar[str] = "fill"
    fill: Fill
    cash: float
    equity: float  # after the fill, holdings at the latest known price (not the last close)


@attrs.frozen(slots=True)
class PositionOpened(Event):
    """A position was opened."""

    kind: ClassVar[str] = "position_opened"
    position: Position


@attrs.frozen(slots=True)
class PositionClosed(Event):
    """A position was closed; ``pnl`` is realised profit after all fees of the trade."""

    kind: ClassVar[str] = "position_closed"
    position: Position
    pnl: float
    reason: str


@attrs.frozen(slots=True)
class TradingHalted(Event):
    """The daily loss limit halted new entries until the next trading day."""

    kind: ClassVar[str] = "halted"
    trading_day: str
    equity: float
    reference_equity: float
    reason: str
    #: The loss limit as a fraction of ``reference_equity`` (None if the rule did not say).
    limit: float | None = None


@attrs.frozen(slots=True)
class TradingResumed(Event):
    """A new trading day lifted the daily halt."""

    kind: ClassVar[str] = "halt_lifted"
    trading_day: str


@attrs.frozen(slots=True)
class Paused(Event):
    """An operator paused new entries (exits keep working)."""

    kind: ClassVar[str] = "paused"
    by: str = "api"


@attrs.frozen(slots=True)
class Resumed(Event):
    """An operator resumed new entries."""

    kind: ClassVar[str] = "resumed"
    by: str = "api"


@attrs.frozen(slots=True)
class ErrorEvent(Event):
    """Something failed; ``fatal`` errors stop the engine."""

    kind: ClassVar[str] = "error"
    source: str
    message: str
    fatal: bool = False


@attrs.frozen(slots=True)
class EngineStopped(Event):
    """The engine stopped (end of data, shutdown or a fatal error)."""

    kind: ClassVar[str] = "stopped"
    reason: str


@attrs.frozen(slots=True)
class DailyReport(Event):
    """Performance of one trading day (Asia/Seoul)."""

    kind: ClassVar[str] = "daily_report"
    trading_day: str
    start_equity: float
    end_equity: float
    profit: float
    max_drawdown: float
    trades: int
    win_rate: float | None
    notes: str = ""


@attrs.frozen(slots=True)
class AccountSnapshot(Event):
    """The simulated (paper) account: cash and open positions with their exit state.

    Stored after every bar that changed it, so a restarted paper bot continues where it
    stopped.
    """

    kind: ClassVar[str] = "paper_account"
    markets: tuple[str, ...]
    cash: float
    positions: tuple[PositionState, ...]
    #: Quantities below the exchange's step carried per market, as ``(market, quantity)``.
    remainders: tuple[tuple[str, float], ...] = ()


@attrs.frozen(slots=True)
class LiveAccountSnapshot(AccountSnapshot):
    """The live account as the bot tracks it: cash and positions with their exit state.

    On restart the positions are checked against the exchange's balances before they are
    taken over (their stops must keep being watched).
    """

    kind: ClassVar[str] = "live_account"
