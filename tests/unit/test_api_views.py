"""The API's views are their models: same names and types, only the declared differences."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from litestar.serialization import encode_json

from tradekit.events import DailyReport
from tradekit.models import Bar, ExitPlan, Order, OrderStatus, OrderType, Position, Side
from tradekit.runner import api_views
from tradekit.runner.api_views import (
    ADDED,
    EXCLUDED,
    CandleView,
    DayView,
    OrderView,
    PositionView,
)


def _types(cls: type[Any]) -> dict[str, Any]:
    attrs.resolve_types(cls)
    return {f.name: f.type for f in attrs.fields(cls)}


def test_every_view_declares_its_model() -> None:
    views = {
        obj
        for name, obj in vars(api_views).items()
        if name.endswith("View") and isinstance(obj, type) and attrs.has(obj)
    }
    assert views == set(EXCLUDED) == set(ADDED)


@pytest.mark.parametrize("view", list(EXCLUDED), ids=lambda v: v.__name__)
def test_a_view_has_its_models_fields_but_the_declared_ones(view: type[Any]) -> None:
    model, excluded = EXCLUDED[view]
    model_fields, view_fields = _types(model), _types(view)
    assert set(excluded) <= set(model_fields), "excluding a field the model does not have"
    assert not ADDED[view] & set(model_fields), "adding a field the model has"
    shown = {name: t for name, t in model_fields.items() if name not in excluded}
    assert {n: t for n, t in view_fields.items() if n not in ADDED[view]} == shown


def test_position_view_prices_the_unrealised_profit() -> None:
    position = Position(
        "KRW-BTC", 0.5, 100.0, 1_000, stop=90.0, take_profit_price=None, last_price=110.0
    )
    view = PositionView.of(position)
    assert view.unrealized_pnl == pytest.approx(5.0)
    assert (view.market, view.stop, view.status, view.last_price) == (
        "KRW-BTC",
        90.0,
        "open",
        110.0,
    )
    assert PositionView.of(attrs.evolve(position, last_price=None)).unrealized_pnl == 0.0


def test_order_view_leaves_the_exit_plan_out_and_keeps_string_values() -> None:
    order = Order(
        "c-1",
        "KRW-BTC",
        Side.BUY,
        OrderType.MARKET,
        None,
        10_000.0,
        OrderStatus.FILLED,
        1,
        2,
        exchange_order_id="x-9",
        executed_volume=0.1,
        average_price=100_000.0,
        fee=2.5,
        reason="entry",
        exit_plan=ExitPlan(stop_loss=0.05),
    )
    out = json.loads(encode_json(OrderView.of(order)))
    assert "exit_plan" not in out
    assert (out["side"], out["type"], out["status"]) == ("buy", "market", "filled")
    assert set(out) == {f.name for f in attrs.fields(OrderView)}
    assert (out["exchange_order_id"], out["fee"]) == ("x-9", 2.5)


def test_day_and_candle_views_drop_the_event_time_and_the_market() -> None:
    day = DailyReport(5, "2026-01-02", 100.0, 110.0, 10.0, 0.01, 3, 2 / 3, notes="n")
    assert attrs.asdict(DayView.of(day)) == {
        "trading_day": "2026-01-02",
        "start_equity": 100.0,
        "end_equity": 110.0,
        "profit": 10.0,
        "max_drawdown": 0.01,
        "trades": 3,
        "win_rate": 2 / 3,
        "notes": "n",
    }
    candle = CandleView.of(Bar("KRW-BTC", 60_000, 1.0, 2.0, 0.5, 1.5, 7.0))
    assert attrs.asdict(candle) == {
        "time_ms": 60_000,
        "open": 1.0,
        "high": 2.0,
        "low": 0.5,
        "close": 1.5,
        "volume": 7.0,
    }
