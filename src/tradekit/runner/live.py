"""Live trading: the backtest's decisions, real orders, exits watched on every trade.

:class:`LiveTrader` has the face of :class:`~tradekit.engine.TradingCore` that the bot uses
(``step``, ``positions``, ``cash``, ``equity``, ``paused`` ...), so the runner drives both the
same way. The differences are where money moves:

- An entry decided on a bar's close is a market buy for ``quantity x close`` KRW sent at once
  (the backtest fills it at the next open, which is the same moment). Its stop and take-profit
  are computed from the *actual* average fill price.
- Exits are checked on every trade from the stream (and on each closed bar's low and high, in
  case trades were missed): stop, partial take-profit, then the trailing stop, as in
  ``spec/breakout.md``; each is a market sell.
- Every order goes through :class:`~tradekit.engine.executor.OrderExecutor`: stored before it
  is sent, looked up (never re-sent) when the answer is lost, fills recorded exactly once.
  One order at a time per market; a market whose order ended ``UNKNOWN`` takes no new entries
  until a human has looked (the log and the notifiers say so); its stops are still watched.
  A failed exit is tried again on the next bar, not on every trade.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import anyio
from loguru import logger

from tradekit.engine.core import (
    ENTRY,
    MANUAL,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING_STOP,
    TradeRecord,
)
from tradekit.engine.executor import client_order_id_for
from tradekit.engine.positions import Account, MarketState, OpenPosition
from tradekit.errors import ConfigError
from tradekit.events import (
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    PositionClosed,
    PositionOpened,
    SignalEvent,
)
from tradekit.models import (
    Bar,
    ExitPlan,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    PositionState,
    Rejection,
    Side,
    Trade,
)

if TYPE_CHECKING:
    from tradekit.engine.executor import OrderExecutor
    from tradekit.interfaces import RiskRule, Strategy

__all__ = ["LiveTrader"]

_DUST = 1e-8  # a remainder this small is no position
ORDER_SHUTDOWN_GRACE_S = 45.0  # longest the order that is out may keep a stopping bot waiting


class LiveTrader(Account):
    """One exchange account trading several markets with real orders.

    Args:
        markets: market ids in config order.
        strategy_factory: builds one strategy per market.
        risk_rules: the risk chain, in config order; one must size entries.
        executor: sends and tracks the orders (may be set later, before :meth:`run`).
        min_order_value: the exchange's minimum order value in KRW.
        emit: receives every event.
        run_id: makes client order ids unique per run.
        clock: current time in UTC milliseconds.
    """

    def __init__(
        self,
        markets: Sequence[str],
        strategy_factory: Callable[[str], Strategy],
        risk_rules: Sequence[RiskRule],
        executor: OrderExecutor | None,
        *,
        min_order_value: float,
        emit: Callable[[Event], None],
        run_id: str,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        if not any(getattr(rule, "sizes_entries", False) for rule in risk_rules):
            raise ConfigError(
                "risk: no rule sizes entries; add one such as {use: position_size, fraction: 0.05}"
            )
        self.markets = list(markets)
        self.states = {m: MarketState(m, strategy_factory(m)) for m in self.markets}
        self.risk_rules = list(risk_rules)
        self.executor = executor
        self.min_order_value = min_order_value
        self.fee_rate = 0.0025  # taker fee, to leave room for it in the cash (set from rules)
        self.emit = emit
        self.run_id = run_id
        self._clock = clock
        self.cash = 0.0
        self.equity = 0.0
        self.paused = False
        self.fills: list[Fill] = []
        self.trades: list[TradeRecord] = []
        self.blocked: dict[str, str] = {}  # market -> why it stopped trading (needs a human)
        self.dust: dict[str, float] = {}  # unsellable remainders left in the account
        self._busy: set[str] = set()  # markets with an order in flight
        # Markets whose last exit order failed: tried again on the next bar, not on every trade.
        self._exit_failed: set[str] = set()
        self._actions: deque[tuple[str, Order]] = deque()  # (what, order) waiting to be sent
        self._plans: dict[str, ExitPlan | None] = {}  # an entry's exit plan, by client order id
        self._wake: anyio.Event | None = None
        self._idle: anyio.Event | None = None  # set by run() when the last order is done
        # Quantity step per market (Bithumb: 4 decimals); a smaller remainder cannot be sold.
        self.quantity_decimals: dict[str, int] = {}
        self._stop_at_open: dict[str, float | None] = {}  # each market's stop as its bar opened
        self._tp_trigger: dict[str, float] = {}  # take-profit sale -> the price that fired it
        self._reserved = 0.0  # KRW promised to entries queued or in flight
        self._inflight: anyio.CancelScope | None = None
        self._stopping = False
        #: Awaited after each booked fill (the bot stores the account there, at once).
        self.after_fill: Callable[[], Awaitable[None]] | None = None
        self._sequence = 0  # numbers the exit orders of this run
        self._started = False

    # -- the account ----------------------------------------------------------------------

    def restore_account(self, cash: float, positions: Iterable[PositionState]) -> None:
        """Start from the exchange's cash and the positions carried over from the last run."""
        if self._started:
            raise RuntimeError("restore_account must be called before the first bar")
        self.cash = self.equity = cash
        for p in positions:
            self.states[p.market].position = OpenPosition.from_state(p)

    def _mark_equity(self) -> None:
        equity = self.cash
        for state in self.states.values():
            pos = state.position
            if pos is not None:
                price = state.last_close if state.last_close is not None else pos.entry_price
                equity += pos.quantity * price
        self.equity = equity

    # -- decisions (sync, like the core) --------------------------------------------------

    def step(self, bar: Bar) -> None:
        """A closed bar: exits missed between trades, risk rules, then the strategy."""
        if not self._started:
            self._mark_equity()
            for rule in self.risk_rules:
                rule.reset(self.equity, bar.time_ms)
            self._started = True
        state = self.states[bar.market]
        state.last_close = bar.close
        state.last_time_ms = bar.time_ms
        self._exit_failed.discard(bar.market)
        pos = state.position
        if pos is not None and bar.market not in self._busy:
            # Trades may have been missed (reconnect): the bar's extremes still count, but
            # only against the stop as it stood when the bar opened (a stop raised during the
            # bar is first tested in the next one, as in the spec).
            stop = self._stop_at_open.get(bar.market, pos.stop)
            if stop is not None and bar.low <= stop:
                reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
                self._sell(state, pos.quantity, reason, bar.time_ms)
            else:
                self._check_exits(state, bar.high, bar.time_ms)
        self._stop_at_open[bar.market] = None if state.position is None else state.position.stop
        self._mark_equity()
        for rule in self.risk_rules:
            event = rule.on_bar_close(bar.time_ms, self.equity)
            if event is not None:
                self.emit(event)
        signal = state.strategy.on_bar(bar)
        if signal is None or state.position is not None or bar.market in self._busy:
            return
        self.emit(SignalEvent(bar.time_ms, signal))
        if self.paused:
            self.emit(EntryRejected(bar.time_ms, bar.market, "paused", "trading is paused"))
            return
        if bar.market in self.blocked:
            reason = self.blocked[bar.market]
            self.emit(EntryRejected(bar.time_ms, bar.market, "blocked", reason))
            return
        intent = OrderIntent(bar.market, Side.BUY, bar.close, None, ENTRY, bar.time_ms, signal)
        for rule in self.risk_rules:
            verdict = rule.check(intent, self)
            if isinstance(verdict, Rejection):
                self.emit(EntryRejected(bar.time_ms, bar.market, verdict.rule, verdict.reason))
                return
            intent = verdict
        quantity = intent.quantity or 0.0
        krw = math.floor(quantity * bar.close)  # a market buy is sent as a KRW amount
        free = self.cash - self._reserved  # entries already queued have a claim on it
        if krw < self.min_order_value or krw * (1 + self.fee_rate) > free:
            why = (
                f"order value {krw:,} is below the minimum {self.min_order_value:,.0f}"
                if krw < self.min_order_value
                else f"order value {krw:,} and its fee are more than the free cash {free:,.0f}"
            )
            self.emit(EntryRejected(bar.time_ms, bar.market, "min_order_value", why))
            return
        self._queue(
            ENTRY,
            Order(
                client_order_id=client_order_id_for(self.run_id, bar.market, bar.time_ms, ENTRY),
                market=bar.market,
                side=Side.BUY,
                type=OrderType.MARKET,
                volume=None,
                price=float(krw),
                status=OrderStatus.NEW,
                created_ms=self._clock(),
                updated_ms=self._clock(),
                reason=ENTRY,
            ),
            signal.exit_plan,
        )

    def on_trade(self, trade: Trade) -> None:
        """A trade from the stream: watch the stop, the take-profit and the trailing stop."""
        state = self.states.get(trade.market)
        if state is None or state.position is None:
            return
        self._check_exits(state, trade.price, trade.time_ms)

    def request_close(self, market: str) -> None:
        """Sell the whole position in ``market`` now (reason ``manual``).

        Raises:
            KeyError: ``market`` is not traded here.
        """
        state = self.states[market]
        if state.position is None:
            return
        if market in self._busy:
            logger.warning("{}: close requested while an order is out; ask again after it", market)
            return
        self._sell(state, state.position.quantity, MANUAL, self._clock())

    def _check_exits(self, state: MarketState, price: float, time_ms: int) -> None:
        # A blocked market still has its stops watched: selling spot can never go short, so a
        # second attempt after an unknown sale is at worst refused by the exchange.
        pos = state.position
        if pos is None or state.market in self._busy or state.market in self._exit_failed:
            return
        if pos.stop is not None and price <= pos.stop:
            reason = TRAILING_STOP if pos.take_profit_reached else STOP_LOSS
            self._sell(state, pos.quantity, reason, time_ms)
        elif not pos.take_profit_reached:
            tp = pos.take_profit_price
            if tp is not None and price >= tp:
                # The take-profit counts as reached once its sale is booked (_book_exit): a
                # refused sale leaves the position as it was, to be tried again.
                part = self._tradable(state.market, pos.quantity * pos.take_profit_fraction)
                rest_value = (pos.quantity - part) * price
                self._tp_trigger[state.market] = price
                if rest_value < self.min_order_value or part <= 0:
                    self._sell(state, pos.quantity, TAKE_PROFIT, time_ms)
                else:
                    self._sell(state, part, TAKE_PROFIT, time_ms)
        elif pos.highest is None or price > pos.highest:
            pos.highest = price
            pos.raise_trailing_stop()

    def _tradable(self, market: str, quantity: float) -> float:
        """``quantity`` cut to what the exchange accepts (its quantity step)."""
        scale = 10.0 ** self.quantity_decimals.get(market, 8)
        # round() first: 0.0098 * 1e4 is 97.99999999999999 in floating point, not 98.
        return math.floor(round(quantity * scale, 6)) / scale

    def _sell(self, state: MarketState, quantity: float, reason: str, time_ms: int) -> None:
        quantity = self._tradable(state.market, quantity)
        if quantity <= 0:  # nothing the exchange would take: the rest is dust
            self._drop_as_dust(state)
            return
        # Unique per decision: a retried exit is a new decision with a new id, never a re-send.
        self._sequence += 1
        cid = client_order_id_for(self.run_id, state.market, time_ms, f"{reason}{self._sequence}")
        now = self._clock()
        order = Order(
            client_order_id=cid,
            market=state.market,
            side=Side.SELL,
            type=OrderType.MARKET,
            volume=quantity,
            price=None,
            status=OrderStatus.NEW,
            created_ms=now,
            updated_ms=now,
            reason=reason,
        )
        self._queue(reason, order, None)

    def _drop_as_dust(self, state: MarketState) -> None:
        pos = state.position
        if pos is None:
            return
        self.dust[state.market] = self.dust.get(state.market, 0.0) + pos.quantity
        logger.info(
            "{}: {} is below the exchange's quantity step: left as dust", state.market, pos.quantity
        )
        state.position = None
        self._mark_equity()

    def _queue(self, what: str, order: Order, plan: ExitPlan | None) -> None:
        if what == ENTRY and order.price is not None:
            self._reserved += order.price * (1 + self.fee_rate)
        self._busy.add(order.market)
        self._plans[order.client_order_id] = plan
        self._actions.append((what, order))
        if self._wake is not None:
            self._wake.set()

    @property
    def busy(self) -> bool:
        """True while an order is queued or in flight."""
        return bool(self._busy or self._actions)

    async def wait_idle(self) -> None:
        """Return once no order is queued or in flight (:meth:`run` must be running)."""
        while self.busy:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    # -- execution (async) ----------------------------------------------------------------

    async def run(self) -> None:
        """Send queued orders one by one and book their fills; runs until cancelled."""
        while True:
            while self._actions and not self._stopping:
                what, order = self._actions.popleft()
                await self._execute(what, order)
            if self._idle is not None and not self.busy:
                self._idle.set()
                self._idle = None
            self._wake = anyio.Event()
            if not self._actions or self._stopping:
                await self._wake.wait()

    def begin_shutdown(self, grace_s: float = ORDER_SHUTDOWN_GRACE_S) -> None:
        """Send nothing new; give the order that is out ``grace_s`` to finish and be booked.

        An order cut off by the deadline stays in the store as sent, and the next start
        settles it (looks it up) before trading.
        """
        self._stopping = True
        for what, order in self._actions:
            logger.warning("{}: {} order not sent: shutting down", order.market, what)
            self._busy.discard(order.market)
        self._actions.clear()
        self._reserved = 0.0
        if self._inflight is not None:
            self._inflight.deadline = min(self._inflight.deadline, anyio.current_time() + grace_s)

    async def _execute(self, what: str, order: Order) -> None:
        market = order.market
        assert self.executor is not None, "set the executor before run()"
        executor = self.executor
        done: Order | None = None
        try:
            # Shielded: cancelling the bot does not cut an order in half. The executor's own
            # retries bound the time; begin_shutdown() sets a deadline for a stopping bot.
            with anyio.CancelScope(shield=True) as scope:
                self._inflight = scope
                done = await executor.submit(order)
                if not done.status.is_final and done.status is not OrderStatus.UNKNOWN:
                    done = await executor.confirm(done)
                    if not done.status.is_final:
                        done = await executor.cancel(done)
        except Exception as exc:  # the order is stored; reconcile settles it on restart
            self._block(market, f"{what} order {order.client_order_id} failed: {exc!r}")
            if what != ENTRY:
                self._exit_failed.add(market)
            return
        finally:
            self._inflight = None
            self._busy.discard(market)
            if what == ENTRY and order.price is not None:
                self._reserved = max(0.0, self._reserved - order.price * (1 + self.fee_rate))
        if done is None or scope.cancelled_caught:
            self._block(market, f"{what} order {order.client_order_id} cut off by the shutdown")
            return
        if done.status is OrderStatus.UNKNOWN:
            self._block(market, f"{what} order {order.client_order_id}: fate unknown")
            if what != ENTRY:
                self._exit_failed.add(market)
            return
        if done.executed_volume <= 0 or done.average_price is None:
            reason = done.reason or done.status.value
            if what == ENTRY:
                self.emit(EntryRejected(self._clock(), market, "exchange", reason))
            else:
                self._exit_failed.add(market)
                self.emit(ErrorEvent(self._clock(), "exchange", f"{what} sell: {reason}"))
            return
        plan = self._plans.pop(order.client_order_id, None)
        if what == ENTRY:
            self._book_entry(done, plan or ExitPlan())
        else:
            self._book_exit(done, what)
        if self.after_fill is not None:
            with anyio.CancelScope(shield=True):
                await self.after_fill()

    def _block(self, market: str, why: str) -> None:
        self.blocked[market] = why
        logger.error("{}: trading stopped until checked by hand: {}", market, why)
        self.emit(ErrorEvent(self._clock(), "orders", f"{market}: {why}", fatal=False))

    def _book_entry(self, order: Order, plan: ExitPlan) -> None:
        state = self.states[order.market]
        quantity, price, fee = order.executed_volume, order.average_price or 0.0, order.fee
        cost = quantity * price + fee
        self.cash -= cost
        pos = OpenPosition(quantity, price, order.updated_ms, cost, plan)
        state.position = pos
        fill = Fill(
            order.updated_ms,
            order.market,
            Side.BUY,
            price,
            quantity,
            fee,
            ENTRY,
            order.client_order_id,
        )
        self.fills.append(fill)
        self._mark_equity()
        self.emit(FillEvent(fill.time_ms, fill, self.cash, self.equity))
        self.emit(PositionOpened(fill.time_ms, pos.snapshot(order.market, price)))

    def _book_exit(self, order: Order, reason: str) -> None:
        state = self.states[order.market]
        pos = state.position
        quantity, price, fee = order.executed_volume, order.average_price or 0.0, order.fee
        self.cash += quantity * price - fee
        cid = order.client_order_id
        fill = Fill(order.updated_ms, order.market, Side.SELL, price, quantity, fee, reason, cid)
        self.fills.append(fill)
        trade = None
        if pos is not None:
            pos.proceeds += quantity * price - fee
            pos.quantity = round(pos.quantity - quantity, 8)
            if reason == TAKE_PROFIT and pos.quantity > _DUST:
                # Reached now that the sale is booked: trail from the price that fired it.
                pos.take_profit_reached = True
                pos.highest = max(self._tp_trigger.pop(order.market, price), price)
                pos.raise_trailing_stop()
            unsellable = self._tradable(order.market, pos.quantity) <= 0
            if pos.quantity > 0 and (unsellable or pos.quantity * price < self.min_order_value):
                # The exchange truncates sell sizes (4 decimals on Bithumb): what is left is
                # below its quantity step or worth less than any order, so it stays in the
                # account as dust.
                self.dust[order.market] = self.dust.get(order.market, 0.0) + pos.quantity
                logger.info("{}: {} left as dust after the sale", order.market, pos.quantity)
                pos.quantity = 0.0
            if pos.quantity <= _DUST:
                # Gone from the account before anyone hears of the fill (snapshots, API).
                state.position = None
                trade = TradeRecord(
                    order.market,
                    pos.opened_ms,
                    fill.time_ms,
                    pos.entry_price,
                    quantity,
                    pos.cost,
                    pos.proceeds,
                    reason,
                )
                self.trades.append(trade)
        self._mark_equity()
        self.emit(FillEvent(fill.time_ms, fill, self.cash, self.equity))
        if trade is not None and pos is not None:
            closed = pos.snapshot(order.market, price)
            self.emit(PositionClosed(fill.time_ms, closed, trade.pnl, reason))
