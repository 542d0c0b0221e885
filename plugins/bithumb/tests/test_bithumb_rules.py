"""Tick table, MarketRules from order chance, and the numbers sent for an order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekit_bithumb.parse import OrderChance
from tradekit_bithumb.rules import (
    KRW_TICK_TABLE,
    build_market_rules,
    order_numbers,
    tick_table_for,
)
from tradekit_bithumb.testing import KRW_TICKS

from tradekit.errors import OrderRejected
from tradekit.models import Order, OrderStatus, OrderType, Side


def test_tick_table_matches_the_reference_and_the_fake_server() -> None:
    assert KRW_TICK_TABLE == KRW_TICKS
    r = build_market_rules(
        "KRW-BTC", chance=None, min_order_fallback=Decimal(5000), quantity_decimals=4
    )
    cases = {
        "50000000": "1000",
        "1000000": "1000",
        "999999": "500",
        "500000": "500",
        "150000": "100",
        "50000": "50",
        "12345": "10",
        "5000": "5",
        "1500": "1",
        "150": "1",
        "50": "0.01",
        "5": "0.001",
        "0.5": "0.0001",
    }
    for price, tick in cases.items():
        assert r.tick_for(Decimal(price)) == Decimal(tick), price


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        ("50000500", Side.BUY, "50000000"),  # buys round down: never pay more than asked
        ("50000500", Side.SELL, "50001000"),  # sells round up: never sell for less
        ("50000000", Side.BUY, "50000000"),  # valid prices stay
        ("999999.5", Side.SELL, "1000000"),  # crossing into a coarser band
        ("12.345", Side.BUY, "12.34"),
        ("12.345", Side.SELL, "12.35"),
        ("0.12345", Side.BUY, "0.1234"),
    ],
)
def test_limit_prices_round_to_a_tick_in_the_safe_direction(
    price: str, side: Side, expected: str
) -> None:
    r = build_market_rules(
        "KRW-BTC", chance=None, min_order_fallback=Decimal(5000), quantity_decimals=4
    )
    assert r.round_price(Decimal(price), side) == Decimal(expected)


def test_rules_from_order_chance_take_the_stricter_values() -> None:
    chance = OrderChance(
        "KRW-BTC",
        bid_fee=Decimal("0.0025"),
        ask_fee=Decimal("0.0030"),
        maker_bid_fee=Decimal("0.0010"),
        maker_ask_fee=None,
        bid_min_total=Decimal(5000),
        ask_min_total=Decimal(6000),
    )
    r = build_market_rules(
        "KRW-BTC", chance=chance, min_order_fallback=Decimal(500), quantity_decimals=8
    )
    assert r.min_order_value == Decimal(6000)
    assert r.taker_fee == Decimal("0.0030")
    assert r.maker_fee == Decimal("0.0010")
    assert r.quantity_decimals == 8


def test_rules_without_chance_use_the_fallbacks() -> None:
    r = build_market_rules(
        "KRW-BTC",
        chance=OrderChance("KRW-BTC"),
        min_order_fallback=Decimal(5000),
        quantity_decimals=4,
    )
    assert r.min_order_value == Decimal(5000)
    assert r.taker_fee == r.maker_fee == Decimal("0.0025")


def test_tick_table_can_be_replaced_and_coin_markets_get_a_fine_tick() -> None:
    table = tick_table_for("KRW-BTC", [[0, 1], [1000, 5]])
    assert table == ((Decimal(1000), Decimal(5)), (Decimal(0), Decimal(1)))
    assert tick_table_for("BTC-ETH") == ((Decimal(0), Decimal("0.00000001")),)


def make_order(
    type_: OrderType, side: Side, volume: float | None, price: float | None, market: str = "KRW-BTC"
) -> Order:
    return Order(
        client_order_id="c1",
        market=market,
        side=side,
        type=type_,
        volume=volume,
        price=price,
        status=OrderStatus.NEW,
        created_ms=0,
        updated_ms=0,
    )


def test_order_numbers_for_each_order_kind() -> None:
    r = build_market_rules(
        "KRW-BTC", chance=None, min_order_fallback=Decimal(5000), quantity_decimals=4
    )
    limit = order_numbers(make_order(OrderType.LIMIT, Side.BUY, 0.1 + 0.2, 50_000_500.0), r)
    # Float noise (0.30000000000000004) is truncated; the price goes down to a tick.
    assert (limit.order_type, limit.price, limit.volume) == (
        "limit",
        Decimal(50_000_000),
        Decimal("0.3"),
    )
    buy = order_numbers(make_order(OrderType.MARKET, Side.BUY, None, 10_000.7), r)
    assert (buy.order_type, buy.price, buy.volume) == ("price", Decimal(10_000), None)
    sell = order_numbers(make_order(OrderType.MARKET, Side.SELL, 0.123456, None), r)
    assert (sell.order_type, sell.price, sell.volume) == ("market", None, Decimal("0.1234"))


@pytest.mark.parametrize(
    ("type_", "side", "volume", "price", "needle"),
    [
        (OrderType.LIMIT, Side.BUY, None, 100.0, "needs a price and a volume"),
        (OrderType.LIMIT, Side.BUY, 0.00001, 50_000_000.0, "round to zero"),
        (OrderType.MARKET, Side.BUY, None, None, "quote amount"),
        (OrderType.MARKET, Side.SELL, None, None, "needs a volume"),
        (OrderType.MARKET, Side.SELL, 0.00001, None, "rounds to zero"),
    ],
)
def test_unsendable_orders_are_rejected_locally(
    type_: OrderType, side: Side, volume: float | None, price: float | None, needle: str
) -> None:
    r = build_market_rules(
        "KRW-BTC", chance=None, min_order_fallback=Decimal(5000), quantity_decimals=4
    )
    with pytest.raises(OrderRejected, match=needle) as info:
        order_numbers(make_order(type_, side, volume, price), r)
    assert info.value.code == "invalid_order_local"
