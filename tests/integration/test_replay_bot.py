"""The bot on the built-in replay exchange, in paper and live mode: real store, real engine."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

from tradekit.backtest import run_backtest
from tradekit.builtin.csv_source import CsvCandleSource
from tradekit.builtin.replay import ReplayExchange
from tradekit.builtin.replay.config import parse_time_ms
from tradekit.config import parse_settings
from tradekit.models import Fill, OrderStatus, Side, Timeframe
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot
from tradekit.store import Store

HOUR = 3_600_000
START = "2019-10-25T04:00"  # the demo's window: a take-profit, trailing stops and a stop loss
END = "2019-10-28T00:00"
STRATEGY = {
    "use": "breakout",
    "lookback": 20,
    "volume_factor": 1.5,
    "stop_loss": 0.015,
    "take_profit": 0.03,
    "take_profit_fraction": 0.5,
    "trailing_stop": 0.01,
}
RISK = [{"use": "daily_loss_limit", "limit": 0.05}, {"use": "position_size", "fraction": 0.05}]


def settings(mode: str, real_candles: Path, tmp_path: Path, **extra: Any) -> Any:
    return parse_settings(
        {
            "mode": mode,
            "markets": ["KRW-BTC"],
            "timeframe": "1h",
            "exchange": {
                "use": "replay",
                "data": str(real_candles),
                "start": START,
                "end": END,
                "speed": 2_000_000,  # 1.8 ms per bar: the replay ends on its own
            },
            "strategy": STRATEGY,
            "risk": RISK,
            "paper": {"resume": False},
            "storage": {"url": f"sqlite:///{tmp_path / f'{mode}.db'}"},
            "api": {"enabled": False},
            **extra,
        },
        load_plugins(),
    )


def backtest_fills(real_candles: Path, tmp_path: Path) -> list[Fill]:
    """The backtest's fills over the replayed bars and the 20 warm-up bars before them."""
    start, end = parse_time_ms(START), parse_time_ms(END)
    window = tmp_path / "window.csv"
    bars = CsvCandleSource(real_candles).bars("KRW-BTC", Timeframe("1h"))
    with window.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for b in bars:
            if start - 20 * HOUR <= b.time_ms < end:
                writer.writerow([b.time_ms, b.open, b.high, b.low, b.close, b.volume])
    backtest = parse_settings(
        {
            "mode": "backtest",
            "markets": ["KRW-BTC"],
            "timeframe": "1h",
            "strategy": STRATEGY,
            "risk": RISK,
            "backtest": {"data": {"KRW-BTC": str(window)}},
        },
        load_plugins(),
    )
    return [f for f in run_backtest(backtest).fills if f.reason != "end_of_data"]


async def run(bot: Bot) -> None:
    with anyio.fail_after(60):
        await bot.run()


@pytest.mark.anyio
async def test_paper_on_the_replay_fills_exactly_what_the_backtest_fills(
    real_candles: Path, tmp_path: Path
) -> None:
    bot = Bot(settings("paper", real_candles, tmp_path))
    assert isinstance(bot.exchange, ReplayExchange)
    await run(bot)
    start, end = parse_time_ms(START), parse_time_ms(END)

    expected = backtest_fills(real_candles, tmp_path)

    with Store.open(bot.settings.storage.url) as store:
        fills = store.fills()
        reports = store.performance()
        stopped = store.events(kind="stopped")
    assert [(f.time_ms, f.side, f.price, f.quantity, f.reason) for f in fills] == [
        (f.time_ms, f.side, f.price, f.quantity, f.reason) for f in expected
    ]
    assert {"entry", "take_profit", "trailing_stop", "stop_loss"} <= {f.reason for f in fills}
    # Days in Korea: 25 (from 13:00), 26 and 27 October closed, and 28 October partly.
    assert [(r.trading_day, r.notes) for r in reports] == [
        ("2019-10-25", ""),
        ("2019-10-26", ""),
        ("2019-10-27", ""),
        ("2019-10-28", "partial day"),
    ]
    assert reports[1].trades == 2
    assert reports[1].profit > 0
    assert stopped[-1].reason == "end of the bar stream"  # type: ignore[attr-defined]
    assert bot.bars_processed == (end - start) // HOUR


@pytest.mark.anyio
async def test_live_on_the_replay_trades_through_the_order_executor(
    real_candles: Path, tmp_path: Path
) -> None:
    bot = Bot(settings("live", real_candles, tmp_path))
    exchange = bot.exchange
    assert isinstance(exchange, ReplayExchange)
    await run(bot)
    venue = exchange.venue
    assert venue is not None

    with Store.open(bot.settings.storage.url) as store:
        fills = store.fills()
        orders = store.orders()
        reports = store.performance()
    assert {"entry", "take_profit", "trailing_stop", "stop_loss"} <= {f.reason for f in fills}
    assert orders
    assert all(o.status is OrderStatus.FILLED for o in orders)
    bars = {b.time_ms: b for b in venue.series["KRW-BTC"].bars}
    for fill in fills:
        assert fill.client_order_id, "a live fill belongs to an order"
        bar = bars[fill.time_ms - fill.time_ms % HOUR]
        assert bar.low <= fill.price <= bar.high  # a price the market traded in that hour
        if fill.side is Side.SELL:
            assert round(fill.quantity * 10_000, 6).is_integer()  # on Bithumb's step
    # Orders cost no market time: entries fill at the next open, as in the backtest.
    entries = [(f.time_ms, f.price) for f in fills if f.reason == "entry"]
    expected = backtest_fills(real_candles, tmp_path)
    assert entries == [(f.time_ms, f.price) for f in expected if f.reason == "entry"]
    # Every round trip ended: what the exchange holds is what the bot books.
    balances = await exchange.balances()
    assert float(balances["KRW"].free) == pytest.approx(bot.core.cash, abs=1e-6)
    held = float(balances["BTC"].free) if "BTC" in balances else 0.0
    assert held == pytest.approx(sum(bot.core.remainders().values()), abs=1e-9)
    assert held < 1e-4
    assert [r.trading_day for r in reports] == [
        "2019-10-25",
        "2019-10-26",
        "2019-10-27",
        "2019-10-28",
    ]


@pytest.mark.anyio
async def test_replay_trades_stream_at_the_replayed_time(real_candles: Path) -> None:
    exchange = ReplayExchange(
        ReplayExchange.Config(data=str(real_candles), start=START, speed=1e9, steps_per_leg=3)
    )
    config = settings("paper", real_candles, Path("."))
    clock = exchange.clock_for(["KRW-BTC"], config.timeframe)
    start = parse_time_ms(START)
    assert clock() == start
    seen = []
    async for trade in exchange.stream_trades(["KRW-BTC"]):
        seen.append(trade)
        assert clock() == trade.time_ms
        if trade.time_ms >= start + 2 * HOUR:
            break
    assert seen[0].time_ms == start
    assert all(a.time_ms < b.time_ms for a, b in itertools.pairwise(seen))
