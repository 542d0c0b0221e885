"""What a restarted live bot holds: the stored account, brought up to date and checked.

Pure decisions, no I/O. The runner hands over the last stored account, the live fills that
came after it (stored ones, and those the start-up look-ups just found), the orders behind
them and the exchange's balances; :func:`take_over` answers which positions the bot manages,
with which stops, and which markets must take no new entries until a human has looked.

The rules: a buy that filled after the stored account becomes a position with the exit plan
stored with its order, so its stop is watched again; where the plan is unknown, the position
is protected by ``fallback`` from its fill price and the market is blocked. A market whose
coins exceed what the bot accounts for (by a step or more) is blocked: never a second entry
on top of coins nobody watches. Positions are never larger than the exchange's balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from tradekit.engine.positions import OpenPosition
from tradekit.models import Balance, ExitPlan, Fill, Order, PositionState, Side, floor8

__all__ = ["Takeover", "take_over"]


@attrs.frozen
class Takeover:
    """The account a restarted bot starts from."""

    cash: float
    positions: list[PositionState]
    remainders: dict[str, float]
    #: market -> why it takes no new entries (its exits stay watched).
    blocked: dict[str, str]
    #: What was found and done, one line each (logged and sent as events).
    notes: list[str]


def take_over(
    *,
    markets: Sequence[str],
    positions: Sequence[PositionState],
    remainders: Mapping[str, float],
    fills_after: Sequence[Fill],
    orders: Mapping[str, Order],
    balances: Mapping[str, Balance],
    steps: Mapping[str, float],
    fallback: ExitPlan,
) -> Takeover:
    """Bring the stored account up to date with later fills, then check it against balances.

    Args:
        markets: the markets this config trades.
        positions: the positions of the last stored account.
        remainders: quantities below the step it carried.
        fills_after: live fills not in that account, oldest first.
        orders: the orders of those fills, by client order id (for their exit plans).
        balances: the exchange's balances, by currency.
        steps: each market's quantity step.
        fallback: the exit plan of a buy whose own plan is unknown.
    """
    held: dict[str, OpenPosition] = {}
    notes: list[str] = []
    blocked: dict[str, str] = {}
    rest = {m: q for m, q in remainders.items() if m in markets}
    for p in positions:
        if p.market in markets:
            held[p.market] = OpenPosition.from_state(p)
        else:
            notes.append(f"{p.market}: stored position not taken over: market not traded")
    for fill in fills_after:
        market = fill.market
        if market not in markets:
            continue
        if fill.side is Side.BUY:
            order = orders.get(fill.client_order_id or "")
            plan = order.exit_plan if order is not None else None
            cost = fill.price * fill.quantity + fill.fee
            pos = held.get(market)
            if pos is not None:
                pos.add(fill.quantity, fill.price, cost)
            else:
                held[market] = OpenPosition.opened(
                    fill.quantity, fill.price, fill.time_ms, cost, plan or fallback
                )
            if plan is None:
                blocked[market] = (
                    f"a buy of {fill.quantity} ({fill.client_order_id}) has no known exit plan: "
                    f"its stop is {fallback.stop_loss} below the fill price {fill.price}; "
                    "check the account, then restart"
                )
            notes.append(
                f"{market}: took over a buy of {fill.quantity} at {fill.price} "
                f"({fill.client_order_id}) that the stored account did not have yet"
            )
        else:
            pos = held.get(market)
            left = (pos.quantity if pos is not None else 0.0) - fill.quantity
            if pos is not None:
                pos.proceeds += fill.price * fill.quantity - fill.fee
                pos.quantity = max(0.0, round(left, 8))
            if left < 0:
                rest[market] = max(0.0, round(rest.get(market, 0.0) + left, 8))
            step = steps.get(market, 1e-8)
            if pos is not None and pos.quantity + rest.get(market, 0.0) < step - 1e-12:
                # Below the step: no position, a remainder carried into the next sale.
                rest[market] = round(rest.get(market, 0.0) + pos.quantity, 8)
                del held[market]
    states: list[PositionState] = []
    for market in markets:
        pos = held.get(market)
        tracked = (pos.quantity if pos is not None else 0.0) + rest.get(market, 0.0)
        currency = market.split("-", 1)[-1]
        balance = balances.get(currency)
        on_exchange = float(balance.free + balance.locked) if balance is not None else 0.0
        step = steps.get(market, 1e-8)
        if on_exchange + 1e-8 < tracked:
            # Sold in part while the bot was down (most likely by hand): track what is there,
            # never more; the rest of the stop keeps protecting it.
            quantity = floor8(max(0.0, on_exchange - rest.get(market, 0.0)))
            notes.append(
                f"{market}: the account holds {on_exchange} {currency}, less than the "
                f"{tracked} the bot tracked; tracking {quantity}"
            )
            rest[market] = min(rest.get(market, 0.0), on_exchange)
            if pos is not None:
                pos.quantity = quantity
                pos.take_profit_reached = True  # do not sell a share of it again
                if quantity + rest[market] < step - 1e-12:  # below the step: carried
                    rest[market] = round(rest[market] + quantity, 8)
                    pos = None
        elif on_exchange - tracked >= step:
            blocked[market] = (
                f"the account holds {on_exchange} {currency}, {on_exchange - tracked:.8f} more "
                "than the bot accounts for; no new entries until that is sold or moved "
                "(then restart)"
            )
        if pos is not None:
            states.append(pos.state(market))
    krw = balances.get("KRW")
    cash = float(krw.free) if krw is not None else 0.0
    return Takeover(cash, states, {m: q for m, q in rest.items() if q > 0}, blocked, notes)
