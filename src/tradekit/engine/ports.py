"""What the decision core asks of an execution port, and what a port reports back.

The core decides; a port executes. The core hands a port an :class:`OrderRequest`; the port
fills it (the bar fill model of docs/backtests.md in backtest and paper, real orders live) and
reports the outcome once through :meth:`OrderSink.on_order_result`: the fills, or why nothing
was filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from tradekit.models import Bar, ExitPlan, Fill, Side, Signal

__all__ = ["ExecutionPort", "OrderRequest", "OrderSink"]


class OrderRequest(NamedTuple):
    """One order the core wants executed (a named tuple: made on every fill, so it is cheap).

    Attributes:
        market: e.g. ``KRW-BTC``.
        side: buy (an entry) or sell (an exit).
        quantity: base quantity, already on the market's quantity step.
        reason: ``entry``, ``stop_loss``, ``take_profit``, ``trailing_stop``, ``signal``,
            ``manual`` or ``end_of_data``; becomes the fill's reason.
        time_ms: when the decision was made (a bar's open time or a trade's time).
        reference: the price the decision was made at (a close, a crossed level, a trade).
        price: where the bar fill model fills it *now* (a crossed stop or take-profit level);
            None means "at market": the next bar's open in a simulation, at once live.
        closes: the sale is meant to empty the position (a remainder below the step is
            carried into the next sale of the market).
        exit_plan: an entry's exit plan (stored with the live order for restarts).
        signal: the signal behind an entry.
    """

    market: str
    side: Side
    quantity: float
    reason: str
    time_ms: int
    reference: float
    price: float | None = None
    closes: bool = False
    exit_plan: ExitPlan | None = None
    signal: Signal | None = None


class OrderSink(Protocol):
    """Receives what became of each request (the core)."""

    def on_order_result(
        self,
        request: OrderRequest,
        fills: Sequence[Fill],
        failure: str | None = None,
        *,
        unknown: bool = False,
        transient: bool = False,
        resolved: bool = False,
    ) -> None:
        """Book ``fills`` of ``request``; with ``failure``, say why it (partly) failed.

        ``unknown``: the order's fate could not be established (the port keeps looking it
        up); the market takes no new entries meanwhile. ``transient``: it never reached the
        exchange, so trying again soon is fine. ``resolved``: the late outcome of an order
        reported unknown before.
        """
        ...


class ExecutionPort(Protocol):
    """Where the core's orders are filled: the bar fill model, or live execution."""

    def bind(self, sink: OrderSink) -> None:
        """Report every order's outcome to ``sink`` (called once by the core)."""
        ...

    def submit(self, request: OrderRequest) -> None:
        """Execute ``request``; its outcome reaches the sink once (maybe before this returns)."""
        ...

    def on_bar(self, bar: Bar) -> None:
        """A bar of ``bar.market`` opened and closed: market orders waiting for it fill."""
        ...

    def discard(self) -> None:
        """Drop every order not sent yet (end of data, shutdown); each is reported failed."""
        ...
