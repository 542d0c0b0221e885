"""What the control API returns where a model does not go out as it is.

A view is its model seen by a client: the same fields, named and typed as in the model, minus
what the API does not show and plus what a property computes. Each view says which in
:data:`EXCLUDED` and :data:`ADDED`; a unit test checks every other field against the model, so a
field added to a model cannot be silently left out of (or mistyped in) the API. The copying
itself is by name (:func:`_copy`), in one place.

The ``*Page`` classes are the routes' envelopes. The API (:mod:`tradekit.runner.api`) and the
dashboard's data routes (:mod:`tradekit.runner.dashboard.data`) return these; the dashboard's
page and ``tradekit status`` read their JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from tradekit.events import DailyReport
from tradekit.models import Bar, Fill, Order, OrderStatus, OrderType, Position, PositionStatus, Side

if TYPE_CHECKING:
    from attrs import AttrsInstance

__all__ = [
    "ADDED",
    "EXCLUDED",
    "CandleView",
    "CandlesPage",
    "DayView",
    "FillsPage",
    "OrderView",
    "OrdersPage",
    "PerformancePage",
    "PositionView",
    "PositionsPage",
]

V = TypeVar("V", bound="AttrsInstance")


def _copy(view: type[V], model: object, **added: Any) -> V:
    """``view`` built from ``model``'s fields of the same names, and ``added``."""
    names = (f.name for f in attrs.fields(view) if f.name not in added)
    return view(**{name: getattr(model, name) for name in names}, **added)


@attrs.frozen
class PositionView:
    """One open position, with its unrealised profit at the last price."""

    market: str
    quantity: float
    entry_price: float
    entry_time_ms: int
    stop: float | None
    take_profit_price: float | None
    take_profit_reached: bool
    highest: float | None
    trailing_stop: float | None  # distance below ``highest`` once the take-profit was reached
    last_price: float | None
    unrealized_pnl: float  # at ``last_price``, before fees (0 when no price is known)
    status: PositionStatus
    remainder: float

    @classmethod
    def of(cls, position: Position) -> PositionView:
        """The view of ``position``; its ``last_price`` prices the unrealised profit."""
        return _copy(cls, position, unrealized_pnl=position.unrealized_pnl)


@attrs.frozen
class PositionsPage:
    """``GET /positions``: the open positions."""

    positions: list[PositionView]


@attrs.frozen
class OrderView:
    """One stored order (without the exit plan stored with an entry for a restart)."""

    client_order_id: str
    exchange_order_id: str | None
    market: str
    side: Side
    type: OrderType
    volume: float | None  # base quantity (None for a market buy by KRW amount)
    price: float | None  # limit price, or KRW amount of a market buy
    status: OrderStatus
    created_ms: int
    updated_ms: int
    executed_volume: float
    average_price: float | None
    fee: float
    reason: str

    @classmethod
    def of(cls, order: Order) -> OrderView:
        """The view of ``order``."""
        return _copy(cls, order)


@attrs.frozen
class OrdersPage:
    """``GET /orders``: the most recent matching orders, oldest first."""

    orders: list[OrderView]
    truncated: bool  # more orders matched than ``limit``; the oldest were left out


@attrs.frozen
class FillsPage:
    """``GET /fills``: the most recent matching fills, oldest first."""

    fills: list[Fill]
    truncated: bool  # more fills matched than ``limit``; the oldest were left out


@attrs.frozen
class DayView:
    """One trading day's performance (Asia/Seoul)."""

    trading_day: str  # YYYY-MM-DD; the store keeps no event time for a day
    start_equity: float
    end_equity: float
    profit: float
    max_drawdown: float
    trades: int
    win_rate: float | None
    notes: str

    @classmethod
    def of(cls, report: DailyReport) -> DayView:
        """The view of a stored daily report."""
        return _copy(cls, report)


@attrs.frozen
class PerformancePage:
    """``GET /performance``: every recorded day, oldest first."""

    days: list[DayView]


@attrs.frozen
class CandleView:
    """One closed bar; ``time_ms`` is its open time (UTC ms)."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def of(cls, bar: Bar) -> CandleView:
        """The view of ``bar`` (its market is the page's)."""
        return _copy(cls, bar)


@attrs.frozen
class CandlesPage:
    """``GET /candles/{market}``: the most recent closed bars, oldest first."""

    market: str
    timeframe: str
    timeframe_ms: int
    candles: list[CandleView]


#: Per view, its model and the model's fields the API does not show, and why.
EXCLUDED: dict[type[Any], tuple[type[Any], dict[str, str]]] = {
    PositionView: (Position, {}),
    OrderView: (Order, {"exit_plan": "kept for a restart; not the client's concern"}),
    DayView: (DailyReport, {"time_ms": "the store keeps no event time for a day"}),
    CandleView: (Bar, {"market": "the page names it once"}),
}
#: Per view, the fields its model does not have (computed when the view is built).
ADDED: dict[type[Any], frozenset[str]] = {
    PositionView: frozenset({"unrealized_pnl"}),
    OrderView: frozenset(),
    DayView: frozenset(),
    CandleView: frozenset(),
}
