"""Starting a live bot: settle the orders the last run left, then take over the account.

The I/O half of :mod:`tradekit.engine.recovery`: it looks up open orders (the executor's
reconcile), reads the last stored account and the fills after it, asks the exchange for its
rules and balances, and hands the decisions to :func:`~tradekit.engine.recovery.take_over`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

from tradekit.engine.recovery import take_over
from tradekit.engine.rules import VenueRules
from tradekit.events import FillEvent, LiveAccountSnapshot
from tradekit.interfaces import PlansExits
from tradekit.models import ExitPlan, Fill, MarketRules, Order

if TYPE_CHECKING:
    from collections.abc import Callable

    from tradekit.config import Settings
    from tradekit.engine.core import TradingCore
    from tradekit.engine.executor import OrderExecutor
    from tradekit.events import Event
    from tradekit.interfaces import Exchange
    from tradekit.store import AsyncStore

__all__ = ["FALLBACK_EXIT_PLAN", "start_live"]

#: Protects a bought position whose own exit plan is unknown (and the strategy has none).
FALLBACK_EXIT_PLAN = ExitPlan(stop_loss=0.015)


async def start_live(
    core: TradingCore,
    settings: Settings,
    exchange: Exchange,
    emit: Callable[[Event], object],
    store: AsyncStore,
    executor: OrderExecutor,
) -> None:
    """Reconcile, take over what the exchange holds, and set the core up for live trading.

    ``emit`` sends the fills the takeover books to the event pump, which stores them.
    """
    markets = list(settings.markets)
    changed = await executor.reconcile()
    found: list[Fill] = []
    for order in changed:
        found.extend(executor.take_fills(order.client_order_id))
    if changed:
        logger.warning(
            "settled {} order(s) left open by the previous run ({} fill(s) not booked yet)",
            len(changed),
            len(found),
        )
    rules = [await exchange.market_rules(m) for m in markets]
    # The exchange's own step and price grid: stops and take-profits land where its trades can
    # print, exactly as a backtest puts them on the same grid.
    core.use_venue_rules({r.market: _venue_rules(r) for r in rules})
    core.min_order_value = max(
        [settings.paper.min_order_krw, *(float(r.min_order_value) for r in rules)]
    )
    core.fee_rate = max([float(r.taker_fee) for r in rules], default=core.fee_rate)
    balances = await exchange.balances()
    stored_events = await store.events(kind=LiveAccountSnapshot.kind, latest=1)
    snapshot = (
        stored_events[-1]
        if stored_events and isinstance(stored_events[-1], LiveAccountSnapshot)
        else None
    )
    since = snapshot.time_ms if snapshot is not None else None
    found.extend(await _unstored_fills(store, since, found))
    later = [
        f
        for f in await store.fills(since_ms=since)
        if f.client_order_id and (since is None or f.time_ms > since)  # paper fills have no id
    ]
    fills_after = sorted([*later, *found], key=lambda f: f.time_ms)
    orders: dict[str, Order] = {}
    for fill in fills_after:
        cid = fill.client_order_id
        if cid and cid not in orders:
            stored = await store.order(cid)
            if stored is not None:
                orders[cid] = stored
    strategy = core.states[markets[0]].strategy
    plan = strategy.exit_plan if isinstance(strategy, PlansExits) else None
    taken = take_over(
        markets=markets,
        positions=snapshot.positions if snapshot is not None else (),
        remainders=dict(snapshot.remainders) if snapshot is not None else {},
        fills_after=fills_after,
        orders=orders,
        balances=balances,
        steps={m: core.rules[m].quantity_step for m in markets},
        fallback=plan if isinstance(plan, ExitPlan) and plan.stop_loss else FALLBACK_EXIT_PLAN,
    )
    core.restore_account(taken.cash, taken.positions, taken.remainders)
    for note in taken.notes:
        logger.warning(note)
    for fill in found:  # booked by the takeover: now stored
        emit(FillEvent(fill.time_ms, fill, core.cash, core.marked_equity()))
    for market, why in taken.blocked.items():
        core.block(market, why)
    for order in await store.reconcile_candidates():
        # Still unresolved after the look-ups: a buy may have filled unseen.
        if order.market in core.states:
            core.block(
                order.market,
                f"order {order.client_order_id} is still {order.status} after the start-up "
                "check; look at the account, then restart",
            )
    logger.info(
        "live account: {:,.0f} KRW available, {} position(s) taken over",
        taken.cash,
        len(taken.positions),
    )


async def _unstored_fills(store: AsyncStore, since: int | None, found: list[Fill]) -> list[Fill]:
    """Fills of stored orders that the store never got (a crash between the two writes).

    An order's row says how much it executed and at what average price; what its stored
    fills (and those just found) do not cover is rebuilt as one fill, so no bought coin is
    forgotten.
    """
    rebuilt: list[Fill] = []
    for order in await store.orders():
        if order.executed_volume <= 0 or order.average_price is None:
            continue
        if since is not None and order.updated_ms <= since:
            continue
        cid = order.client_order_id
        known = [*await store.fills(client_order_id=cid)]
        known += [f for f in found if f.client_order_id == cid]
        quantity = order.executed_volume - sum(f.quantity for f in known)
        if quantity <= 1e-12:
            continue
        funds = order.average_price * order.executed_volume - sum(
            f.price * f.quantity for f in known
        )
        fee = max(0.0, order.fee - sum(f.fee for f in known))
        fill = Fill(
            order.updated_ms,
            order.market,
            order.side,
            funds / quantity,
            round(quantity, 12),
            fee,
            order.reason[:32],
            cid,
        )
        logger.warning(
            "{}: order {} executed {} but only {} was stored; booking the rest",
            order.market,
            cid,
            order.executed_volume,
            order.executed_volume - quantity,
        )
        rebuilt.append(fill)
    return rebuilt


def _venue_rules(rules: MarketRules) -> VenueRules:
    ticks = tuple((float(bound), float(tick)) for bound, tick in rules.tick_table)
    return VenueRules(rules.quantity_decimals, ticks or None)
