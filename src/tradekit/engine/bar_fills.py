"""The bar fill model of ``docs/backtests.md#fill-rules`` as an execution port (backtest, paper).

A request with a ``price`` (a stop or take-profit level the bar crossed, decided by the core)
fills at once at that price; a market request (an entry, a manual or signal exit) waits for
the next bar of its market and fills at that bar's open. Slippage, when configured, moves
every fill against the trader and back onto the price grid. Fees are ``fee_rate`` of the
notional.
"""

from __future__ import annotations

from tradekit.engine.ports import OrderRequest, OrderSink
from tradekit.engine.rules import VenueRules
from tradekit.models import Bar, Fill, Side

__all__ = ["BarFillModel"]


class BarFillModel:
    """Simulated fills by the fill rules; deterministic, no I/O, advances with the bars.

    Args:
        fee_rate: fee per fill, on notional.
        slippage: fraction each fill price moves against the trader (0: none).
        rules: the markets' price grid, by market (prices are not rounded where absent).
    """

    def __init__(
        self,
        fee_rate: float = 0.0025,
        slippage: float = 0.0,
        rules: dict[str, VenueRules] | None = None,
    ) -> None:
        self.fee_rate = fee_rate
        self._buy_slip = 1 + slippage
        self._sell_slip = 1 - slippage
        self._slipping = slippage != 0
        self._rules = rules or {}
        self._waiting: dict[str, list[OrderRequest]] = {}
        self._sink: OrderSink | None = None

    def bind(self, sink: OrderSink) -> None:
        """Report fills to ``sink``."""
        self._sink = sink

    def submit(self, request: OrderRequest) -> None:
        """Fill a priced request now; keep a market request for the next bar's open."""
        if request.price is None:
            self._waiting.setdefault(request.market, []).append(request)
        else:
            self._fill(request, request.price, request.time_ms)

    def on_bar(self, bar: Bar) -> None:
        """Fill the market requests waiting for ``bar.market`` at this bar's open."""
        waiting = self._waiting.pop(bar.market, None)
        if waiting:
            for request in waiting:
                self._fill(request, bar.open, bar.time_ms)

    def discard(self) -> None:
        """Drop the requests still waiting (docs/backtests.md#end-of-data).

        Each is reported with no fills and no failure: nothing happened to it.
        """
        waiting, self._waiting = self._waiting, {}
        assert self._sink is not None
        for requests in waiting.values():
            for request in requests:
                self._sink.on_order_result(request, ())

    def _fill(self, request: OrderRequest, price: float, time_ms: int) -> None:
        if self._slipping:
            rules = self._rules.get(request.market)
            if request.side is Side.BUY:
                price *= self._buy_slip
                price = rules.price_up(price) if rules is not None else price
            else:
                price *= self._sell_slip
                price = rules.price_down(price) if rules is not None else price
        quantity = request.quantity
        fee = price * quantity * self.fee_rate
        fill = Fill(time_ms, request.market, request.side, price, quantity, fee, request.reason)
        assert self._sink is not None, "bind() the port to the core first"
        self._sink.on_order_result(request, (fill,))
