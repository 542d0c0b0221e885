"""Explicit conversions between tradekit's models and table rows.

Every ``*_to_row`` returns a plain dict of column values; every ``*_from_row`` takes a mapping
(e.g. ``Row._mapping``) and rebuilds the model. Money columns come back as ``Decimal`` and are
turned into the floats the models hold; a float written by these functions reads back equal.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import cattrs

from tradekit import events as ev
from tradekit.events import DailyReport, Event
from tradekit.models import (
    Bar,
    ExitPlan,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    Side,
    Signal,
    Timeframe,
)

__all__ = [
    "Row",
    "bar_from_row",
    "bar_to_row",
    "daily_report_from_row",
    "daily_report_to_row",
    "event_from_row",
    "event_to_row",
    "fill_from_row",
    "fill_to_row",
    "order_from_row",
    "order_to_row",
    "position_from_row",
    "position_to_row",
    "signal_from_row",
    "signal_to_row",
]

Row = dict[str, Any]


def _f(value: Any) -> float:
    return float(value)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _money(value: float | None) -> Decimal | None:
    # repr is the shortest string that reads back as the same float.
    return None if value is None else Decimal(repr(float(value)))


def bar_to_row(bar: Bar, timeframe: Timeframe) -> Row:
    """A ``candles`` row for a bar of ``timeframe``."""
    return {
        "market": bar.market,
        "timeframe": timeframe.value,
        "time_ms": bar.time_ms,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
    }


def bar_from_row(row: Mapping[Any, Any]) -> Bar:
    """The bar of a ``candles`` row (validated by :class:`Bar`)."""
    return Bar(
        row["market"],
        int(row["time_ms"]),
        _f(row["open"]),
        _f(row["high"]),
        _f(row["low"]),
        _f(row["close"]),
        _f(row["volume"]),
    )


def signal_to_row(signal: Signal, run_id: str | None = None) -> Row:
    """A ``signals`` row; the exit plan is kept both as prices and as fractions."""
    plan = signal.exit_plan
    return {
        "run_id": run_id,
        "strategy": signal.strategy,
        "market": signal.market,
        "time_ms": signal.time_ms,
        "action": signal.action,
        "price": _money(signal.price),
        "confidence": signal.confidence,
        "stop_loss": _money(signal.stop_loss_price),
        "take_profit": _money(signal.take_profit_price),
        "stop_loss_fraction": plan.stop_loss,
        "take_profit_fraction": plan.take_profit,
        "take_profit_share": plan.take_profit_fraction,
        "trailing_stop": plan.trailing_stop,
        "reason": signal.reason,
    }


def signal_from_row(row: Mapping[Any, Any]) -> Signal:
    """The signal of a ``signals`` row."""
    plan = ExitPlan(
        stop_loss=_opt(row["stop_loss_fraction"]),
        take_profit=_opt(row["take_profit_fraction"]),
        take_profit_fraction=_f(row["take_profit_share"]),
        trailing_stop=_opt(row["trailing_stop"]),
    )
    return Signal(
        market=row["market"],
        time_ms=int(row["time_ms"]),
        action=row["action"],
        price=_f(row["price"]),
        exit_plan=plan,
        confidence=_f(row["confidence"]),
        reason=row["reason"],
        strategy=row["strategy"],
    )


def order_to_row(order: Order, run_id: str | None = None) -> Row:
    """An ``orders`` row."""
    return {
        "run_id": run_id,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "market": order.market,
        "side": order.side.value,
        "type": order.type.value,
        "price": _money(order.price),
        "volume": _money(order.volume),
        "status": order.status.value,
        "executed_volume": _money(order.executed_volume),
        "average_price": _money(order.average_price),
        "fee": _money(order.fee),
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "reason": order.reason,
        "exit_plan": _plan_json(order.exit_plan),
    }


def order_from_row(row: Mapping[Any, Any]) -> Order:
    """The order of an ``orders`` row."""
    return Order(
        client_order_id=row["client_order_id"],
        market=row["market"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        volume=_opt(row["volume"]),
        price=_opt(row["price"]),
        status=OrderStatus(row["status"]),
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
        exchange_order_id=row["exchange_order_id"],
        executed_volume=_f(row["executed_volume"]),
        average_price=_opt(row["average_price"]),
        fee=_f(row["fee"]),
        reason=row["reason"],
        exit_plan=_plan_from_json(row.get("exit_plan")),
    )


def _plan_json(plan: ExitPlan | None) -> str | None:
    return None if plan is None else json.dumps(attrs.asdict(plan), sort_keys=True)


def _plan_from_json(text: str | None) -> ExitPlan | None:
    return None if not text else ExitPlan(**json.loads(text))


def fill_to_row(fill: Fill, run_id: str | None = None) -> Row:
    """A ``fills`` row."""
    return {
        "run_id": run_id,
        "client_order_id": fill.client_order_id,
        "time_ms": fill.time_ms,
        "market": fill.market,
        "side": fill.side.value,
        "price": _money(fill.price),
        "quantity": _money(fill.quantity),
        "fee": _money(fill.fee),
        "reason": fill.reason,
    }


def fill_from_row(row: Mapping[Any, Any]) -> Fill:
    """The fill of a ``fills`` row."""
    return Fill(
        time_ms=int(row["time_ms"]),
        market=row["market"],
        side=Side(row["side"]),
        price=_f(row["price"]),
        quantity=_f(row["quantity"]),
        fee=_f(row["fee"]),
        reason=row["reason"],
        client_order_id=row["client_order_id"],
    )


def position_to_row(position: Position, updated_ms: int, run_id: str | None = None) -> Row:
    """A ``positions`` row; ``updated_ms`` is when this state was reached."""
    return {
        "run_id": run_id,
        "market": position.market,
        "entry_time_ms": position.entry_time_ms,
        "average_price": _money(position.entry_price),
        "size": _money(position.quantity),
        "last_price": _money(position.last_price),
        "unrealized_pnl": _money(position.unrealized_pnl),
        "stop": _money(position.stop),
        "take_profit": _money(position.take_profit_price),
        "take_profit_reached": position.take_profit_reached,
        "highest": _money(position.highest),
        "status": position.status.value,
        "updated_ms": updated_ms,
    }


def position_from_row(row: Mapping[Any, Any]) -> Position:
    """The position of a ``positions`` row (``unrealized_pnl`` is recomputed by the model)."""
    return Position(
        market=row["market"],
        quantity=_f(row["size"]),
        entry_price=_f(row["average_price"]),
        entry_time_ms=int(row["entry_time_ms"]),
        stop=_opt(row["stop"]),
        take_profit_price=_opt(row["take_profit"]),
        take_profit_reached=bool(row["take_profit_reached"]),
        highest=_opt(row["highest"]),
        last_price=_opt(row["last_price"]),
        status=PositionStatus(row["status"]),
    )


def daily_report_to_row(report: DailyReport, run_id: str | None = None) -> Row:
    """A ``daily_performance`` row (``trading_day`` is ``YYYY-MM-DD``)."""
    return {
        "trading_day": dt.date.fromisoformat(report.trading_day),
        "run_id": run_id,
        "start_equity": _money(report.start_equity),
        "end_equity": _money(report.end_equity),
        "profit": _money(report.profit),
        "max_drawdown": report.max_drawdown,
        "win_rate": report.win_rate,
        "trades": report.trades,
        "notes": report.notes,
        # The event's time has no column of its own: the day identifies the row.
    }


def daily_report_from_row(row: Mapping[Any, Any], time_ms: int | None = None) -> DailyReport:
    """The report of a ``daily_performance`` row.

    Args:
        row: the row.
        time_ms: the event time to give the report; defaults to midnight UTC of the day.
    """
    day: dt.date = row["trading_day"]
    if time_ms is None:
        time_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    return DailyReport(
        time_ms=time_ms,
        trading_day=day.isoformat(),
        start_equity=_f(row["start_equity"]),
        end_equity=_f(row["end_equity"]),
        profit=_f(row["profit"]),
        max_drawdown=_f(row["max_drawdown"]),
        trades=int(row["trades"]),
        win_rate=_opt(row["win_rate"]),
        notes=row["notes"],
    )


def _event_classes() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    for name in ev.__all__:
        cls = getattr(ev, name)
        if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event:
            found[cls.kind] = cls
    return found


_EVENTS = _event_classes()
_converter = cattrs.Converter()
# JSON has no enums; store their values.
_converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


def event_to_row(event: Event, run_id: str | None = None) -> Row:
    """An ``events`` row: the event's fields as a JSON payload under its ``kind``."""
    payload = _converter.unstructure(event)
    return {"run_id": run_id, "kind": event.kind, "time_ms": event.time_ms, "payload": payload}


def event_from_row(row: Mapping[Any, Any]) -> Event | dict[str, Any]:
    """The event of an ``events`` row, or its raw payload for a kind this version does not know.

    Events written by a newer tradekit (or a plugin) stay readable as plain dicts.
    """
    cls = _EVENTS.get(row["kind"])
    payload = dict(row["payload"])
    if cls is None:
        return payload
    try:
        return _converter.structure(payload, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError):
        return payload
