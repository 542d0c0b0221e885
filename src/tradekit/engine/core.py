"""The sync trading core: ledger update -> exits -> risk state -> strategy -> risk chain.

It applies the bar fill model of ``spec/breakout.md`` step by step for every bar:

1. a pending entry fills at the bar's open;
2. exits: gap through the stop, stop touched, first take-profit (partial), trailing stop;
3. equity at the close, handed to the risk rules (the daily loss limit halts here);
4. the strategy sees the closed bar; an entry passes the risk chain and the market minimum
   and waits for the next bar's open.

The core does no I/O and calls no hook; per bar it creates no objects beyond the bar itself
(fills, signals and events are created only when they happen).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence

import attrs

from tradekit.engine.positions import Account, MarketState, OpenPosition, PendingEntry
from tradekit.errors import ConfigError, StrategyError
from tradekit.events import (
    EntryRejected,
    Event,
    FillEvent,
    PositionClosed,
    PositionOpened,
    SignalEvent,
)
from tradekit.interfaces import RiskRule, Strategy
from tradekit.models import (
    Bar,
    Fill,
    OrderIntent,
    PositionState,
    Rejection,
    Side,
    Signal,
    floor8,
)

__all__ = ["EngineParams", "TradeRecord", "TradingCore"]

STOP_LOSS = "stop_loss"
TRAILING_STOP = "trailing_stop"
TAKE_PROFIT = "take_profit"
END_OF_DATA = "end_of_data"
MANUAL = "manual"
ENTRY = "entry"


@attrs.frozen
class EngineParams:
    """The simulated venue's parameters (``backtest`` block of the config)."""

    initial_cash: float = 10_000_000.0
    fee_rate: float = 0.0025
    min_order_value: float = 5000.0
    slippage: float = 0.0


@attrs.frozen(slots=True)
class TradeRecord:
    """A round trip: entry to the sale of the last unit; ``pnl`` is after every fee."""

    market: str
    entry_time_ms: int
    exit_time_ms: int
    entry_price: float
    quantity: float
    cost: float
    proceeds: float
    exit_reason: str

    @property
    def pnl(self) -> float:
        """Cash received minus cash paid."""
        return self.proceeds - self.cost

    @property
    def return_(self) -> float:
        """Profit as a fraction of the cash paid."""
        return self.pnl / self.cost if self.cost else 0.0


def _ignore(_event: Event) -> None:
    return None


class TradingCore(Account):
    """One account trading one or several markets bar by bar.

    Args:
        markets: market ids in config order (ties in time are processed in this order).
        strategy_factory: builds one strategy per market.
        risk_rules: the risk chain, in config order; at least one must size entries.
        params: cash, fee, minimum order value, slippage.
        emit: receives every event (signals, fills, rejections, halts...).
    """

    def __init__(
        self,
        markets: Sequence[str],
        strategy_factory: Callable[[str], Strategy],
        risk_rules: Sequence[RiskRule],
        params: EngineParams = EngineParams(),
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        if not any(getattr(rule, "sizes_entries", False) for rule in risk_rules):
            raise ConfigError(
                "risk: no rule sizes entries; add one such as {use: position_size, fraction: 0.05}"
            )
        self.params = params
        self.markets = list(markets)
        self.states = {m: MarketState(m, strategy_factory(m)) for m in self.markets}
        self._state_list = [self.states[m] for m in self.markets]
        self.risk_rules = list(risk_rules)
        self.emit = emit or _ignore
        self.cash = params.initial_cash
        self.equity = params.initial_cash
        self.fills: list[Fill] = []
        self.trades: list[TradeRecord] = []
        self.equity_times: array[int] = array("q")
        self.equity_values: array[float] = array("d")
        self.exposed_bars = 0
        self.paused = False
        self._close_requests: set[str] = set()
        self._fee = params.fee_rate
        self._min_value = params.min_order_value
        self._buy_slip = 1 + params.slippage
        self._sell_slip = 1 - params.slippage
        self._started = False

    # -- operator actions -------------------------------------------------------------

    def request_close(self, market: str) -> None:
        """Sell the whole position in ``market`` at the next bar's open (reason ``manual``).

        Raises:
            KeyError: ``market`` is not traded here.
        """
        if market not in self.states:
            raise KeyError(market)
        self._close_requests.add(market)

    # -- the loop ---------------------------------------------------------------------

    def start(self, time_ms: int | None = None) -> None:
        """Reset the risk rules to the starting equity (called once, before the first bar)."""
        equity = self.cash
        for s in self._state_list:
            if s.position is not None and s.last_close is not None:
                equity += s.position.quantity * s.last_close
        self.equity = equity
        for rule in self.risk_rules:
            rule.reset(equity, time_ms)
        self._started = True

    def restore_account(self, cash: float, positions: Iterable[PositionState]) -> None:
        """Continue from a stored account (before the first bar).

        Raises:
            RuntimeError: bars were already processed.
            KeyError: a position is in a market not traded here.
        """
        if self._started:
            raise RuntimeError("restore_account must be called before the first bar")
        restored = [(self.states[p.market], OpenPosition.from_state(p)) for p in positions]
        self.cash = self.equity = cash
        for state, pos in restored:
            state.position = pos

    def run(self, bars: Iterable[Bar]) -> None:
        """Process every bar, then close what is open at the last close (``end_of_data``)."""
        step = self.step
        for bar in bars:
            step(bar)
        self.finish()

    def step(self, bar: Bar) -> None:
        """Steps 1-4 of the fill rules for one closed bar."""
        if not self._started:
            self.start()
        state = self.states[bar.market]
        if state.pending is not None:
            self._fill_entry(state, bar)
        if self._close_requests and bar.market in self._close_requests:
            self._close_requests.discard(bar.market)
            if state.position is not None:
                self._sell(
                    state, state.position, bar.time_ms, bar.open, state.position.quantity, MANUAL
                )
        pos = state.position
        if pos is not None:
            self._exits(state, pos, bar)
        state.last_close = bar.close
        state.last_time_ms = bar.time_ms
        equity = self.cash
        exposed = False
        for s in self._state_list:
            p = s.position
            if p is not None:
                equity += p.quantity * s.last_close  # type: ignore[operator]
                exposed = True
        self.equity = equity
        time_ms = bar.time_ms
        self.equity_times.append(time_ms)
        self.equity_values.append(equity)
        if exposed:
            self.exposed_bars += 1
        for rule in self.risk_rules:
            event = rule.on_bar_close(time_ms, equity)
            if event is not None:
                self.emit(event)
        try:
            signal = state.strategy.on_bar(bar)
        except Exception as exc:
            raise StrategyError(
                f"strategy {type(state.strategy).__name__} failed on {bar.market} "
                f"at {bar.time_ms}: {type(exc).__name__}: {exc}"
            ) from exc
        if signal is not None and state.position is None and state.pending is None:
            self._consider_entry(state, signal, bar)

    def finish(self) -> None:
        """Sell what is still open at each market's last close; drop pending entries."""
        closing = []
        for state in self._state_list:
            state.pending = None
            pos = state.position
            if pos is not None and state.last_close is not None:
                closing.append((state.last_time_ms, state, pos))
        for time_ms, state, pos in sorted(closing, key=lambda c: c[0] or 0):
            assert time_ms is not None
            assert state.last_close is not None
            self._sell(state, pos, time_ms, state.last_close, pos.quantity, END_OF_DATA)
        equity = self.cash
        for s in self._state_list:
            if s.position is not None and s.last_close is not None:
                equity += s.position.quantity * s.last_close
        self.equity = equity

    # -- decisions --------------------------------------------------------------------

    def _consider_entry(self, state: MarketState, signal: Signal, bar: Bar) -> None:
        self.emit(SignalEvent(bar.time_ms, signal))
        if self.paused:
            self.emit(EntryRejected(bar.time_ms, bar.market, "paused", "trading is paused"))
            return
        intent = OrderIntent(bar.market, Side.BUY, bar.close, None, ENTRY, bar.time_ms, signal)
        for rule in self.risk_rules:
            verdict = rule.check(intent, self)
            if isinstance(verdict, Rejection):
                self.emit(EntryRejected(bar.time_ms, bar.market, verdict.rule, verdict.reason))
                return
            intent = verdict
        quantity = intent.quantity
        if quantity is None or quantity <= 0:
            self.emit(EntryRejected(bar.time_ms, bar.market, "sizing", "no quantity was set"))
            return
        if quantity * bar.close < self._min_value:
            self.emit(
                EntryRejected(
                    bar.time_ms,
                    bar.market,
                    "min_order_value",
                    f"order value {quantity * bar.close:,.2f} is below the minimum "
                    f"{self._min_value:,.0f}",
                )
            )
            return
        state.pending = PendingEntry(quantity, signal.exit_plan, signal)

    # -- fills ------------------------------------------------------------------------

    def _record(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.emit(FillEvent(fill.time_ms, fill, self.cash, self.equity))

    def _fill_entry(self, state: MarketState, bar: Bar) -> None:
        pending = state.pending
        assert pending is not None
        state.pending = None
        price = bar.open * self._buy_slip
        quantity = pending.quantity
        notional = price * quantity
        fee = notional * self._fee
        self.cash -= notional + fee
        pos = OpenPosition(quantity, price, bar.time_ms, notional + fee, pending.exit_plan)
        state.position = pos
        self._record(Fill(bar.time_ms, state.market, Side.BUY, price, quantity, fee, ENTRY))
        self.emit(PositionOpened(bar.time_ms, pos.snapshot(state.market, bar.open)))

    def _sell(
        self,
        state: MarketState,
        pos: OpenPosition,
        time_ms: int,
        price: float,
        quantity: float,
        reason: str,
    ) -> None:
        price *= self._sell_slip
        notional = price * quantity
        fee = notional * self._fee
        self.cash += notional - fee
        pos.proceeds += notional - fee
        self._record(Fill(time_ms, state.market, Side.SELL, price, quantity, fee, reason))
        if quantity >= pos.quantity:
            state.position = None
            trade = TradeRecord(
                state.market,
                pos.opened_ms,
                time_ms,
                pos.entry_price,
                pos.quantity,
                pos.cost,
                pos.proceeds,
                reason,
            )
            self.trades.append(trade)
            self.emit(PositionClosed(time_ms, pos.snapshot(state.market, price), trade.pnl, reason))
        else:
            # The quantity left is rounded to 8 decimals (spec step 2).
            pos.quantity = round(pos.quantity - quantity, 8)

    def _exits(self, state: MarketState, pos: OpenPosition, bar: Bar) -> None:
        stop = pos.stop
        if stop is not None and pos.opened_ms != bar.time_ms and bar.open <= stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos, bar.time_ms, bar.open, pos.quantity, reason)
        elif stop is not None and bar.low <= stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos, bar.time_ms, stop, pos.quantity, reason)
        elif not pos.take_profit_reached:
            tp = pos.take_profit_price
            if tp is not None and bar.high >= tp:
                price = max(bar.open, tp)
                part = floor8(pos.quantity * pos.take_profit_fraction)
                if (pos.quantity - part) * price < self._min_value:
                    self._sell(state, pos, bar.time_ms, price, pos.quantity, TAKE_PROFIT)
                    return
                if part > 0:
                    self._sell(state, pos, bar.time_ms, price, part, TAKE_PROFIT)
                pos.take_profit_reached = True
                pos.highest = bar.high
                pos.raise_trailing_stop()
        else:
            if pos.highest is None or bar.high > pos.highest:
                pos.highest = bar.high
            pos.raise_trailing_stop()
