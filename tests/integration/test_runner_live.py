"""Live trading on the fake Bithumb: the backtest's decisions, real orders, nothing left behind."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from live_replay import ReplayExchange, make_exchange, no_sleep
from tradekit_bithumb.testing import BarReplay, FakeBithumb
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import run_backtest
from tradekit.builtin.risk import PositionSize
from tradekit.config import parse_settings
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.executor import OrderExecutor, StoreJournal
from tradekit.engine.live_execution import LiveExecution
from tradekit.engine.rules import KRW_TICKS, VenueRules
from tradekit.events import Event, FillEvent
from tradekit.models import Bar, ExitPlan, Order, OrderStatus, OrderType, Side, Trade
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot
from tradekit.store import AsyncStore, Store

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
MARKET = "KRW-BTC"
STEP = 1e-4  # Bithumb sells in 4 decimals


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 1.0) -> Bar:
    return Bar(MARKET, T0 + i * HOUR, o, h, lo, c, v)


def fake_cash(server: FakeBithumb) -> float:
    krw = server.balance("KRW")
    return float(krw.balance + krw.locked)


def fake_btc(server: FakeBithumb) -> float:
    btc = server.balance("BTC")
    return float(btc.balance + btc.locked)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AsyncStore]:
    sync = Store.open(f"sqlite:///{tmp_path / 'live.db'}")
    yield AsyncStore(sync)
    sync.close()


def live_core(
    exchange: Any, store: AsyncStore, run_id: str, fraction: float, events: list[Event]
) -> tuple[TradingCore, LiveExecution]:
    executor = OrderExecutor(exchange, StoreJournal(store), sleep=no_sleep, poll_interval_s=0.01)
    execution = LiveExecution(executor, run_id=run_id)
    core = TradingCore(
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [PositionSize(PositionSize.Config(fraction=fraction))],
        EngineParams(check_cash=True),
        emit=events.append,
        port=execution,
        rules={MARKET: VenueRules(quantity_decimals=4)},
    )
    core.restore_account(10_000_000.0, [])
    return core, execution


async def settle(execution: LiveExecution) -> None:
    with anyio.fail_after(20):
        await execution.wait_idle()


async def enter(core: TradingCore, execution: LiveExecution, server: FakeBithumb) -> None:
    """Five quiet bars at 50,000,000, then a breakout bought at 51,000,000."""
    for i in range(5):
        core.step(bar(i, 50e6, 50.1e6, 49.9e6, 50e6))
    server.set_price(MARKET, 51_000_000)
    core.step(bar(5, 50e6, 51e6, 49.95e6, 51e6, 3.0))
    await settle(execution)


@pytest.mark.anyio
async def test_two_round_trips_leave_less_than_one_step_unsold(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    """Market buys fill in 8 decimals, sales in 4: the remainder rides along, never grows."""
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    core, execution = live_core(exchange, store, "run-rt", 0.05, events)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            i = 0
            for trip in range(2):
                for _ in range(5):
                    core.step(bar(i, 50e6, 50.1e6, 49.9e6, 50e6))
                    i += 1
                fake_bithumb.set_price(MARKET, 51_000_000 + trip * 7_777)
                core.step(bar(i, 50e6, 51e6, 49.95e6, 51e6, 3.0))  # breakout: buy
                i += 1
                await settle(execution)
                fake_bithumb.set_price(MARKET, 50_000_000)
                core.on_trade(Trade(MARKET, T0 + i * HOUR + 5, 50_000_000, 0.1))  # stop
                await settle(execution)
                assert core.position(MARKET) is None
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert [f.reason for f in core.fills] == ["entry", "stop_loss"] * 2
    buys = [f.quantity for f in core.fills if f.side is Side.BUY]
    assert any(round(q, 4) != q for q in buys), "the buys should leave sub-step quantities"
    unsold = fake_btc(fake_bithumb)
    assert unsold < STEP
    assert core.states[MARKET].remainder == pytest.approx(unsold, abs=1e-12)
    assert core.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    assert len(fake_bithumb.orders) == 4  # one exchange order per fill


@pytest.mark.anyio
async def test_a_refused_exit_is_tried_again_on_the_next_bar_not_on_every_trade(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    core, execution = live_core(exchange, store, "run-3", 0.05, events)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            await enter(core, execution, fake_bithumb)
            fake_bithumb.set_price(MARKET, 50_000_000)
            fake_bithumb.faults.fail_next("POST /v2/orders", 400, name="insufficient_funds_ask")
            for k in range(20):  # a burst of trades under the stop
                core.on_trade(Trade(MARKET, T0 + 6 * HOUR + k, 50_000_000, 0.1))
                await settle(execution)
            assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 2  # entry + 1 sell
            assert core.position(MARKET) is not None
            core.step(bar(6, 50e6, 50.1e6, 49.9e6, 50e6))  # the next bar: tried again
            await settle(execution)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 3
    assert core.position(MARKET) is None
    assert [f.reason for f in core.fills] == ["entry", "stop_loss"]
    assert any("insufficient_funds_ask" in getattr(e, "message", "") for e in events)


@pytest.mark.anyio
async def test_shutdown_lets_the_order_out_finish_and_sends_no_new_one(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    markets = ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    for market in markets:
        fake_bithumb.set_price(market, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    executor = OrderExecutor(exchange, StoreJournal(store), sleep=no_sleep, poll_interval_s=0.01)
    execution = LiveExecution(executor, run_id="run-6")
    core = TradingCore(
        markets,
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        port=execution,
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            for market in markets:
                for i in range(5):
                    core.step(Bar(market, T0 + i * HOUR, 50e6, 50.1e6, 49.9e6, 50e6, 1.0))
            for market in markets:
                fake_bithumb.set_price(market, 51_000_000)
            core.step(Bar("KRW-BTC", T0 + 5 * HOUR, 50e6, 51e6, 49.95e6, 51e6, 3.0))
            await anyio.lowlevel.checkpoint()  # the first order goes out...
            execution.begin_shutdown()  # ...and the bot is told to stop
            for market in markets[1:]:  # decided while stopping: never sent
                core.step(Bar(market, T0 + 5 * HOUR, 50e6, 51e6, 49.95e6, 51e6, 3.0))
            await settle(execution)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 1
    assert len(core.fills) == 1  # the order that was out is booked
    assert [p.market for p in core.positions()] == ["KRW-BTC"]
    assert all(core.states[m].pending is None for m in markets)  # dropped ones forgotten


def live_settings(tmp_path: Path, **extra: Any) -> Any:
    return parse_settings(
        {
            "mode": "live",
            "markets": [MARKET],
            "exchange": {"use": "bithumb"},
            "strategy": {"use": "breakout", "lookback": 5},
            "risk": [{"use": "position_size", "fraction": 0.2}],
            "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "api": {"enabled": False},
            **extra,
        },
        load_plugins(),
        {},
    )


def replay_bars(n: int, seed: int) -> list[Bar]:
    """A continuous random walk on the 100-won grid (each open is the previous close)."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    close = 300_000.0
    for i in range(n):
        o = close
        c = max(1000.0, round(o * (1 + rng.gauss(0.0005, 0.012)) / 100) * 100)
        h = max(o, c) + 100 * rng.randint(0, 25)
        lo = min(o, c) - 100 * rng.randint(0, 25)
        volume = rng.uniform(1, 2) * (4 if rng.random() < 0.15 else 1)
        bars.append(Bar(MARKET, T0 + i * HOUR, o, h, lo, c, round(volume, 4)))
        close = c
    return bars


@pytest.mark.anyio
async def test_live_makes_the_backtests_decisions_on_the_same_bars(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    bars = replay_bars(400, seed=5)
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "time_ms,open,high,low,close,volume\n"
        + "".join(f"{b.time_ms},{b.open},{b.high},{b.low},{b.close},{b.volume}\n" for b in bars)
    )
    strategy = {"use": "breakout", "lookback": 5, "volume_factor": 1.5}
    backtest = run_backtest(
        parse_settings(
            {
                "markets": [MARKET],
                "strategy": strategy,
                "risk": [{"use": "position_size", "fraction": 0.2}],
                "backtest": {"data": {MARKET: str(csv)}},
            },
            load_plugins(),
            {},
        )
    )
    expected = [f for f in backtest.fills if f.reason != "end_of_data"]
    assert len(expected) >= 10, "the bars should trade"

    fake_bithumb.set_price(MARKET, bars[0].open)
    exchange = make_exchange(fake_bithumb, ReplayExchange)
    exchange.replay = BarReplay(fake_bithumb, MARKET, bars, interval_ms=HOUR, candles="none")
    clock = lambda: exchange.replay.now_ms or bars[0].time_ms  # noqa: E731
    bot = Bot(live_settings(tmp_path, strategy=strategy), exchange=exchange, clock=clock)
    exchange.bot = bot
    with anyio.fail_after(240):
        await bot.run()
    live = bot.core.fills
    # Stops and take-profits on the exchange's own price grid, as the backtest puts them.
    grid, krw = bot.core.rules[MARKET], VenueRules(4, KRW_TICKS)
    prices = [0.5, 5.5, 55.5, 555.5, 5_555.5, 55_555.5, 555_555.5, 55_555_555.5]
    assert [grid.price_down(p) for p in prices] == [krw.price_down(p) for p in prices]
    assert grid.price_down(51_000_000 * (1 - 0.015)) == 50_235_000
    assert len(live) >= len(expected) - 1  # a sale may still be open at the end
    for sim, real in zip(expected, live, strict=False):
        assert (real.side, real.reason) == (sim.side, sim.reason), (sim, real)
        assert real.time_ms - real.time_ms % HOUR == sim.time_ms, (sim, real)
        assert real.price == pytest.approx(sim.price, abs=100), (sim, real)  # one tick
        assert real.quantity == pytest.approx(sim.quantity, abs=STEP + 1e-9), (sim, real)
    # The ledger is the exchange's, to the won; what stays unsold is below one step.
    assert bot.core.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    held = sum(p.quantity for p in bot.core.positions())
    assert fake_btc(fake_bithumb) - held < STEP
    assert len(fake_bithumb.orders) == len(live)
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as stored:
        assert len(stored.fills()) == len(live)  # every fill stored, once
        assert all(o.status.is_final for o in stored.orders())


@pytest.mark.anyio
@pytest.mark.parametrize("stored_as", ["submitted", "filled_without_its_fill"])
async def test_an_entry_filled_while_the_bot_was_down_is_taken_over_and_its_stop_sells(
    tmp_path: Path, fake_bithumb: FakeBithumb, stored_as: str
) -> None:
    """A crash while the entry was out, or between storing the order and its fill: on
    restart the buy becomes a watched position with the exit plan stored with its order."""
    fake_bithumb.set_price(MARKET, 50_000_000)
    plan = ExitPlan(stop_loss=0.015, take_profit=0.03, trailing_stop=0.01)
    order = Order(
        "entry-lost-1",
        MARKET,
        Side.BUY,
        OrderType.MARKET,
        None,
        500_000.0,
        OrderStatus.NEW,
        T0,
        T0,
        reason="entry",
        exit_plan=plan,
    )
    placer = make_exchange(fake_bithumb)
    try:
        await placer.place_order(order)  # reached the exchange...
        on_exchange = await placer.get_order(order.client_order_id)
    finally:
        await placer.aclose()
    assert on_exchange is not None
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as crashed:  # ...then the bot died
        if stored_as == "submitted":
            crashed.record_order(attrs.evolve(order, status=OrderStatus.SUBMITTED))
        else:  # the order's final row was written, its fill row never was
            crashed.record_order(order)
            crashed.update_order(
                attrs.evolve(
                    order,
                    status=OrderStatus.FILLED,
                    updated_ms=T0 + 1,
                    executed_volume=on_exchange.executed_volume,
                    average_price=on_exchange.average_price,
                    fee=on_exchange.fee,
                )
            )
    bought = fake_btc(fake_bithumb)
    assert bought > 0

    class Falling(ReplayExchange):
        pass

    exchange = make_exchange(fake_bithumb, Falling)
    bars = [Bar(MARKET, T0 + HOUR * (i + 1), 50e6, 50.1e6, 49e6, 49.2e6, 1.0) for i in range(2)]
    exchange.replay = BarReplay(
        fake_bithumb, MARKET, bars, interval_ms=HOUR, candles="none", max_steps_per_leg=20
    )
    bot = Bot(
        live_settings(tmp_path), exchange=exchange, clock=lambda: exchange.replay.now_ms or T0
    )
    exchange.bot = bot
    events: list[Event] = []
    bot.pump.notifiers.append(_Collect(events))
    with anyio.fail_after(60):
        await bot.run()
    assert len([o for o in fake_bithumb.orders if o.side == "bid"]) == 1  # never bought twice
    sells = [f for f in bot.core.fills if f.side is Side.SELL]
    assert [f.reason for f in sells] == ["stop_loss"]
    assert sells[0].quantity == pytest.approx(int(bought * 1e4) / 1e4)
    assert fake_btc(fake_bithumb) < STEP
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as stored:
        assert stored.order("entry-lost-1").status is OrderStatus.FILLED  # type: ignore[union-attr]
        assert len(stored.fills(client_order_id="entry-lost-1")) == 1  # booked once
    assert any(isinstance(e, FillEvent) and e.fill.side is Side.SELL for e in events)


class _Collect:
    name = "collect"

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def notify(self, event: Event) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
async def test_an_entry_of_unknown_fate_is_looked_up_again_and_its_stop_watched(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    """The answer is lost and every look-up fails: the bot keeps asking, then books it."""
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    core, execution = live_core(exchange, store, "run-unknown", 0.05, events)
    execution.resolve_interval_s = 0.05
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            for i in range(5):
                core.step(bar(i, 50e6, 50.1e6, 49.9e6, 50e6))
            fake_bithumb.set_price(MARKET, 51_000_000)
            fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", drop=True)
            fake_bithumb.faults.fail_next("GET /v1/order", status=500, times=200)
            core.step(bar(5, 50e6, 51e6, 49.95e6, 51e6, 3.0))
            await settle(execution)
            assert core.position(MARKET) is None  # not known yet...
            assert core.states[MARKET].blocked is not None  # ...so no new entries
            bought = fake_btc(fake_bithumb)
            assert bought > 0
            fake_bithumb.faults.clear()  # the exchange answers again
            with anyio.fail_after(10):
                while core.position(MARKET) is None:  # noqa: ASYNC110 - polled by design
                    await anyio.sleep(0.02)
            held = core.position(MARKET)
            assert held is not None
            assert held.quantity == pytest.approx(bought, abs=1e-12)
            assert held.stop == pytest.approx(51_000_000 * (1 - 0.015), abs=1000)
            assert core.states[MARKET].blocked is None  # settled: entries allowed again
            fake_bithumb.set_price(MARKET, 50_000_000)
            core.on_trade(Trade(MARKET, T0 + 6 * HOUR + 5, 50_000_000, 0.1))  # the stop
            await settle(execution)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert [f.reason for f in core.fills] == ["entry", "stop_loss"]
    assert fake_btc(fake_bithumb) < STEP
    assert core.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    assert len([o for o in fake_bithumb.orders if o.side == "bid"]) == 1


@pytest.mark.anyio
async def test_a_manual_close_during_a_sale_is_sent_after_it(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    core, execution = live_core(exchange, store, "run-close", 0.5, [])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            await enter(core, execution, fake_bithumb)
            fake_bithumb.set_price(MARKET, 52_600_000)
            core.on_trade(Trade(MARKET, T0 + 6 * HOUR, 52_600_000, 0.1))  # take-profit share
            core.request_close(MARKET)  # while that sale is out
            await settle(execution)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert [f.reason for f in core.fills] == ["entry", "take_profit", "manual"]
    assert core.position(MARKET) is None
    assert fake_btc(fake_bithumb) < STEP
