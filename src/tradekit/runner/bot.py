"""The bot: the decision core on live bars, with the store, notifiers, control API and metrics.

The core is the same in every mode; only its execution port differs. On paper, fills come
from the bar fill model (docs/backtests.md#fill-rules) (exactly as in a backtest); live, from
:class:`~tradekit.engine.live_execution.LiveExecution`, which sends real orders through the
order executor while the core watches its exits on every trade.

Everything the core and the executor emit goes to the :class:`~tradekit.runner.pump.EventPump`:
stored first, in order, then handed to the notifiers from a queue of their own, so a slow
database or Slack never delays a bar, and no event is dropped. While the store fails, trading
goes on in memory (exits included) and new entries wait.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from loguru import logger

from tradekit import __version__
from tradekit.builtin.risk import DailyLossLimit
from tradekit.engine.core import TradingCore
from tradekit.engine.live_execution import ORDER_SHUTDOWN_GRACE_S, LiveExecution
from tradekit.errors import ConfigError, StorageError
from tradekit.event_text import describe_error
from tradekit.events import (
    AccountSnapshot,
    EngineStopped,
    ErrorEvent,
    Event,
    LiveAccountSnapshot,
    Paused,
    PositionClosed,
    Resumed,
)
from tradekit.interfaces import ExplainsHalt
from tradekit.runner.control import BotStatus, NoPosition, TodayStatus, UnknownMarket
from tradekit.runner.daily import DailyTracker
from tradekit.runner.pump import EventPump
from tradekit.runner.recent_bars import RecentBars

if TYPE_CHECKING:
    from tradekit.config import Settings
    from tradekit.interfaces import Exchange, Notifier, Strategy
    from tradekit.models import Bar, Position, PositionState
    from tradekit.store import AsyncStore

__all__ = ["Bot"]

AccountKey = tuple[float, tuple["PositionState", ...], tuple[tuple[str, float], ...]]


def now_ms() -> int:
    """The current time in UTC milliseconds."""
    return time.time_ns() // 1_000_000


class Bot:
    """One trading bot built from validated settings (``mode: paper`` or ``live``).

    Args:
        settings: from :func:`tradekit.config.load_settings`.
        exchange: the exchange to use instead of building ``settings.exchange`` (tests).
        clock: the time in UTC milliseconds (tests); default the wall clock, or the
            exchange's own clock when it has one (a replay: :class:`~tradekit.interfaces.OwnClock`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        exchange: Exchange | None = None,
        clock: Callable[[], int] | None = None,
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
        if clock is None:
            from tradekit.interfaces import OwnClock

            clock = now_ms
            if isinstance(exchange, OwnClock):  # a replay: the market's time is the bot's
                clock = exchange.clock_for(settings.markets, settings.timeframe)
        from tradekit.engine.executor import OrderExecutor
        from tradekit.runner.metrics import Metrics

        self.settings = settings
        self.live = settings.mode == "live"
        self.exchange: Exchange = exchange
        self._clock = clock
        self.run_id = uuid.uuid4().hex
        self.notifiers: list[Notifier] = [n.build() for n in settings.notifiers]
        self.metrics = Metrics(mode=settings.mode, strategy=settings.strategy.use)
        self.pump = EventPump(self.notifiers, self.metrics, on_store_state=self._store_state)
        self.store: AsyncStore | None = None
        account = settings.paper

        def strategy(_market: str) -> Strategy:
            built: Strategy = settings.strategy.build()
            return built

        #: Live orders (None on paper, where the core's bar fill model fills them).
        self.execution: LiveExecution | None = None
        if self.live:
            executor = OrderExecutor(exchange, self.pump, clock=clock)
            self.execution = LiveExecution(
                executor, run_id=self.run_id, clock=clock, after_booking=self._after_booking
            )
            from tradekit.interfaces import OwnClock

            if isinstance(exchange, OwnClock):  # a replay waits for orders, however fast
                exchange.wait_for_orders(self.execution.wait_idle)
        self.core = TradingCore(
            settings.markets,
            strategy,
            [rule.build() for rule in settings.risk],
            account.engine_params(check_cash=True),
            emit=self._emit,
            port=self.execution,
        )
        self.daily = DailyTracker()
        self.recent_bars = RecentBars(settings.markets)  # for the dashboard's charts
        self.started_ms = clock()
        self.last_bar_ms: dict[str, int] = {}
        self.bars_processed = 0
        self._snapshot_key = self._account_key()

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
            equity=core.marked_equity(),
            equity_at_close=core.equity,
            cash=core.cash,
            started_ms=self.started_ms,
            last_bar_ms=dict(self.last_bar_ms),
            bars_processed=self.bars_processed,
            fills=len(core.fills),
            open_positions=len(core.positions()),
            remainders=core.remainders(),
            blocked={m: s.blocked for m, s in core.states.items() if s.blocked is not None},
        )

    @property
    def halted(self) -> bool:
        """True while a risk rule (the daily loss limit) halts new entries."""
        return any(rule.halted for rule in self.core.risk_rules)

    def positions(self) -> list[Position]:
        """Open positions, marked at each market's latest known price (last trade, else close)."""
        return self.core.marked_positions()

    def today(self) -> TodayStatus:
        """The trading day so far against the daily loss limit, and what holds entries back."""
        core = self.core
        equity = core.marked_equity()  # shown; the loss limit itself halts on bar closes
        day = self.daily.report(self._clock()) if self.daily.started else None
        limit = next((r for r in core.risk_rules if isinstance(r, DailyLossLimit)), None)
        reference = limit.reference if limit is not None else None
        blocks: list[str] = []
        if core.paused:
            blocks.append("paused by the operator: no new entries until resumed")
        for rule in core.risk_rules:
            if rule.halted:
                # A plugin's rule may not say why.
                explained = rule.halt_reason if isinstance(rule, ExplainsHalt) else None
                why = explained or "new entries halted"
                blocks.append(f"{rule.name}: {why}")
        if core.entries_blocked is not None:
            blocks.append(core.entries_blocked)
        entries_allowed = not blocks
        blocks += [f"{m}: {s.blocked}" for m, s in core.states.items() if s.blocked is not None]
        start = day.start_equity if day is not None else equity
        return TodayStatus(
            trading_day=day.trading_day if day is not None else "",
            start_equity=start,
            equity=equity,
            profit=equity - start,
            max_drawdown=day.max_drawdown if day is not None else 0.0,
            trades=day.trades if day is not None else 0,
            win_rate=day.win_rate if day is not None else None,
            loss_limit=limit.limit if limit is not None else None,
            loss_limit_reference=reference,
            loss_limit_equity=limit.threshold if limit is not None and reference else None,
            halted=self.halted,
            entries_allowed=entries_allowed,
            entry_blocks=blocks,
        )

    def candles(self, market: str, limit: int) -> list[Bar]:
        """The last ``limit`` closed bars of ``market`` (warm-up included), oldest first."""
        if market not in self.core.states:
            raise UnknownMarket(f"{market} is not traded by this bot")
        return self.recent_bars.last(market, limit)

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
        from tradekit.config import config_digest
        from tradekit.store import AsyncStore

        self.store = await AsyncStore.open(self.settings.storage.url)
        self.pump.store = self.store
        reason = "shutdown"
        try:
            await self.store.start_run(
                self.settings.mode,
                config_digest=config_digest(self.settings),
                run_id=self.run_id,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.pump.run_writer)
                tg.start_soon(self.pump.run_notifiers)
                if self.execution is not None:
                    await self._start_live()
                    tg.start_soon(self.execution.run)
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
                if self.settings.api.enabled:
                    tg.start_soon(self._serve_api)
                try:
                    await self._trade()
                    reason = "end of the bar stream"
                except Exception as exc:
                    message = describe_error(exc)
                    reason = f"error: {message}"
                    self._emit(ErrorEvent(self._clock(), "engine", message, fatal=True))
                    raise
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._finish_orders()
                    tg.cancel_scope.cancel()  # stops the API and the pump's tasks
        finally:
            # Runs on Ctrl-C and SIGTERM too: report the day so far, store every event left.
            with anyio.CancelScope(shield=True):
                if self.daily.started:
                    self._emit(self.daily.report(self._clock(), notes="partial day"))
                self._emit(EngineStopped(self._clock(), reason))
                await self.pump.close()
                await self._shutdown()

    async def _finish_orders(self) -> None:
        """Send nothing new; let the order that is out finish and be booked (bounded)."""
        if self.execution is None:
            return
        self.execution.begin_shutdown()
        with anyio.move_on_after(ORDER_SHUTDOWN_GRACE_S + 5):
            await self.execution.wait_idle()
        self._snapshot_if_changed(self._clock())

    async def _start_live(self) -> None:
        """Settle what the last run left, then take over the account as the exchange has it."""
        from tradekit.runner.takeover import start_live

        assert self.store is not None
        assert self.execution is not None
        await start_live(
            self.core,
            self.settings,
            self.exchange,
            self.pump.emit,
            self.store,
            self.execution.executor,
        )
        self._snapshot_key = self._account_key()

    async def _after_booking(self) -> None:
        """After each live order: store the account and everything emitted, before going on."""
        self._snapshot_if_changed(self._clock())
        try:
            with anyio.move_on_after(5):
                await self.pump.flush()
        except StorageError:
            pass  # said loudly by the pump; the events stay queued and the core goes on

    def _store_state(self, failing: str | None) -> None:
        """The pump's word on the store: new entries wait while it fails."""
        self.core.entries_blocked = (
            None
            if failing is None
            else f"the store is failing ({failing}); new entries wait until it is back"
        )

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
        self.core.restore_account(snapshot.cash, snapshot.positions, dict(snapshot.remainders))
        self._snapshot_key = self._account_key()
        logger.info(
            "resumed the paper account: {:,.0f} KRW cash, {} open position(s)",
            snapshot.cash,
            len(snapshot.positions),
        )

    def _account_key(self) -> AccountKey:
        cash, positions, remainders = self.core.account_state()
        return cash, tuple(positions), tuple(sorted(remainders.items()))

    def _snapshot_if_changed(self, time_ms: int) -> None:
        # Cash moves on fills; stops trail bar by bar: store whatever changed.
        key = self._account_key()
        if key != self._snapshot_key:
            self._snapshot_key = key
            cash, positions, remainders = key
            markets = tuple(self.settings.markets)
            if self.live:  # wall-clock time: compared with fill times on the next start
                self._emit(LiveAccountSnapshot(self._clock(), markets, cash, positions, remainders))
            else:
                self._emit(AccountSnapshot(time_ms, markets, cash, positions, remainders))

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
            self.recent_bars.extend(bars)
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
        # Live, exits are watched on every trade; on paper the bar fill model decides them and
        # trades only mark what is shown (/status equity, positions' last price).
        on_trade = self.core.on_trade if self.execution is not None else self.core.note_trade
        feed = self.exchange.live_bars(
            settings.markets, timeframe, start_ms=start_ms, on_trade=on_trade
        )
        try:
            from tradekit.engine.loop import run_loop

            await run_loop(self.core, feed, after_bar=self._after_bar)
        finally:
            with anyio.CancelScope(shield=True):
                await feed.aclose()

    def _step(self, bar: Bar) -> None:
        """One bar through the core and the bookkeeping after it (what the loop does)."""
        started = time.perf_counter()
        self.core.step(bar)
        self._after_bar(bar, time.perf_counter() - started)

    def _after_bar(self, bar: Bar, seconds: float) -> None:
        self._snapshot_if_changed(bar.time_ms)
        self.bars_processed += 1
        self.last_bar_ms[bar.market] = bar.time_ms
        self.recent_bars.add(bar)
        report = self.daily.on_bar(bar.time_ms, self.core.equity)
        if report is not None:
            self._emit(report)
        # Status gauges are refreshed when /metrics is scraped, not on every bar.
        self.metrics.observe_bar(bar, seconds)

    def _emit(self, event: Event) -> None:
        if isinstance(event, PositionClosed):
            self.daily.on_trade_closed(event.pnl)
        self.pump.emit(event)

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
