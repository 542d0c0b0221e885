"""Mutable per-market trading state owned by the engine (the one writer).

These are internal: the outside world sees frozen :class:`~tradekit.models.Position`
snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tradekit.interfaces import Strategy
from tradekit.models import Bar, ExitPlan, Position, PositionState, Signal

if TYPE_CHECKING:
    from tradekit.engine.ports import OrderRequest

__all__ = ["Account", "MarketState", "OpenPosition"]


class OpenPosition:
    """An open position and its exit state (stop, take-profit, trailing stop)."""

    __slots__ = (
        "cost",
        "entry_price",
        "highest",
        "opened_ms",
        "proceeds",
        "quantity",
        "stop",
        "take_profit_fraction",
        "take_profit_price",
        "take_profit_reached",
        "trailing_stop",
    )

    def __init__(
        self, quantity: float, entry_price: float, opened_ms: int, cost: float, plan: ExitPlan
    ) -> None:
        self.quantity = quantity
        self.entry_price = entry_price
        self.opened_ms = opened_ms
        self.cost = cost  # cash paid for the entry, fee included
        self.proceeds = 0.0  # cash received from sales so far, fees deducted
        sl, tp = plan.stop_loss, plan.take_profit
        self.stop: float | None = None if sl is None else entry_price * (1 - sl)
        self.take_profit_price: float | None = None if tp is None else entry_price * (1 + tp)
        self.take_profit_fraction = plan.take_profit_fraction
        self.trailing_stop = plan.trailing_stop
        self.take_profit_reached = False
        self.highest: float | None = None

    @classmethod
    def opened(
        cls, quantity: float, price: float, opened_ms: int, cost: float, plan: ExitPlan | None
    ) -> OpenPosition:
        """A position just bought, protected by ``plan`` (no plan: no exits)."""
        return cls(quantity, price, opened_ms, cost, plan or ExitPlan())

    def add(self, quantity: float, price: float, cost: float) -> None:
        """A further fill of the entry: one position at the average price, levels moved along."""
        total = self.quantity + quantity
        average = (self.entry_price * self.quantity + price * quantity) / total
        ratio = average / self.entry_price
        self.quantity = round(total, 8)
        self.entry_price = average
        self.cost += cost
        if self.stop is not None:
            self.stop *= ratio
        if self.take_profit_price is not None:
            self.take_profit_price *= ratio

    def raise_trailing_stop(self) -> None:
        """Move the stop up to ``highest x (1 - trailing_stop)`` if that is higher."""
        trailing = self.trailing_stop
        if trailing is None or self.highest is None:
            return
        candidate = self.highest * (1 - trailing)
        if self.stop is None or candidate > self.stop:
            self.stop = candidate

    def state(self, market: str) -> PositionState:
        """Everything needed to rebuild this position after a restart."""
        return PositionState(
            market=market,
            quantity=self.quantity,
            entry_price=self.entry_price,
            opened_ms=self.opened_ms,
            cost=self.cost,
            proceeds=self.proceeds,
            stop=self.stop,
            take_profit_price=self.take_profit_price,
            take_profit_fraction=self.take_profit_fraction,
            trailing_stop=self.trailing_stop,
            take_profit_reached=self.take_profit_reached,
            highest=self.highest,
        )

    @classmethod
    def from_state(cls, state: PositionState) -> OpenPosition:
        """The position :meth:`state` described."""
        pos = cls(state.quantity, state.entry_price, state.opened_ms, state.cost, ExitPlan())
        pos.proceeds = state.proceeds
        pos.stop = state.stop
        pos.take_profit_price = state.take_profit_price
        pos.take_profit_fraction = state.take_profit_fraction
        pos.trailing_stop = state.trailing_stop
        pos.take_profit_reached = state.take_profit_reached
        pos.highest = state.highest
        return pos

    def snapshot(
        self,
        market: str,
        last_price: float | None,
        remainder: float = 0.0,
        quantity: float | None = None,
    ) -> Position:
        """A frozen copy for events, the store and the API (``quantity``: instead of the own)."""
        return Position(
            remainder=remainder,
            market=market,
            quantity=self.quantity if quantity is None else quantity,
            entry_price=self.entry_price,
            entry_time_ms=self.opened_ms,
            stop=self.stop,
            take_profit_price=self.take_profit_price,
            take_profit_reached=self.take_profit_reached,
            highest=self.highest,
            last_price=last_price,
            trailing_stop=self.trailing_stop,
        )


class MarketState:
    """Everything the engine tracks for one market."""

    __slots__ = (
        "blocked",
        "close_requested",
        "decide",
        "exit_failed",
        "last_close",
        "last_price",
        "last_price_bar_ms",
        "last_time_ms",
        "market",
        "pending",
        "position",
        "remainder",
        "reserved",
        "selling",
        "stop_armed",
        "strategy",
    )

    def __init__(self, market: str, strategy: Strategy) -> None:
        self.market = market
        self.strategy = strategy
        #: The strategy's ``on_bar``, bound once (called on every bar), or its answers found
        #: ahead (:meth:`TradingCore.decide_with`).
        self.decide: Callable[[Bar], Signal | None] = strategy.on_bar
        self.pending: OrderRequest | None = None  # an entry sent, not filled yet
        self.reserved = 0.0  # cash the pending entry may need, fee included
        self.selling: str | None = None  # reason of a sale sent, not finished yet
        self.position: OpenPosition | None = None
        #: Held but below the quantity step: sold with the next sale of this market.
        self.remainder = 0.0
        #: The stop as it stood when the current bar opened (a stop raised during a bar is
        #: first tested in the next one).
        self.stop_armed: float | None = None
        self.exit_failed = False  # an exit failed in this bar: tried again on the next one
        self.close_requested = False  # a manual close waits for the sale that is out
        self.blocked: str | None = None  # why this market takes no new entries (needs a human)
        self.last_close: float | None = None
        self.last_time_ms: int | None = None
        #: The price of the last trade seen (live and paper), and ``last_time_ms`` when it was
        #: seen: what is shown, never what decides (sizing, risk and the equity curve use the
        #: bar's close). A bar processed since then makes its close the latest price.
        self.last_price: float | None = None
        self.last_price_bar_ms: int | None = None


class Account:
    """What the simulated and the live account share: their markets' positions, as views."""

    markets: list[str]
    states: dict[str, MarketState]
    cash: float

    def position(self, market: str) -> Position | None:
        """A snapshot of the open position in ``market``."""
        state = self.states[market]
        pos = state.position
        if pos is None:
            return None
        return pos.snapshot(market, state.last_close, state.remainder)

    def positions(self) -> list[Position]:
        """Snapshots of every open position (its ``remainder``: held below the step)."""
        return [p for p in (self.position(m) for m in self.markets) if p is not None]

    def account_state(self) -> tuple[float, list[PositionState], dict[str, float]]:
        """Cash, every open position's full state and the carried remainders (for restarts)."""
        held = [(m, self.states[m].position) for m in self.markets]
        remainders = {m: s.remainder for m, s in self.states.items() if s.remainder}
        return self.cash, [pos.state(m) for m, pos in held if pos is not None], remainders
