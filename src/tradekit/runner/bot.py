"""The bot: the engine on live bars, with the store, notifiers, control API and metrics around it.

The trading core stays synchronous and does no I/O. Everything it emits goes through an
unbounded in-memory queue to one consumer task that updates the metrics, writes the store and
fans out to notifiers, so a slow database or Slack never delays a bar, and no event is dropped
(a store failure is logged with the event and reported to the notifiers).

On paper, bars come live from the exchange plugin and fills are simulated by the spec's bar
fill model (the same as a backtest). Live, a :class:`~tradekit.runner.live.LiveTrader` takes the
core's place: the same decisions, real orders through the order executor, exits watched on
every trade.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import attrs
from loguru import logger

from tradekit import __version__
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.errors import ConfigError, StorageError
from tradekit.events import (
    AccountSnapshot,
    DailyReport,
    EngineStopped,
    ErrorEvent,
    Event,
    FillEvent,
    LiveAccountSnapshot,
    Paused,
    PositionClosed,
    PositionOpened,
    Resumed,
    SignalEvent,
)
from tradekit.models import Side, floor8
from tradekit.runner.control import BotStatus, NoPosition, UnknownMarket
from tradekit.runner.daily import DailyTracker
from tradekit.runner.live import LiveTrader

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tradekit.config import Settings
    from tradekit.interfaces import Exchange, Notifier, Strategy
    from tradekit.models import Balance, Bar, Position, PositionState
    from tradekit.store import AsyncStore

__all__ = ["Bot"]

NOTIFY_TIMEOUT_S = 30.0  # a notifier that hangs longer is abandoned for that event


def now_ms() -> int:
    """The current time in UTC milliseconds."""
    return time.time_ns() // 1_000_000


class Bot:
    """One trading bot built from validated settings (``mode: paper`` or ``live``).

    Args:
        settings: from :func:`tradekit.config.load_settings`.
        exchange: the exchange to use instead of building ``settings.exchange`` (tests).
        clock: wall clock in UTC milliseconds (tests).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        exchange: Exchange | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if settings.mode not in ("paper", "live"):
            raise ConfigError(
                [
                    f"mode: {settings.mode!r} cannot be run by `tradekit run`; use mode: paper "
                    "or live (backtests run with `tradekit backtest`)"
                ]
            )
        if exchange is None:
            if settings.exchange is None:
                raise ConfigError(
                    [f"exchange: required in {settings.mode} mode (e.g. {{use: bithumb}})"]
                )
            exchange = settings.exchange.build()
        from tradekit.runner.metrics import Metrics

        self.settings = settings
        self.live = settings.mode == "live"
        self.exchange: Exchange = exchange
        self._clock = clock
        account = settings.paper
        rules = [rule.build() for rule in settings.risk]

        def strategy(_market: str) -> Strategy:
            built: Strategy = settings.strategy.build()
            return built

        self.core: TradingCore | LiveTrader
        if self.live:
            # The executor needs the store and the run id: both are set in run().
            self.core = LiveTrader(
                settings.markets,
                strategy,
                rules,
                None,
                min_order_value=account.min_order_krw,
                emit=self._emit,
                run_id="",
                clock=clock,
            )
        else:
            self.core = TradingCore(
                settings.markets,
                strategy,
                rules,
                EngineParams(
                    account.initial_cash, account.fee_rate, account.min_order_krw, account.slippage
                ),
                emit=self._emit,
            )
        self.notifiers: list[Notifier] = [n.build() for n in settings.notifiers]
        self.metrics = Metrics(mode=settings.mode, strategy=settings.strategy.use)
        self.store: AsyncStore | None = None
        self.daily = DailyTracker()
        self.started_ms = clock()
        self.last_bar_ms: dict[str, int] = {}
        self.bars_processed = 0
        self.run_id: str | None = None
        self._snapshot_key = self._account_key()
        # Events wait here for the consumer task; unbounded, so none is ever dropped.
        self._events: deque[Event] = deque()
        self._wake: anyio.Event | None = None  # set when an event arrives (made in run())

    # -- BotControl: what the control API sees -------------------------------------------

    def status(self) -> BotStatus:
        """A snapshot of the bot (no secrets)."""
        core = self.core
        return BotStatus(
            mode=self.settings.mode,
            version=__version__,
            markets=list(self.settings.markets),
            timeframe=str(self.settings.timeframe),
            strategy=self.settings.strategy.use,
            paused=core.paused,
            halted=self.halted,
            equity=core.equity,
            cash=core.cash,
            started_ms=self.started_ms,
            last_bar_ms=dict(self.last_bar_ms),
            bars_processed=self.bars_processed,
            fills=len(core.fills),
            open_positions=len(core.positions()),
        )

    @property
    def halted(self) -> bool:
        """True while a risk rule (the daily loss limit) halts new entries."""
        return any(getattr(rule, "halted", False) for rule in self.core.risk_rules)

    def positions(self) -> list[Position]:
        """Open positions, marked at each market's last close."""
        return self.core.positions()

    def pause(self) -> None:
        """Stop new entries; exits keep working."""
        if not self.core.paused:
            self.core.paused = True
            self._emit(Paused(self._clock()))

    def resume(self) -> None:
        """Allow new entries again (a daily-loss halt still applies until the next day)."""
        if self.core.paused:
            self.core.paused = False
            self._emit(Resumed(self._clock()))

    def request_close(self, market: str) -> None:
        """Close the position in ``market`` at the next bar's open (reason ``manual``)."""
        if market not in self.core.states:
            raise UnknownMarket(f"{market} is not traded by this bot")
        if self.core.position(market) is None:
            raise NoPosition(f"no open position in {market}")
        self.core.request_close(market)

    # -- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Trade until cancelled (Ctrl-C, SIGTERM) or the bar stream ends.

        Raises:
            StorageError: the database is unreachable or at another schema revision.
        """
        from tradekit.config import masked
        from tradekit.store import AsyncStore, config_digest

        self._wake = anyio.Event()
        self.store = await AsyncStore.open(self.settings.storage.url)
        reason = "shutdown"
        try:
            self.run_id = await self.store.start_run(
                self.settings.mode, config_digest=config_digest(masked(self.settings))
            )
            if self.live:
                await self._start_live()
            elif self.settings.paper.resume:
                await self._resume_account()
            logger.info(
                "{} bot started: {} on {} {} (run {})",
                self.settings.mode,
                self.settings.strategy.use,
                ", ".join(self.settings.markets),
                self.settings.timeframe,
                self.run_id,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._consume_events)
                if isinstance(self.core, LiveTrader):
                    tg.start_soon(self.core.run)
                if self.settings.api.enabled:
                    tg.start_soon(self._serve_api)
                try:
                    await self._trade()
                    reason = "end of the bar stream"
                except Exception as exc:
                    reason = f"error: {type(exc).__name__}: {exc}"
                    self._emit(ErrorEvent(self._clock(), "engine", reason, fatal=True))
                    raise
                finally:
                    if isinstance(self.core, LiveTrader):
                        self.core.begin_shutdown()  # nothing new goes out from here on
                    tg.cancel_scope.cancel()  # stops the API and the event consumer
        finally:
            # Runs on Ctrl-C and SIGTERM too: report the day so far, store every event left.
            with anyio.CancelScope(shield=True):
                if self.daily.started:
                    self._emit(self.daily.report(self._clock(), notes="partial day"))
                self._emit(EngineStopped(self._clock(), reason))
                await self._drain()
                await self._shutdown()

    async def _start_live(self) -> None:
        """Settle what the last run left, then take over the account as the exchange has it."""
        from tradekit.engine.executor import OrderExecutor

        assert self.store is not None
        assert self.run_id is not None
        core = self.core
        assert isinstance(core, LiveTrader)
        core.run_id = self.run_id
        core.executor = OrderExecutor(self.exchange, self.store, clock=self._clock)
        changed = await core.executor.reconcile()
        if changed:
            logger.warning("settled {} order(s) left open by the previous run", len(changed))
        for order in changed:
            if order.side is Side.BUY and order.executed_volume > 0:
                # Bought while nobody was watching: no stop is known for it. Say so loudly
                # rather than guess one.
                self._emit(
                    ErrorEvent(
                        self._clock(),
                        "orders",
                        f"{order.market}: entry {order.client_order_id} filled "
                        f"{order.executed_volume} after the previous run stopped; that position "
                        "is not managed by the bot: check the account and close it by hand",
                    )
                )
        rules = [await self.exchange.market_rules(m) for m in self.settings.markets]
        core.quantity_decimals = {r.market: r.quantity_decimals for r in rules}
        minimums = [float(r.min_order_value) for r in rules]
        core.min_order_value = max([self.settings.paper.min_order_krw, *minimums])
        core.fee_rate = max([float(r.taker_fee) for r in rules], default=core.fee_rate)
        balances = await self.exchange.balances()
        cash = float(balances["KRW"].free) if "KRW" in balances else 0.0
        positions: list[PositionState] = []
        found = await self.store.events(kind=LiveAccountSnapshot.kind, latest=1)
        stored = found[-1] if found and isinstance(found[-1], LiveAccountSnapshot) else None
        for held in stored.positions if stored is not None else ():
            checked = self._check_against_balance(held, balances)
            if checked is not None:
                positions.append(checked)
        core.restore_account(cash, positions)
        self._snapshot_key = self._account_key()
        await self._check_unbooked_orders(core, stored)
        core.after_fill = self._store_account_now
        logger.info(
            "live account: {:,.0f} KRW available, {} position(s) taken over",
            cash,
            len(positions),
        )

    async def _check_unbooked_orders(
        self, core: LiveTrader, stored: LiveAccountSnapshot | None
    ) -> None:
        """Say what the stored account cannot know; keep markets with open questions closed."""
        assert self.store is not None
        for order in await self.store.reconcile_candidates():
            # Still unresolved after the look-ups: a buy may have filled unseen.
            core.blocked[order.market] = (
                f"order {order.client_order_id} is still {order.status} after the start-up "
                "check; look at the account, then restart"
            )
            self._emit(
                ErrorEvent(
                    self._clock(), "orders", f"{order.market}: " + core.blocked[order.market]
                )
            )
        since = stored.time_ms if stored is not None else None
        for fill in await self.store.fills(since_ms=since):
            live_fill = bool(fill.client_order_id)  # paper fills of the same database have none
            if live_fill and fill.side is Side.BUY and (since is None or fill.time_ms > since):
                # Filled after the last stored account (a crash in between): its stop is
                # unknown, so say so rather than guess one.
                self._emit(
                    ErrorEvent(
                        self._clock(),
                        "orders",
                        f"{fill.market}: a buy of {fill.quantity} ({fill.client_order_id}) filled "
                        "after the last stored account; that position is not managed by the "
                        "bot: check the account and close it by hand",
                    )
                )

    async def _store_account_now(self) -> None:
        """Write the live account at once after a fill (a crash must not forget a position)."""
        key = self._account_key()
        if key == self._snapshot_key or self.store is None:
            return
        self._snapshot_key = key
        cash, positions = key
        snapshot = LiveAccountSnapshot(self._clock(), tuple(self.settings.markets), cash, positions)
        try:
            await self.store.record_event(snapshot)
        except StorageError as exc:
            logger.error("could not store the live account after a fill: {}", exc)
            self._emit(ErrorEvent(self._clock(), "storage", str(exc)))

    def _check_against_balance(
        self, held: PositionState, balances: Mapping[str, Balance]
    ) -> PositionState | None:
        """A stored position, cut down to what the exchange really holds (never more)."""
        if held.market not in self.settings.markets:
            logger.warning("{}: stored position not taken over: market not traded", held.market)
            return None
        currency = held.market.split("-", 1)[-1]
        balance = balances.get(currency)
        on_exchange = float(balance.free + balance.locked) if balance is not None else 0.0
        if on_exchange + 1e-8 >= held.quantity:
            return held
        quantity = floor8(on_exchange)
        logger.warning(
            "{}: the account holds {} {}, less than the stored position {}; tracking {}",
            held.market,
            on_exchange,
            currency,
            held.quantity,
            quantity,
        )
        # Sold in part while the bot was down: most likely the take-profit, so do not sell
        # half of it again; the stop keeps protecting the rest.
        trimmed = attrs.evolve(held, quantity=quantity, take_profit_reached=True)
        return trimmed if quantity > 0 else None

    async def _resume_account(self) -> None:
        """Continue from the account the last paper run stored, if there is one."""
        assert self.store is not None
        found = await self.store.events(kind=AccountSnapshot.kind, latest=1)
        if not found or not isinstance(found[-1], AccountSnapshot):
            return
        snapshot = found[-1]
        strangers = {p.market for p in snapshot.positions} - set(self.settings.markets)
        if strangers:
            logger.warning(
                "not resuming the stored paper account: it holds {}, which this config does not "
                "trade; starting from paper.initial_cash",
                ", ".join(sorted(strangers)),
            )
            return
        self.core.restore_account(snapshot.cash, snapshot.positions)
        self._snapshot_key = self._account_key()
        logger.info(
            "resumed the paper account: {:,.0f} KRW cash, {} open position(s)",
            snapshot.cash,
            len(snapshot.positions),
        )

    def _account_key(self) -> tuple[float, tuple[PositionState, ...]]:
        cash, positions = self.core.account_state()
        return cash, tuple(positions)

    def _snapshot_if_changed(self, time_ms: int) -> None:
        # Cash moves on fills; stops trail bar by bar: store whatever changed.
        key = self._account_key()
        if key != self._snapshot_key:
            self._snapshot_key = key
            cash, positions = key
            markets = tuple(self.settings.markets)
            if self.live:  # wall-clock time: compared with fill times on the next start
                self._emit(LiveAccountSnapshot(self._clock(), markets, cash, positions))
            else:
                self._emit(AccountSnapshot(time_ms, markets, cash, positions))

    async def _trade(self) -> None:
        settings = self.settings
        timeframe = settings.timeframe
        period = timeframe.milliseconds
        now = self._clock()
        current = now - now % period
        warmup = max(state.strategy.warmup_bars for state in self.core.states.values())
        start_ms = current
        for market, state in self.core.states.items():
            # History feeds the indicators only: no trading on bars that closed before start.
            bars = await self.exchange.fetch_candles(
                market, timeframe, current - warmup * period, current
            )
            for bar in bars:
                state.strategy.on_bar(bar)
                state.last_close = bar.close
            if bars:
                start_ms = min(start_ms, bars[-1].time_ms + period)
            if len(bars) < warmup:
                logger.warning(
                    "{}: only {} of the {} closed {} bars the strategy needs; it will wait for "
                    "more before its first signal",
                    market,
                    len(bars),
                    warmup,
                    timeframe,
                )
            else:
                logger.info("{}: warmed up on {} closed {} bars", market, len(bars), timeframe)
        on_trade = self.core.on_trade if isinstance(self.core, LiveTrader) else None
        feed = self.exchange.live_bars(
            settings.markets, timeframe, start_ms=start_ms, on_trade=on_trade
        )
        try:
            async for bar in feed:
                self._step(bar)
        finally:
            with anyio.CancelScope(shield=True):
                await feed.aclose()

    def _step(self, bar: Bar) -> None:
        started = time.perf_counter()
        self.core.step(bar)
        self._snapshot_if_changed(bar.time_ms)
        self.bars_processed += 1
        self.last_bar_ms[bar.market] = bar.time_ms
        report = self.daily.on_bar(bar.time_ms, self.core.equity)
        if report is not None:
            self._emit(report)
        # Status gauges are refreshed when /metrics is scraped, not on every bar.
        self.metrics.observe_bar(bar, time.perf_counter() - started)

    def _emit(self, event: Event) -> None:
        if isinstance(event, PositionClosed):
            self.daily.on_trade_closed(event.pnl)
        self._events.append(event)
        if self._wake is not None:
            self._wake.set()

    async def _consume_events(self) -> None:
        """Store and notify events in order as they come; runs until cancelled."""
        while True:
            await self._drain()
            assert self._wake is not None
            await self._wake.wait()
            self._wake = anyio.Event()

    async def _drain(self) -> None:
        events = self._events
        while events:
            event = events.popleft()
            self.metrics.observe_event(event)
            with anyio.CancelScope(shield=True):  # a write is never cut in half
                await self._persist(event)
            await self._notify(event)

    async def _persist(self, event: Event) -> None:
        store = self.store
        if store is None:
            return
        try:
            if isinstance(event, FillEvent):
                if not self.live:  # live fills are recorded by the order executor
                    await store.record_fill(event.fill)
            elif isinstance(event, SignalEvent):
                await store.record_signal(event.signal)
            elif isinstance(event, PositionOpened):
                await store.upsert_position(event.position, event.time_ms)
            elif isinstance(event, PositionClosed):
                closed = attrs.evolve(event.position, quantity=0.0, status="closed")
                await store.upsert_position(closed, event.time_ms)
            elif isinstance(event, DailyReport):
                await store.record_daily_performance(event)
            if not isinstance(event, SignalEvent | FillEvent):
                await store.record_event(event)
        except StorageError as exc:
            # Retried by the store already; say so loudly rather than lose it silently.
            logger.error("could not store {} event {!r}: {}", event.kind, event, exc)
            self.metrics.exchange_error("storage")
            await self._notify(ErrorEvent(self._clock(), "storage", str(exc)))

    async def _notify(self, event: Event) -> None:
        for notifier in self.notifiers:
            try:
                with anyio.fail_after(NOTIFY_TIMEOUT_S):
                    await notifier.notify(event)
            except Exception as exc:  # a notifier must never stop trading
                logger.warning(
                    "notifier {} failed on a {} event: {}: {}",
                    type(notifier).__name__,
                    event.kind,
                    type(exc).__name__,
                    exc,
                )

    async def _serve_api(self) -> None:
        from tradekit.runner.api import create_app, serve

        api = self.settings.api
        app = create_app(self, token=api.token, metrics=self.metrics)
        try:
            await serve(app, api.host, api.port)
        except OSError as exc:  # e.g. the port is taken: a config problem, said as one
            raise ConfigError([f"api.port: {exc.strerror or exc}"]) from None

    async def _shutdown(self) -> None:
        closeables: list[Notifier | Exchange] = [*self.notifiers, self.exchange]
        for closeable in closeables:
            try:
                await closeable.aclose()
            except Exception as exc:
                logger.warning(
                    "closing {}: {}: {}", type(closeable).__name__, type(exc).__name__, exc
                )
        if self.store is not None:
            try:
                await self.store.end_run()
            finally:
                await self.store.aclose()
        logger.info("bot stopped after {} bars", self.bars_processed)

    def __repr__(self) -> str:
        return f"Bot({self.settings.mode}, {self.settings.markets!r})"


async def run_until_stopped(bot: Bot) -> None:
    """Run ``bot`` until it ends or the process gets SIGINT (Ctrl-C) or SIGTERM (docker stop)."""
    from tradekit.runner import shutdown

    await shutdown.run_until_stopped(bot.run)
