"""Live trading on the fake Bithumb: real orders, exits on trades, the ledger = the exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from tradekit_bithumb.client import Backoff, BithumbClient
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.builtin.risk import PositionSize
from tradekit.config import parse_settings
from tradekit.engine.executor import OrderExecutor
from tradekit.events import Event, LiveAccountSnapshot, PositionClosed
from tradekit.models import Bar, OrderStatus, Side, Timeframe, Trade
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot
from tradekit.runner.live import LiveTrader
from tradekit.store import AsyncStore, Store

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
MARKET = "KRW-BTC"


async def no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def make_exchange(server: FakeBithumb, cls: type[BithumbExchange] = BithumbExchange) -> Any:
    config = BithumbConfig(
        api_key=server.api_key,
        api_secret=server.api_secret,
        base_url=server.base_url,
        ws_url=server.ws_url,
    )
    client = BithumbClient.from_config(config, backoff=Backoff(0.001, 0.01), sleep=no_sleep)
    return cls(config, client=client)


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 1.0) -> Bar:
    return Bar(MARKET, T0 + i * HOUR, o, h, lo, c, v)


def flat(n: int, price: float = 50_000_000.0) -> list[Bar]:
    return [bar(i, price, price + 100_000, price - 100_000, price) for i in range(n)]


def breakout(i: int, close: float = 51_000_000.0) -> Bar:
    return bar(i, 50_000_000, close, 49_950_000, close, 3.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AsyncStore]:
    sync = Store.open(f"sqlite:///{tmp_path / 'live.db'}")
    yield AsyncStore(sync)
    sync.close()


async def settle(trader: LiveTrader) -> None:
    with anyio.fail_after(20):
        await trader.wait_idle()


def make_trader(
    exchange: Any, store: AsyncStore, run_id: str, fraction: float, events: list[Event]
) -> LiveTrader:
    executor = OrderExecutor(exchange, store, sleep=no_sleep, poll_interval_s=0.01)
    trader = LiveTrader(
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [PositionSize(PositionSize.Config(fraction=fraction))],
        executor,
        min_order_value=5000,
        emit=events.append,
        run_id=run_id,
    )
    trader.restore_account(10_000_000.0, [])
    return trader


async def enter(trader: LiveTrader, server: FakeBithumb) -> None:
    """Five quiet bars, then a breakout bought at 51,000,000."""
    for b in flat(5):
        trader.step(b)
    server.set_price(MARKET, 51_000_000)
    trader.step(breakout(5))
    await settle(trader)


def fake_cash(server: FakeBithumb) -> float:
    krw = server.balance("KRW")
    return float(krw.balance + krw.locked)


def fake_btc(server: FakeBithumb) -> float:
    btc = server.balance("BTC")
    return float(btc.balance + btc.locked)


@pytest.mark.anyio
async def test_entry_stop_and_the_ledger_matches_the_exchange(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    trader = make_trader(exchange, store, "run-1", 0.05, events)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            await enter(trader, fake_bithumb)
            (entry,) = trader.fills
            assert (entry.side, entry.price, entry.reason) == (Side.BUY, 51_000_000, "entry")
            krw = int(10_000_000 * 0.05 / 51_000_000 * 1e8) / 1e8 * 51_000_000 // 1
            assert entry.quantity == pytest.approx(krw / 51_000_000, abs=1e-8)
            held = trader.position(MARKET)
            assert held is not None
            assert held.stop == pytest.approx(51_000_000 * (1 - 0.015))
            assert fake_btc(fake_bithumb) == pytest.approx(held.quantity, abs=1e-12)

            # A trade through the stop sells at once, at the exchange's price.
            fake_bithumb.set_price(MARKET, 50_200_000)
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 5, 50_200_000, 0.1))
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 6, 50_100_000, 0.1))  # no 2nd sell
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    exit_fill = trader.fills[-1]
    assert (exit_fill.side, exit_fill.reason, exit_fill.price) == (
        Side.SELL,
        "stop_loss",
        50_200_000,
    )
    assert len(trader.fills) == 2
    assert trader.position(MARKET) is None
    assert len(fake_bithumb.orders) == 2
    # Bithumb sells in 4 decimals: the rest stays as dust, and the trader knows it.
    assert fake_btc(fake_bithumb) == pytest.approx(trader.dust.get(MARKET, 0.0), abs=1e-12)
    assert fake_btc(fake_bithumb) * 50_200_000 < 5000
    assert trader.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    assert [f.client_order_id for f in await store.fills()] == [
        f.client_order_id for f in trader.fills
    ]
    assert all(o.status is OrderStatus.FILLED for o in await store.orders())
    (closed,) = [e for e in events if isinstance(e, PositionClosed)]
    assert closed.reason == "stop_loss"


@pytest.mark.anyio
async def test_take_profit_then_trailing_stop_on_trades(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    trader = make_trader(exchange, store, "run-2", 0.5, [])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            await enter(trader, fake_bithumb)
            bought = trader.fills[0].quantity

            fake_bithumb.set_price(MARKET, 52_600_000)  # take-profit at 52,530,000
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR, 52_600_000, 0.1))
            await settle(trader)
            half = trader.position(MARKET)
            assert half is not None
            assert half.take_profit_reached
            sold = trader.fills[1].quantity  # half, as the exchange's 4 decimals allow
            assert sold == pytest.approx(bought / 2, abs=1e-4)
            assert sold <= bought / 2
            assert half.quantity == pytest.approx(bought - sold, abs=1e-12)
            assert half.stop == pytest.approx(52_600_000 * 0.99)

            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 1, 53_000_000, 0.1))  # raises it
            assert trader.position(MARKET).stop == pytest.approx(53_000_000 * 0.99)  # type: ignore[union-attr]
            fake_bithumb.set_price(MARKET, 52_400_000)
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 2, 52_400_000, 0.1))
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert [f.reason for f in trader.fills] == ["entry", "take_profit", "trailing_stop"]
    assert trader.position(MARKET) is None
    assert fake_btc(fake_bithumb) == pytest.approx(trader.dust.get(MARKET, 0.0), abs=1e-12)
    assert trader.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    assert trader.trades[-1].pnl > 0


class ReplayBithumb(BithumbExchange):
    """Real orders on the fake Bithumb, bars replayed: the exchange's price follows each bar."""

    server: FakeBithumb
    bars: list[Bar]

    async def fetch_candles(
        self,
        market: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        **_: Any,
    ) -> Sequence[Bar]:
        return []

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Any = None,
    ) -> Any:
        server, bars = self.server, self.bars

        class Feed:
            async def __aiter__(self) -> AsyncIterator[Bar]:
                for b in bars:
                    server.set_price(MARKET, b.close)
                    if on_trade is not None:  # the bar's extremes, as trades
                        on_trade(Trade(MARKET, b.time_ms + 1, b.high, 0.01))
                        on_trade(Trade(MARKET, b.time_ms + 2, b.low, 0.01))
                    await anyio.sleep(0.02)  # let orders go out between bars
                    yield b

            async def aclose(self) -> None:
                pass

        return Feed()


def live_settings(tmp_path: Path, server: FakeBithumb) -> Any:
    return parse_settings(
        {
            "mode": "live",
            "markets": [MARKET],
            "exchange": {"use": "bithumb"},
            "strategy": {"use": "breakout", "lookback": 5},
            "risk": [{"use": "position_size", "fraction": 0.2}],
            "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "api": {"enabled": False},
        },
        load_plugins(),
        {},
    )


@pytest.mark.anyio
async def test_live_bot_trades_and_a_restart_takes_over_the_position(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    from tradekit.testing import random_walk_bars

    bars = [
        Bar(MARKET, b.time_ms, b.open, b.high, b.low, b.close, b.volume)
        for b in random_walk_bars(400, seed=11)
    ]
    fake_bithumb.set_price(MARKET, bars[0].open)
    exchange = make_exchange(fake_bithumb, ReplayBithumb)
    exchange.server, exchange.bars = fake_bithumb, bars[:200]
    bot = Bot(live_settings(tmp_path, fake_bithumb), exchange=exchange)
    with anyio.fail_after(120):
        await bot.run()
    first = bot.core
    assert isinstance(first, LiveTrader)
    assert len(first.fills) >= 4, "the replay should trade"
    assert len(fake_bithumb.orders) == len(first.fills)  # one order per fill, never two
    assert first.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    held = sum(p.quantity for p in first.positions()) + first.dust.get(MARKET, 0.0)
    assert held == pytest.approx(fake_btc(fake_bithumb), abs=1e-12)
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as stored:
        assert all(o.status.is_final for o in stored.orders())
        assert len(stored.fills()) == len(first.fills)
        snapshots = stored.events(kind="live_account", latest=1)
    assert isinstance(snapshots[-1], LiveAccountSnapshot)
    assert snapshots[-1].cash == pytest.approx(first.cash)

    # A second process: takes over what the exchange holds, then trades on.
    exchange2 = make_exchange(fake_bithumb, ReplayBithumb)
    exchange2.server, exchange2.bars = fake_bithumb, bars[200:]
    bot2 = Bot(live_settings(tmp_path, fake_bithumb), exchange=exchange2)
    with anyio.fail_after(120):
        await bot2.run()
    second = bot2.core
    assert isinstance(second, LiveTrader)
    assert len(fake_bithumb.orders) == len(first.fills) + len(second.fills)
    assert second.cash == pytest.approx(fake_cash(fake_bithumb), abs=1e-6)
    held2 = sum(p.quantity for p in second.positions()) + second.dust.get(MARKET, 0.0)
    dust_before = first.dust.get(MARKET, 0.0)
    assert held2 + dust_before == pytest.approx(fake_btc(fake_bithumb), abs=1e-12)


@pytest.mark.anyio
async def test_an_entry_filled_while_the_bot_was_down_is_reported_not_guessed(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    import attrs

    from tradekit.models import Order, OrderType

    fake_bithumb.set_price(MARKET, 50_000_000)
    order = Order(
        "entry-lost-1",
        MARKET,
        Side.BUY,
        OrderType.MARKET,
        None,
        100_000.0,
        OrderStatus.NEW,
        T0,
        T0,
        reason="entry",
    )
    placer = make_exchange(fake_bithumb)
    try:
        await placer.place_order(order)  # reached the exchange...
    finally:
        await placer.aclose()
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as crashed:  # ...then the bot died
        crashed.record_order(attrs.evolve(order, status=OrderStatus.SUBMITTED))

    exchange = make_exchange(fake_bithumb, ReplayBithumb)
    exchange.server, exchange.bars = fake_bithumb, []
    bot = Bot(live_settings(tmp_path, fake_bithumb), exchange=exchange)
    with anyio.fail_after(60):
        await bot.run()
    assert len(fake_bithumb.orders) == 1  # nothing re-sent
    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as stored:
        assert stored.order("entry-lost-1").status is OrderStatus.FILLED  # type: ignore[union-attr]
        errors = stored.events(kind="error")
    assert any("entry-lost-1" in getattr(e, "message", "") for e in errors)
    assert bot.core.positions() == []  # not guessed


@pytest.mark.anyio
async def test_a_refused_exit_is_tried_again_on_the_next_bar_not_on_every_trade(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    events: list[Event] = []
    trader = make_trader(exchange, store, "run-3", 0.05, events)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            await enter(trader, fake_bithumb)
            fake_bithumb.set_price(MARKET, 50_000_000)
            fake_bithumb.faults.fail_next("POST /v2/orders", 400, name="insufficient_funds_ask")
            for i in range(20):  # a burst of trades under the stop
                trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + i, 50_000_000, 0.1))
                await settle(trader)
            assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 2  # entry + 1 sell
            assert trader.position(MARKET) is not None
            trader.step(bar(6, 50_000_000, 50_100_000, 49_900_000, 50_000_000))  # next bar
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 3
    assert trader.position(MARKET) is None
    assert [f.reason for f in trader.fills] == ["entry", "stop_loss"]
    assert any("insufficient_funds_ask" in getattr(e, "message", "") for e in events)


@pytest.mark.anyio
async def test_a_remainder_below_the_quantity_step_is_dust_not_a_stuck_position(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    """At 150,000,000 KRW a 4-decimal remainder is worth more than the minimum order."""
    fake_bithumb.set_price(MARKET, 150_000_000)
    exchange = make_exchange(fake_bithumb)
    trader = make_trader(exchange, store, "run-4", 0.5, [])
    trader.quantity_decimals = {MARKET: 4}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            for i in range(5):
                trader.step(bar(i, 150e6, 150.1e6, 149.9e6, 150e6))
            fake_bithumb.set_price(MARKET, 153_000_000)
            trader.step(bar(5, 150e6, 153e6, 149.95e6, 153e6, 3.0))
            await settle(trader)
            bought = trader.fills[0].quantity
            fake_bithumb.set_price(MARKET, 150_000_000)
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR, 150_000_000, 0.1))  # under the stop
            await settle(trader)
            trader.step(bar(6, 150e6, 150.1e6, 149e6, 150e6))  # no further sale attempts
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    sold = trader.fills[1].quantity
    assert sold == int(bought * 1e4) / 1e4
    assert 0 < bought - sold < 1e-4
    assert trader.position(MARKET) is None
    assert trader.dust[MARKET] == pytest.approx(bought - sold, abs=1e-12)
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 2
    assert [t.exit_reason for t in trader.trades] == ["stop_loss"]


@pytest.mark.anyio
async def test_a_stop_raised_during_a_bar_is_not_tested_against_that_bars_low(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    trader = make_trader(exchange, store, "run-5", 0.5, [])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            await enter(trader, fake_bithumb)
            # Within bar 6: a dip to 50.6M (above the 50.235M stop), then the take-profit.
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 1, 50_600_000, 0.1))
            fake_bithumb.set_price(MARKET, 52_600_000)
            trader.on_trade(Trade(MARKET, T0 + 6 * HOUR + 2, 52_600_000, 0.1))
            await settle(trader)
            raised = trader.position(MARKET)
            assert raised is not None
            assert raised.stop == pytest.approx(52_600_000 * 0.99)
            # Bar 6 closes: its low (50.6M) is under the raised stop, but the stop was raised
            # during the bar, so it is first tested in bar 7.
            trader.step(bar(6, 51e6, 52.6e6, 50.6e6, 52.4e6))
            await settle(trader)
            assert trader.position(MARKET) is not None
            fake_bithumb.set_price(MARKET, 52_000_000)
            trader.step(bar(7, 52.4e6, 52.5e6, 52e6, 52.1e6))  # bar 7's low is under it
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert [f.reason for f in trader.fills] == ["entry", "take_profit", "trailing_stop"]


@pytest.mark.anyio
async def test_shutdown_lets_the_order_out_finish_and_sends_no_new_one(
    fake_bithumb: FakeBithumb, store: AsyncStore
) -> None:
    markets = ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    for market in markets:
        fake_bithumb.set_price(market, 50_000_000)
    exchange = make_exchange(fake_bithumb)
    executor = OrderExecutor(exchange, store, sleep=no_sleep, poll_interval_s=0.01)
    trader = LiveTrader(
        markets,
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        executor,
        min_order_value=5000,
        emit=lambda _e: None,
        run_id="run-6",
    )
    trader.restore_account(10_000_000.0, [])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(trader.run)
            for market in markets:
                for b in flat(5):
                    trader.step(Bar(market, b.time_ms, b.open, b.high, b.low, b.close, b.volume))
            for market in markets:
                fake_bithumb.set_price(market, 51_000_000)
                b = breakout(5)
                trader.step(Bar(market, b.time_ms, b.open, b.high, b.low, b.close, b.volume))
            await anyio.lowlevel.checkpoint()  # the first order goes out...
            trader.begin_shutdown()  # ...and the bot is told to stop
            await settle(trader)
            tg.cancel_scope.cancel()
    finally:
        await exchange.aclose()
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 1
    assert len(trader.fills) == 1  # the order that was out is booked
    assert trader.positions()[0].market == "KRW-BTC"
