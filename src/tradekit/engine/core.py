"""The decision core: the only code that decides and books, in backtest, paper and live.

For every closed bar it applies the fill rules (``docs/backtests.md#fills-within-a-bar``) step
by step:

1. orders waiting for this bar fill at its open (the execution port does the filling);
2. exits against the levels as they stood when the bar opened: gap through the stop, stop
   touched, first take-profit (partial), then the trailing stop follows the bar's high;
3. equity at the close, handed to the risk rules (the daily loss limit halts here);
4. the strategy sees the closed bar: an entry passes the risk chain, the quantity step, the
   minimum order and the free cash, and goes to the port; an exit signal closes the position.

A backtest may hand over a run of bars on which nothing can happen (nothing held, pending or
being sold, and no signal: :meth:`TradingCore.step_idle`, driven by
:mod:`tradekit.engine.candle_run`); they extend the equity curve and tell the risk rules.

Live, :meth:`TradingCore.on_trade` tests the same levels on every trade between bars, so an
exit goes out the moment a trade crosses it. Where the fills come from is the execution
port's business (:mod:`tradekit.engine.ports`); the port reports them to
:meth:`TradingCore.on_order_result`, which books them.

A quantity below the exchange's step cannot be sold: it is carried (``remainder``) and sold
with the next sale of that market as soon as it makes that sale at least one step larger.

The core does no I/O and calls no hook; per bar it creates no objects beyond the bar itself.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from tradekit.engine.bar_fills import BarFillModel
from tradekit.engine.ports import ExecutionPort, OrderRequest
from tradekit.engine.positions import Account, MarketState, OpenPosition
from tradekit.engine.rules import VenueRules
from tradekit.errors import ConfigError, StrategyError
from tradekit.events import (
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    PositionClosed,
    PositionOpened,
    SignalEvent,
)
from tradekit.interfaces import RiskRule, SkipsBars, SkipsIdleBars, Strategy
from tradekit.models import (
    Bar,
    ExitPlan,
    ExitReason,
    Fill,
    OrderIntent,
    Position,
    PositionState,
    Rejection,
    Side,
    Signal,
    Trade,
)

__all__ = [
    "BUY",
    "SELL",
    "EngineParams",
    "TradeRecord",
    "TradingCore",
]

STOP_LOSS = ExitReason.STOP_LOSS
TRAILING_STOP = ExitReason.TRAILING_STOP
TAKE_PROFIT = ExitReason.TAKE_PROFIT
END_OF_DATA = ExitReason.END_OF_DATA
MANUAL = ExitReason.MANUAL
SIGNAL = ExitReason.SIGNAL
#: The reason of every buy order and fill.
ENTRY = "entry"

#: Signal actions: ``buy`` asks for an entry, ``sell`` closes the market's position.
BUY = "buy"
SELL = "sell"


@attrs.frozen
class EngineParams:
    """The account and the simulated venue (``backtest`` / ``paper`` block of the config).

    The defaults reproduce the unrounded fill rules (``docs/backtests.md#fill-rules``); a
    config's ``backtest`` block defaults to Bithumb's rules instead (4-decimal quantities, the
    KRW price grid).
    """

    initial_cash: float = 10_000_000.0
    fee_rate: float = 0.0025
    min_order_value: float = 5000.0
    slippage: float = 0.0
    quantity_decimals: int = 8
    price_ticks: tuple[tuple[float, float], ...] | None = None
    #: Refuse entries the free cash cannot pay for (live always; the fill rules have no such rule).
    check_cash: bool = False


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
    exit_reason: str  # an ExitReason value

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


_NO_EXITS = ExitPlan()


def _fill_time(fill: Fill) -> int:
    return fill.time_ms


class TradingCore(Account):
    """One account trading one or several markets; the only writer of trading state.

    Args:
        markets: market ids in config order (ties in time are processed in this order).
        strategy_factory: builds one strategy per market.
        risk_rules: the risk chain, in config order; at least one must size entries.
        params: cash, fee, minimum order value, slippage, quantity step and price grid.
        emit: receives every event (signals, fills, rejections, halts...).
        event_types: the only event types ``emit`` wants (None: all); signals, fills and
            opened or closed positions of other types are not built.
        port: where orders are filled; the bar fill model of the fill rules by default.
        rules: quantity step and price grid per market (default: from ``params``).
    """

    def __init__(
        self,
        markets: Sequence[str],
        strategy_factory: Callable[[str], Strategy],
        risk_rules: Sequence[RiskRule],
        params: EngineParams = EngineParams(),
        emit: Callable[[Event], None] | None = None,
        port: ExecutionPort | None = None,
        rules: Mapping[str, VenueRules] | None = None,
        event_types: tuple[type[Event], ...] | None = None,
    ) -> None:
        if not any(rule.sizes_entries for rule in risk_rules):
            raise ConfigError(
                "risk: no rule sizes entries; add one such as {use: position_size, fraction: 0.05}"
            )
        for rule in risk_rules:
            # Read by /status, the metrics and the dashboard on every request: a rule that
            # lacks it (a plugin written before it joined the protocol) fails here, at start.
            if not isinstance(getattr(rule, "halted", None), bool):
                raise ConfigError(
                    f"risk: rule {rule.name!r} has no boolean 'halted' attribute (True while "
                    "it refuses every entry), which the RiskRule protocol requires"
                )
        self.params = params
        self.markets = list(markets)
        self.states = {m: MarketState(m, strategy_factory(m)) for m in self.markets}
        self._state_list = [self.states[m] for m in self.markets]
        default = VenueRules(params.quantity_decimals, params.price_ticks)
        self.rules: dict[str, VenueRules] = dict.fromkeys(self.markets, default)
        self._gridded = False
        self.use_venue_rules(rules or {})
        self.risk_rules = list(risk_rules)
        self.emit = emit or _ignore

        def wanted(kind: type[Event]) -> bool:
            return emit is not None and (event_types is None or issubclass(kind, event_types))

        # The events of every signal and fill are not even built when nobody wants them (a
        # backtest keeps only the rare ones): a few µs for each of tens of thousands of fills.
        self._tell_signals = wanted(SignalEvent)
        self._tell_fills = wanted(FillEvent)
        self._tell_opened = wanted(PositionOpened)
        self._tell_closed = wanted(PositionClosed)
        if port is None:
            port = BarFillModel(params.fee_rate, params.slippage, self.rules)
        self.port = port
        port.bind(self)
        self.cash = params.initial_cash
        self.equity = params.initial_cash
        self.fee_rate = params.fee_rate  # live: the exchange's taker fee (cash checks)
        self.min_order_value = params.min_order_value
        self.check_cash = params.check_cash
        self.fills: list[Fill] = []
        self.trades: list[TradeRecord] = []
        self.equity_times: array[int] = array("q")
        self.equity_values: array[float] = array("d")
        # Bound once: the per-bar path looks up no attribute it can avoid.
        self._record_time = self.equity_times.append
        self._record_equity = self.equity_values.append
        # A rule that tracks nothing per bar (``watches_bars = False``) is not called per bar.
        watching = [
            rule for rule in self.risk_rules if not isinstance(rule, SkipsBars) or rule.watches_bars
        ]
        self._on_bar_close = [rule.on_bar_close for rule in watching]
        self._watching = watching
        # Idle bars go to a rule in bulk only when it is the one rule watching: the events of
        # several could not be put back in bar order (bars of several markets share a time,
        # and a rule may give an event another time than its bar's).
        self._idle_in_bulk = len(watching) <= 1 and all(
            isinstance(rule, SkipsIdleBars) for rule in watching
        )
        self.exposed_bars = 0
        self.paused = False
        #: Why new entries are refused in every market (e.g. the store is failing), or None.
        self.entries_blocked: str | None = None
        self.reserved = 0.0  # cash promised to entries not filled yet
        self._carrying = False  # some market holds a remainder below its step
        self._held: list[MarketState] = []  # markets with an open position, in config order
        self._started = False

    # -- set-up -----------------------------------------------------------------------

    def start(self, time_ms: int | None = None) -> None:
        """Reset the risk rules to the starting equity (once, before the first bar)."""
        self._mark_equity()
        for rule in self.risk_rules:
            rule.reset(self.equity, time_ms)
        self._started = True

    def restore_account(
        self,
        cash: float,
        positions: Iterable[PositionState],
        remainders: Mapping[str, float] | None = None,
    ) -> None:
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
            state.stop_armed = pos.stop
            self._hold(state)
        for market, quantity in (remainders or {}).items():
            if market in self.states:
                self.states[market].remainder = quantity
                self._carrying = any(st.remainder for st in self._state_list)

    def block(self, market: str, why: str) -> None:
        """Take no new entries in ``market`` until restarted (its exits stay watched)."""
        self.states[market].blocked = why
        self.emit(ErrorEvent(self._now(market), "orders", f"{market}: {why}"))

    # -- operator actions -------------------------------------------------------------

    def request_close(self, market: str) -> None:
        """Sell the whole position in ``market`` at market (reason ``manual``).

        Simulated, it fills at the next bar's open; live, at once (or right after a sale
        that is out).

        Raises:
            KeyError: ``market`` is not traded here.
        """
        state = self.states[market]
        pos = state.position
        if pos is None:
            return
        if state.selling is not None:
            state.close_requested = True  # sent as soon as the sale that is out is done
            return
        self._sell(state, pos, pos.quantity, MANUAL, self._now(market), None)

    # -- the loop ---------------------------------------------------------------------

    def run(self, bars: Iterable[Bar]) -> None:
        """Process every bar, then close what is open at the last close (``end_of_data``)."""
        step = self.step
        for bar in bars:
            step(bar)
        self.finish()

    def use_venue_rules(self, rules: Mapping[str, VenueRules]) -> None:
        """Trade these markets by the exchange's own rules (live: read from it at start-up)."""
        self.rules.update(rules)
        self._gridded = any(r.ticks is not None for r in self.rules.values())

    def step(self, bar: Bar) -> None:
        """Steps 1-4 of the fill rules for one closed bar."""
        if not self._started:
            self.start()
        state = self.states[bar.market]
        if state.pending is not None or state.selling is not None:
            self.port.on_bar(bar)
        if state.exit_failed:
            state.exit_failed = False  # a refused exit is tried again once per bar
        pos = state.position
        if pos is not None:
            if state.selling is None:
                self._bar_exits(state, pos, bar)
            elif pos.take_profit_reached and (pos.highest is None or bar.high > pos.highest):
                # A sale is out (live): the stop still trails the bar's high.
                pos.highest = bar.high
                self._raise_trailing_stop(state, pos)
        time_ms = bar.time_ms
        state.last_close = bar.close
        state.last_time_ms = time_ms
        equity = self.cash
        held = self._held
        if held:  # only markets with a position: most bars of most runs have none
            for s in held:
                equity += s.position.quantity * s.last_close  # type: ignore[operator,union-attr]
            self.exposed_bars += 1
        if self._carrying:  # quantities below the step (live) are worth something too
            for s in self._state_list:
                if s.remainder and s.last_close is not None:
                    equity += s.remainder * s.last_close
        self.equity = equity
        self._record_time(time_ms)
        self._record_equity(equity)
        for on_bar_close in self._on_bar_close:
            event = on_bar_close(time_ms, equity)
            if event is not None:
                self.emit(event)
        try:
            signal = state.decide(bar)
        except Exception as exc:
            raise StrategyError(
                f"strategy {type(state.strategy).__name__} failed on {bar.market} "
                f"at {bar.time_ms}: {type(exc).__name__}: {exc}"
            ) from exc
        if signal is not None:
            self._on_signal(state, signal, bar)

    def decide_with(self, market: str, decide: Callable[[Bar], Signal | None]) -> None:
        """Take ``market``'s signals from ``decide`` instead of its strategy's ``on_bar``.

        For a strategy that found its answers ahead (:class:`~tradekit.interfaces.ScansCandles`):
        ``decide`` must give, bar by bar, exactly what ``on_bar`` would.
        """
        self.states[market].decide = decide

    @property
    def idle(self) -> bool:
        """True when a bar without a signal can change nothing but the equity curve.

        Nothing is held (not even a remainder below the step), pending or being sold in any
        market, and no exit waits for another try: such a bar's :meth:`step` would record the
        cash as equity and tell the risk rules, nothing else.
        """
        for state in self._state_list:
            if (
                state.position is not None
                or state.pending is not None
                or state.selling is not None
                or state.remainder
                or state.exit_failed
            ):
                return False
        return True

    def step_idle(self, times_ms: array[int], last_closes: Mapping[str, tuple[int, float]]) -> None:
        """:meth:`step` for a run of bars without a signal while :attr:`idle`, in bulk.

        Args:
            times_ms: the bars' open times, in processing order.
            last_closes: for each market with a bar in the run, its last bar's time and close.

        Raises:
            RuntimeError: the core is not :attr:`idle` (those bars would need :meth:`step`).
        """
        if not self.idle:
            raise RuntimeError("step_idle while something is held, pending or being sold")
        if not self._started:
            self.start()
        equity = self.cash
        self.equity = equity
        self.equity_times.extend(times_ms)
        self.equity_values.extend(array("d", (equity,)) * len(times_ms))
        for market, (time_ms, close) in last_closes.items():
            state = self.states[market]
            state.last_time_ms = time_ms
            state.last_close = close
        watching = self._watching
        if self._idle_in_bulk:
            events: list[Event] = []
            for rule in watching:
                events += rule.on_idle_bars(times_ms, equity)  # type: ignore[attr-defined]
        else:
            on_bar_close = self._on_bar_close
            events = [
                event
                for time_ms in times_ms
                for on_close in on_bar_close
                if (event := on_close(time_ms, equity)) is not None
            ]
        for event in events:
            self.emit(event)

    def on_trade(self, trade: Trade) -> None:
        """A live trade between bars: sell at once if it crosses the stop or take-profit.

        The levels are those armed when the bar opened; the trailing stop follows the bar's
        high when the bar closes, as in the backtest.
        """
        state = self.states.get(trade.market)
        if state is None:
            return
        state.last_price = trade.price
        state.last_price_bar_ms = state.last_time_ms
        pos = state.position
        if pos is None or state.selling is not None or state.exit_failed:
            return
        price = trade.price
        stop = state.stop_armed
        if stop is not None and price <= stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos, pos.quantity, reason, trade.time_ms, price)
        elif not pos.take_profit_reached:
            tp = pos.take_profit_price
            if tp is not None and price >= tp:
                # The trailing stop starts from the bar's high when the bar closes.
                self._take_profit(state, pos, price, trade.time_ms)

    def note_trade(self, trade: Trade) -> None:
        """Remember a trade's price for what is shown (paper: exits stay the bar's business)."""
        state = self.states.get(trade.market)
        if state is not None:
            state.last_price = trade.price
            state.last_price_bar_ms = state.last_time_ms

    def mark_price(self, market: str) -> float | None:
        """The latest known price of ``market``: the last trade seen since its last bar closed,
        else that bar's close (which is the last trade of the bar; nothing per bar is reset).
        """
        state = self.states[market]
        if state.last_price is None or state.last_price_bar_ms != state.last_time_ms:
            return state.last_close
        return state.last_price

    def marked_equity(self) -> float:
        """Cash plus every position and carried remainder at the latest known price.

        What a trader should see right after a fill: :attr:`equity` is re-marked only when a
        bar closes, because sizing, the daily loss limit and the equity curve must use the
        bar-close figure. Computed on request, O(markets); nothing per bar or per trade.
        """
        equity = self.cash
        for s in self._state_list:
            price = self.mark_price(s.market)
            pos = s.position
            if pos is not None:
                equity += pos.quantity * (price if price is not None else pos.entry_price)
            if s.remainder and price is not None:
                equity += s.remainder * price
        return equity

    def marked_position(self, market: str) -> Position | None:
        """:meth:`position` with ``last_price`` at the latest known price (for display)."""
        state = self.states[market]
        pos = state.position
        if pos is None:
            return None
        return pos.snapshot(market, self.mark_price(market), state.remainder)

    def marked_positions(self) -> list[Position]:
        """:meth:`positions` at the latest known prices (for display)."""
        return [p for p in (self.marked_position(m) for m in self.markets) if p is not None]

    def finish(self) -> None:
        """Sell what is still open at each market's last close; drop orders not filled."""
        self.port.discard()
        closing = []
        for state in self._state_list:
            pos = state.position
            if pos is not None and state.last_close is not None and state.selling is None:
                closing.append((state.last_time_ms, state, pos))
        for time_ms, state, pos in sorted(closing, key=lambda c: c[0] or 0):
            assert time_ms is not None
            assert state.last_close is not None
            self._sell(state, pos, pos.quantity, END_OF_DATA, time_ms, state.last_close)
        if closing:
            # A market whose data ends early closes at its own last bar, before later fills
            # of other markets: the fills stay in time order (stable: ties keep their order).
            self.fills.sort(key=_fill_time)
        self._mark_equity()

    # -- decisions --------------------------------------------------------------------

    def _bar_exits(self, state: MarketState, pos: OpenPosition, bar: Bar) -> None:
        """Spec step 2 against the levels as they stood at the bar's open.

        Live, trades have normally fired these already; this catches what missed trades hid.
        """
        stop = state.stop_armed
        if stop is not None and pos.opened_ms < bar.time_ms and bar.open <= stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos, pos.quantity, reason, bar.time_ms, bar.open)
        elif stop is not None and bar.low <= stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos, pos.quantity, reason, bar.time_ms, stop)
        elif not pos.take_profit_reached:
            tp = pos.take_profit_price
            if tp is not None and bar.high >= tp:
                self._take_profit(state, pos, max(bar.open, tp), bar.time_ms)
                if state.position is pos:
                    pos.highest = bar.high
                    self._raise_trailing_stop(state, pos)
        elif pos.highest is None or bar.high > pos.highest:
            # The stop only moves when the high does.
            pos.highest = bar.high
            self._raise_trailing_stop(state, pos)

    def _take_profit(self, state: MarketState, pos: OpenPosition, price: float, t: int) -> None:
        """Sell the take-profit share (all of it if the rest would be below the minimum)."""
        part = self.rules[state.market].floor_quantity(pos.quantity * pos.take_profit_fraction)
        if (pos.quantity - part) * price < self.min_order_value:
            self._sell(state, pos, pos.quantity, TAKE_PROFIT, t, price)
            return
        pos.take_profit_reached = True  # reached when touched, sold or not (fill rules, step 2)
        if part > 0:
            self._sell(state, pos, part, TAKE_PROFIT, t, price)

    def _raise_trailing_stop(self, state: MarketState, pos: OpenPosition) -> None:
        """Raise the stop after the bar's exits were tested: it is armed for the next bar
        (a stop raised in a bar is first tested in the next one, fill rules step 2)."""
        before = pos.stop
        pos.raise_trailing_stop()
        if self._gridded and pos.stop is not None and pos.stop != before:
            pos.stop = self.rules[state.market].price_down(pos.stop)
        state.stop_armed = pos.stop

    def _on_signal(self, state: MarketState, signal: Signal, bar: Bar) -> None:
        action = signal.action
        if action == BUY:
            if state.position is None and state.pending is None and state.selling is None:
                self._consider_entry(state, signal, bar)
        elif action == SELL:
            pos = state.position
            if pos is not None and state.selling is None:
                if self._tell_signals:
                    self.emit(SignalEvent(bar.time_ms, signal))
                self._sell(state, pos, pos.quantity, SIGNAL, bar.time_ms, None)
        else:
            raise StrategyError(
                f"strategy {type(state.strategy).__name__} returned a signal with action "
                f"{action!r} on {bar.market} at {bar.time_ms}; expected 'buy' or 'sell'"
            )

    def _consider_entry(self, state: MarketState, signal: Signal, bar: Bar) -> None:
        if self._tell_signals:
            self.emit(SignalEvent(bar.time_ms, signal))
        market = bar.market
        refused = "paused" if self.paused else None
        why = "trading is paused"
        if refused is None and state.blocked is not None:
            refused, why = "blocked", state.blocked
        if refused is None and self.entries_blocked is not None:
            refused, why = "blocked", self.entries_blocked
        if refused is not None:
            self.emit(EntryRejected(bar.time_ms, market, refused, why))
            return
        intent = OrderIntent(market, Side.BUY, bar.close, None, ENTRY, bar.time_ms, signal)
        for rule in self.risk_rules:
            verdict = rule.check(intent, self)
            if isinstance(verdict, Rejection):
                self.emit(EntryRejected(bar.time_ms, market, verdict.rule, verdict.reason))
                return
            intent = verdict
        if intent.quantity is None or intent.quantity <= 0:
            self.emit(EntryRejected(bar.time_ms, market, "sizing", "no quantity was set"))
            return
        quantity = self.rules[market].floor_quantity(intent.quantity)
        value = quantity * bar.close
        if value < self.min_order_value:
            self.emit(
                EntryRejected(
                    bar.time_ms,
                    market,
                    "min_order_value",
                    f"order value {value:,.2f} is below the minimum {self.min_order_value:,.0f}",
                )
            )
            return
        cost = value * (1 + self.fee_rate)
        free = self.cash - self.reserved
        if cost > free and self.check_cash:
            self.emit(
                EntryRejected(
                    bar.time_ms,
                    market,
                    "cash",
                    f"order value {value:,.0f} and its fee are more than the free cash {free:,.0f}",
                )
            )
            return
        request = OrderRequest(
            market,
            Side.BUY,
            quantity,
            ENTRY,
            bar.time_ms,
            bar.close,
            exit_plan=signal.exit_plan,
            signal=signal,
        )
        state.pending = request
        state.reserved = cost
        self.reserved += cost
        self.port.submit(request)

    def _sell(
        self,
        state: MarketState,
        pos: OpenPosition,
        quantity: float,
        reason: str,
        time_ms: int,
        price: float | None,
    ) -> None:
        """Ask the port to sell; a sale of the whole position takes the remainder along."""
        rules = self.rules[state.market]
        closes = quantity >= pos.quantity
        if closes:
            quantity = rules.floor_quantity(pos.quantity + state.remainder)
        if quantity <= 0:
            # Below the exchange's step: nothing can be sold; carried into the next sale.
            self._close_unsold(state, pos, reason, time_ms)
            return
        state.selling = reason
        request = OrderRequest(
            state.market, Side.SELL, quantity, reason, time_ms, price or 0.0, price, closes
        )
        if price is None and state.last_close is not None:
            request = request._replace(reference=state.last_close)
        self.port.submit(request)

    # -- booking ----------------------------------------------------------------------

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
        """Book what an order did: its fills first, then any failure (see :class:`OrderSink`)."""
        state = self.states[request.market]
        if request.side is Side.BUY:
            if state.pending is request:
                state.pending = None
                self.reserved = max(0.0, self.reserved - state.reserved)
                state.reserved = 0.0
            for fill in fills:
                self._book_buy(state, fill, request)
        else:
            if not resolved:
                state.selling = None
            for fill in fills:
                self._book_sell(state, fill)
        if resolved:
            self._resolved(state, request)
        elif failure is not None:
            self._failed(state, request, failure, unknown=unknown, transient=transient)
        if state.close_requested and state.selling is None:
            state.close_requested = False
            pos = state.position
            if pos is not None:
                self._sell(state, pos, pos.quantity, MANUAL, self._now(state.market), None)

    def _resolved(self, state: MarketState, request: OrderRequest) -> None:
        market = request.market
        if state.blocked is not None and state.blocked.startswith(self._unknown_prefix(request)):
            state.blocked = None
            self.emit(
                ErrorEvent(
                    self._now(market),
                    "orders",
                    f"{market}: the {request.reason} order of unknown fate is settled and "
                    "booked; new entries are allowed again",
                )
            )

    @staticmethod
    def _unknown_prefix(request: OrderRequest) -> str:
        return f"{request.reason} order: fate unknown"

    def _failed(
        self,
        state: MarketState,
        request: OrderRequest,
        why: str,
        *,
        unknown: bool,
        transient: bool,
    ) -> None:
        market = request.market
        if unknown:
            state.blocked = f"{self._unknown_prefix(request)} ({why}); it is looked up again"
            self.emit(ErrorEvent(self._now(market), "orders", f"{market}: {state.blocked}"))
        if request.side is Side.BUY:
            if not unknown:
                self.emit(EntryRejected(request.time_ms, market, "exchange", why))
            return
        self.emit(
            ErrorEvent(self._now(market), "orders", f"{market}: {request.reason} sell: {why}")
        )
        pos = state.position
        if pos is None or unknown:
            return
        if transient:
            return  # it never reached the exchange: the next trade may try again at once
        state.exit_failed = True  # refused: tried again on the next bar, not on every trade
        if request.reason == TAKE_PROFIT and not request.closes:
            pos.take_profit_reached = False  # the share was not sold: it is offered again
        last = state.last_close or request.reference
        if pos.quantity * last < self.min_order_value:
            # Refused, and worth less than any order the exchange takes: carry it.
            self._close_unsold(state, pos, request.reason, request.time_ms)

    def _book_buy(self, state: MarketState, fill: Fill, request: OrderRequest) -> None:
        cost = fill.price * fill.quantity + fill.fee
        self.cash -= cost
        self.fills.append(fill)
        pos = state.position
        if pos is None:
            plan = request.exit_plan or _NO_EXITS
            pos = OpenPosition(fill.quantity, fill.price, fill.time_ms, cost, plan)
            if self._gridded:
                self._to_grid(state.market, pos)
            state.position = pos
            state.stop_armed = pos.stop
            self._hold(state)
            if self._tell_fills:
                self.emit(FillEvent(fill.time_ms, fill, self.cash, self.marked_equity()))
            if self._tell_opened:
                self.emit(PositionOpened(fill.time_ms, pos.snapshot(state.market, fill.price)))
            return
        # A further fill of the same entry: one position at the average price.
        pos.add(fill.quantity, fill.price, cost)
        if self._gridded:
            self._to_grid(state.market, pos)
        state.stop_armed = pos.stop
        if self._tell_fills:
            self.emit(FillEvent(fill.time_ms, fill, self.cash, self.marked_equity()))

    def _book_sell(self, state: MarketState, fill: Fill) -> None:
        net = fill.price * fill.quantity - fill.fee
        self.cash += net
        self.fills.append(fill)
        pos = state.position
        if self._tell_fills:
            # Booked before the position shrinks: what was sold is no longer held.
            price = self.mark_price(state.market)
            if price is None:
                price = pos.entry_price if pos is not None else fill.price
            equity = self.marked_equity() - fill.quantity * price
            self.emit(FillEvent(fill.time_ms, fill, self.cash, equity))
        if pos is None:  # only carried remainder was sold
            state.remainder = max(0.0, round(state.remainder - fill.quantity, 8))
            self._carrying = any(st.remainder for st in self._state_list)
            return
        pos.proceeds += net
        left = round(
            pos.quantity - fill.quantity, 8
        )  # fill rules: the rest is rounded to 8 decimals
        if left > 0 and self.rules[state.market].floor_quantity(left + state.remainder) > 0:
            pos.quantity = left  # a part sold (the take-profit): the position goes on
            return
        if left < 0:  # the sale took the carried remainder along
            state.remainder = max(0.0, round(state.remainder + left, 8))
            self._carrying = any(st.remainder for st in self._state_list)
            left = 0.0
        if left:  # a sub-step rest: carried into the next sale
            state.remainder = round(state.remainder + left, 8)
            self._carrying = True
        quantity = pos.quantity
        pos.quantity = 0.0
        self._closed(state, pos, quantity, fill.time_ms, fill.price, fill.reason)

    def _close_unsold(self, state: MarketState, pos: OpenPosition, reason: str, t: int) -> None:
        state.remainder = round(state.remainder + pos.quantity, 8)
        self._carrying = any(st.remainder for st in self._state_list)
        quantity, pos.quantity = pos.quantity, 0.0
        self._closed(state, pos, quantity, t, state.last_close or pos.entry_price, reason)

    def _closed(
        self,
        state: MarketState,
        pos: OpenPosition,
        quantity: float,
        time_ms: int,
        price: float,
        reason: str,
    ) -> None:
        state.position = None
        state.stop_armed = None
        self._held.remove(state)
        trade = TradeRecord(
            state.market,
            pos.opened_ms,
            time_ms,
            pos.entry_price,
            quantity,
            pos.cost,
            pos.proceeds,
            reason,
        )
        self.trades.append(trade)
        if self._tell_closed:
            closed = pos.snapshot(state.market, price, quantity=quantity)
            self.emit(PositionClosed(time_ms, closed, trade.pnl, reason))

    # -- helpers ----------------------------------------------------------------------

    def _hold(self, state: MarketState) -> None:
        # Config order, as the fill rules sum equity: float sums depend on their order.
        held = self._held
        held.append(state)
        if len(held) > 1:
            held.sort(key=self._state_list.index)

    def _to_grid(self, market: str, pos: OpenPosition) -> None:
        rules = self.rules[market]
        if pos.stop is not None:
            pos.stop = rules.price_down(pos.stop)
        if pos.take_profit_price is not None:
            pos.take_profit_price = rules.price_up(pos.take_profit_price)

    def _mark_equity(self) -> None:
        equity = self.cash
        for s in self._state_list:
            price = s.last_close
            pos = s.position
            if pos is not None:
                equity += pos.quantity * (price if price is not None else pos.entry_price)
            if s.remainder and price is not None:
                equity += s.remainder * price
        self.equity = equity

    def _now(self, market: str) -> int:
        return self.states[market].last_time_ms or 0

    def remainders(self) -> dict[str, float]:
        """Quantities below the step carried per market (sold with the next sale)."""
        return {s.market: s.remainder for s in self._state_list if s.remainder}
