"""Bithumb's trading rules as :class:`~tradekit.models.MarketRules`; order numbers that obey them.

Rounding itself is ``MarketRules``' job (limit prices to a tick in the safe direction,
quantities down); this module supplies Bithumb's tick table and fees and limits, and turns an
order's floats into the decimals that are sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Literal

import attrs

from tradekit.errors import OrderRejected
from tradekit.models import MarketRules, Order, OrderType, Side
from tradekit_bithumb.parse import OrderChance

__all__ = [
    "DEFAULT_FEE",
    "KRW_TICK_TABLE",
    "OrderNumbers",
    "build_market_rules",
    "order_numbers",
    "tick_table_for",
]

# KRW market price units (호가단위), docs/bithumb.md#trading-rules: (lower bound, tick), highest
# band first.
# Bithumb has changed this table several times; ``tick_table`` in the config replaces it.
KRW_TICK_TABLE: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1_000_000), Decimal(1000)),
    (Decimal(500_000), Decimal(500)),
    (Decimal(100_000), Decimal(100)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(10_000), Decimal(10)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(1_000), Decimal(1)),
    (Decimal(100), Decimal(1)),
    (Decimal(10), Decimal("0.01")),
    (Decimal(1), Decimal("0.001")),
    (Decimal(0), Decimal("0.0001")),
)
# Markets quoted in a coin (BTC-, USDT-) are not covered by docs/bithumb.md; 8 decimals is the
# finest unit Bithumb accepts anywhere, so it never produces an off-grid price by itself.
_COIN_TICK_TABLE: tuple[tuple[Decimal, Decimal], ...] = ((Decimal(0), Decimal("0.00000001")),)
# Bithumb's default rate for makers and takers (ccxt, the official kit); accounts may differ.
DEFAULT_FEE = Decimal("0.0025")


def tick_table_for(
    market: str, override: Sequence[Sequence[float | Decimal]] = ()
) -> tuple[tuple[Decimal, Decimal], ...]:
    """The tick table of ``market``: ``override`` if given, else KRW's or a coin market's."""
    if override:
        rows = [(Decimal(str(low)), Decimal(str(tick))) for low, tick in override]
        return tuple(sorted(rows, key=lambda row: row[0], reverse=True))
    return KRW_TICK_TABLE if market.upper().startswith("KRW-") else _COIN_TICK_TABLE


def build_market_rules(
    market: str,
    *,
    chance: OrderChance | None,
    min_order_fallback: Decimal,
    quantity_decimals: int,
    tick_table: Sequence[Sequence[float | Decimal]] = (),
) -> MarketRules:
    """Rules for one market from ``/v1/orders/chance`` (when it could be asked) and config.

    The minimum order value is the larger of the bid and ask ``min_total`` (an order must
    pass either way it is later closed); missing values fall back to ``min_order_fallback``
    and the default 0.25 % fee. The taker fee is the larger of ``bid_fee``/``ask_fee`` and
    the maker fee the larger of the maker rates (taker rates when none are given), so costs
    are never underestimated.
    """
    minimums = [m for m in (chance.bid_min_total, chance.ask_min_total) if m] if chance else []
    taker = [f for f in (chance.bid_fee, chance.ask_fee) if f is not None] if chance else []
    maker = (
        [f for f in (chance.maker_bid_fee, chance.maker_ask_fee) if f is not None] if chance else []
    )
    taker_fee = max(taker) if taker else DEFAULT_FEE
    return MarketRules(
        market=market,
        tick_table=tick_table_for(market, tick_table),
        quantity_decimals=quantity_decimals,
        min_order_value=max(minimums) if minimums else min_order_fallback,
        taker_fee=taker_fee,
        maker_fee=max(maker) if maker else taker_fee,
    )


@attrs.frozen
class OrderNumbers:
    """What is sent for an order: Bithumb's order type and its price and volume, if any."""

    # limit | price (market buy by quote amount) | market (market sell by volume)
    order_type: Literal["limit", "price", "market"]
    price: Decimal | None
    volume: Decimal | None


def _decimal(value: float) -> Decimal:
    # str() first: Decimal(0.1) would carry the float's binary noise into the order.
    return Decimal(str(value))


def order_numbers(order: Order, rules: MarketRules) -> OrderNumbers:
    """Bithumb's order type and valid numbers for ``order``.

    Limit prices go to a tick in the safe direction (buys down, sells up), quantities are
    truncated, and a market buy's quote amount is truncated to whole KRW (to 8 decimals on
    coin markets). Values already valid are unchanged.

    Raises:
        OrderRejected: a number is missing or rounds to zero; nothing should be sent.
    """

    def reject(problem: str) -> OrderRejected:
        return OrderRejected(
            f"order {order.client_order_id} ({order.market} {order.side} {order.type}): {problem}",
            code="invalid_order_local",
        )

    if order.type is OrderType.LIMIT:
        if order.price is None or order.volume is None:
            raise reject("a limit order needs a price and a volume")
        price = rules.round_price(_decimal(order.price), order.side)
        volume = rules.round_quantity(_decimal(order.volume))
        if price <= 0 or volume <= 0:
            raise reject(f"price {order.price!r} / volume {order.volume!r} round to zero")
        return OrderNumbers("limit", price, volume)
    if order.side is Side.BUY:
        # A market buy spends a quote amount (Bithumb ord_type "price").
        if order.price is None:
            raise reject("a market buy needs the quote amount to spend in 'price'")
        unit = Decimal(1) if order.market.upper().startswith("KRW-") else Decimal("1e-8")
        amount = _decimal(order.price).quantize(unit, rounding=ROUND_DOWN)
        if amount <= 0:
            raise reject(f"amount {order.price!r} rounds to zero")
        return OrderNumbers("price", amount, None)
    if order.volume is None:
        raise reject("a market sell needs a volume")
    volume = rules.round_quantity(_decimal(order.volume))
    if volume <= 0:
        raise reject(f"volume {order.volume!r} rounds to zero")
    return OrderNumbers("market", None, volume)
