"""What a restarted live bot takes over (engine.recovery.take_over, no I/O)."""

from __future__ import annotations

from decimal import Decimal

from tradekit.engine.recovery import take_over
from tradekit.models import Balance, ExitPlan, Fill, Order, OrderStatus, OrderType, Side

M = "KRW-BTC"
PLAN = ExitPlan(stop_loss=0.02, take_profit=0.05, trailing_stop=0.01)
FALLBACK = ExitPlan(stop_loss=0.015)


def buy(quantity: float, cid: str = "entry-1", price: float = 50_000_000.0) -> Fill:
    return Fill(10, M, Side.BUY, price, quantity, 100.0, "entry", cid)


def order(cid: str, plan: ExitPlan | None) -> Order:
    return Order(cid, M, Side.BUY, OrderType.MARKET, None, 5e5, OrderStatus.FILLED, 1, 2,
                 exit_plan=plan)  # fmt: skip


def balances(btc: str) -> dict[str, Balance]:
    return {"KRW": Balance("KRW", Decimal(1_000_000)), "BTC": Balance("BTC", Decimal(btc))}


def run(fills: list[Fill], orders: dict[str, Order], btc: str):  # type: ignore[no-untyped-def]
    return take_over(
        markets=[M],
        positions=(),
        remainders={},
        fills_after=fills,
        orders=orders,
        balances=balances(btc),
        steps={M: 1e-4},
        fallback=FALLBACK,
    )


def test_a_later_buy_becomes_a_position_with_the_plan_stored_with_its_order() -> None:
    taken = run([buy(0.00987654)], {"entry-1": order("entry-1", PLAN)}, "0.00987654")
    (pos,) = taken.positions
    assert pos.quantity == 0.00987654
    assert pos.stop == 50_000_000.0 * (1 - 0.02)
    assert pos.take_profit_price == 50_000_000.0 * 1.05
    assert taken.blocked == {}
    assert taken.cash == 1_000_000.0


def test_a_buy_with_no_known_plan_is_protected_by_the_fallback_and_blocks_the_market() -> None:
    taken = run([buy(0.01)], {}, "0.01")
    (pos,) = taken.positions
    assert pos.stop == 50_000_000.0 * (1 - 0.015)
    assert "no known exit plan" in taken.blocked[M]


def test_coins_the_bot_does_not_account_for_block_new_entries() -> None:
    taken = run([], {}, "0.5")
    assert taken.positions == []
    assert "more than the bot accounts for" in taken.blocked[M]


def test_a_rest_below_the_step_is_carried_not_a_position() -> None:
    sold = Fill(20, M, Side.SELL, 50_000_000.0, 0.0098, 100.0, "stop_loss", "stop-1")
    taken = run([buy(0.00985), sold], {"entry-1": order("entry-1", PLAN)}, "0.00005")
    assert taken.positions == []
    assert taken.remainders == {M: 0.00005}
    assert taken.blocked == {}


def test_a_position_is_never_larger_than_the_balance() -> None:
    taken = run([buy(0.02)], {"entry-1": order("entry-1", PLAN)}, "0.0150")
    (pos,) = taken.positions
    assert pos.quantity == 0.015
    assert pos.take_profit_reached  # sold in part while down: the share is not sold again
