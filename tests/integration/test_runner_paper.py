"""The paper bot end to end: replayed bars in, the backtest's fills out, everything stored."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.config import PaperSettings, Settings, parse_settings
from tradekit.errors import ConfigError
from tradekit.models import Bar, Timeframe
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot
from tradekit.runner.control import NoPosition, UnknownMarket
from tradekit.store import Store
from tradekit.testing import random_walk_bars

HOUR = 3_600_000


class ReplayExchange:
    """Recorded bars played as if they arrived live; history for the warm-up before them."""

    name = "replay"

    def __init__(self, live: Sequence[Bar], history: Sequence[Bar] = ()) -> None:
        self.live = list(live)
        self.history = list(history)
        self.asked: list[tuple[str, int, int | None]] = []
        self.started_ms: int | None = None
        self.closed = False
        self.on_bar: Any = lambda _time_ms: None

    async def fetch_candles(
        self, market: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None
    ) -> list[Bar]:
        self.asked.append((market, since_ms, until_ms))
        end = until_ms if until_ms is not None else 2**62
        return [b for b in self.history if b.market == market and since_ms <= b.time_ms < end]

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Any = None,
    ) -> Any:
        self.started_ms = start_ms
        bars = self.live
        on_bar = self.on_bar

        class Feed:
            async def __aiter__(self) -> AsyncIterator[Bar]:
                for bar in bars:
                    await anyio.lowlevel.checkpoint()
                    on_bar(bar.time_ms)
                    yield bar

            async def aclose(self) -> None:
                pass

        return Feed()

    async def aclose(self) -> None:
        self.closed = True


def settings(tmp_path: Path, **extra: Any) -> Settings:
    data = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        "exchange": {"use": "bithumb"},
        "strategy": {"use": "breakout", "lookback": 5},
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "api": {"enabled": False},
        **extra,
    }
    return parse_settings(data, load_plugins(), {})


def backtest(bars: list[Bar]) -> list[Any]:
    result = run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        PaperSettings().engine_params(),  # the same venue rules as paper
    )
    return [f for f in result.fills if f.reason != "end_of_data"]


@pytest.mark.anyio
async def test_paper_run_makes_the_backtest_fills_and_stores_everything(tmp_path: Path) -> None:
    bars = random_walk_bars(2000, seed=11)
    exchange = ReplayExchange(bars)
    seen: list[int] = []

    def clock() -> int:  # the wall clock follows the replay: an hour after the last bar
        return (seen[-1] if seen else bars[0].time_ms - HOUR) + HOUR

    bot = Bot(settings(tmp_path), exchange=exchange, clock=clock)
    exchange.on_bar = seen.append
    with anyio.fail_after(60):
        await bot.run()

    expected = backtest(bars)
    assert len(expected) > 10
    assert bot.core.fills == expected
    assert exchange.closed
    assert exchange.started_ms == bars[0].time_ms  # no history: live from the first bar

    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        assert store.fills() == expected
        (run,) = store.runs()
        assert (run["mode"], run["ended_ms"] is not None) == ("paper", True)
        kinds = [e.kind if hasattr(e, "kind") else e["kind"] for e in store.events()]
        assert kinds[-1] == "stopped"
        assert kinds.count("position_opened") == sum(f.reason == "entry" for f in expected)
        days = store.performance()
        # One report per finished KST day, and the partial last day at shutdown.
        assert len(days) >= 2000 // 24
        assert days[-1].notes == "partial day"
        assert days[0].trading_day < days[-1].trading_day
        assert sum(d.trades for d in days) == sum(1 for e in kinds if e == "position_closed")
        assert abs(days[-1].end_equity - bot.core.equity) < 1e-6


@pytest.mark.anyio
async def test_warm_up_feeds_indicators_but_never_trades_on_history(tmp_path: Path) -> None:
    bars = random_walk_bars(400, seed=5)
    history, live = bars[:300], bars[300:]
    exchange = ReplayExchange(live, history)
    now = live[0].time_ms + 10 * 60_000  # ten minutes into the first live interval
    bot = Bot(settings(tmp_path), exchange=exchange, clock=lambda: now)
    with anyio.fail_after(30):
        await bot.run()
    warmup = BreakoutStrategy(BreakoutConfig(lookback=5)).warmup_bars
    assert exchange.asked == [("KRW-BTC", live[0].time_ms - warmup * HOUR, live[0].time_ms)]
    assert exchange.started_ms == live[0].time_ms
    assert all(f.time_ms >= live[0].time_ms for f in bot.core.fills)
    # Same decisions as a backtest whose first bars were the warm-up window.
    window = history[-warmup:]
    replayed = [f for f in backtest(window + live) if f.time_ms >= live[0].time_ms]
    assert bot.core.fills == replayed
    assert bot.candles("KRW-BTC", 1000) == window + live  # the chart shows the warm-up too


@pytest.mark.anyio
async def test_pause_resume_and_manual_close_through_the_control_methods(tmp_path: Path) -> None:
    bars = random_walk_bars(3000, seed=11)
    bot = Bot(settings(tmp_path), exchange=ReplayExchange([]), clock=lambda: bars[0].time_ms)
    with pytest.raises(UnknownMarket):
        bot.request_close("KRW-DOGE")
    with pytest.raises(NoPosition):
        bot.request_close("KRW-BTC")
    bot.pause()
    bot.pause()  # idempotent: one event
    for bar in bars[:1000]:
        bot._step(bar)
    assert bot.core.fills == []  # paused: no entries
    assert bot.status().paused
    bot.resume()
    for bar in bars[1000:]:
        bot._step(bar)
        if bot.core.position("KRW-BTC") is not None:
            break
    assert bot.core.position("KRW-BTC") is not None
    bot.request_close("KRW-BTC")
    following = bars[bars.index(bar) + 1]
    bot._step(following)
    assert bot.core.fills[-1].reason == "manual"
    assert bot.core.fills[-1].price == following.open
    status = bot.status()
    assert (status.paused, status.open_positions, status.fills) == (False, 0, 2)
    assert status.last_bar_ms == {"KRW-BTC": following.time_ms}


def test_backtest_mode_is_not_run_by_the_bot(tmp_path: Path) -> None:
    backtest_settings = settings(
        tmp_path, mode="backtest", backtest={"data": {"KRW-BTC": "candles.csv"}}
    )
    with pytest.raises(ConfigError, match="mode: 'backtest' cannot be run by `tradekit run`"):
        Bot(backtest_settings, exchange=ReplayExchange([]))


def open_position_cut(bars: list[Bar]) -> int:
    """An index where the backtest holds a position and has no entry waiting."""
    fills = backtest(bars)
    times = [b.time_ms for b in bars]
    for entry, after in itertools.pairwise(fills):
        if entry.reason == "entry" and after.reason != "entry":
            # Cut two bars after the entry, if the position is still open then.
            cut = times.index(entry.time_ms) + 2
            if times[cut] < after.time_ms:
                return cut
    raise AssertionError("no position lasts long enough in these bars")


@pytest.mark.anyio
async def test_a_restarted_paper_bot_continues_the_stored_account(tmp_path: Path) -> None:
    bars = random_walk_bars(2000, seed=11)
    cut = open_position_cut(bars)
    first_run = Bot(settings(tmp_path), exchange=ReplayExchange(bars[:cut]), clock=lambda: 0)
    with anyio.fail_after(60):
        await first_run.run()
    assert first_run.core.positions(), "the first run must stop holding a position"

    # The second process warms up on history and continues with the same cash and stops.
    second_run = Bot(
        settings(tmp_path),
        exchange=ReplayExchange(bars[cut:], history=bars[:cut]),
        clock=lambda: bars[cut].time_ms,
    )
    with anyio.fail_after(60):
        await second_run.run()
    assert first_run.core.fills + second_run.core.fills == backtest(bars)

    fresh = Bot(
        settings(tmp_path, paper={"resume": False}),
        exchange=ReplayExchange([]),
        clock=lambda: 0,
    )
    with anyio.fail_after(30):
        await fresh.run()
    assert (fresh.core.cash, fresh.core.positions()) == (10_000_000, [])


@pytest.mark.anyio
async def test_a_stored_account_for_other_markets_is_not_resumed(tmp_path: Path) -> None:
    bars = random_walk_bars(2000, seed=11)
    cut = open_position_cut(bars)
    with anyio.fail_after(60):
        await Bot(settings(tmp_path), exchange=ReplayExchange(bars[:cut]), clock=lambda: 0).run()
    other = Bot(
        settings(tmp_path, markets=["KRW-ETH"]), exchange=ReplayExchange([]), clock=lambda: 0
    )
    with anyio.fail_after(30):
        await other.run()
    assert (other.core.cash, other.core.positions()) == (10_000_000, [])


def test_the_dashboard_sees_the_day_against_the_loss_limit_and_the_recent_bars(
    tmp_path: Path,
) -> None:
    bars = random_walk_bars(3000, seed=11)
    risk = [
        {"use": "position_size", "fraction": 0.9},
        {"use": "daily_loss_limit", "limit": 0.002},
    ]
    bot = Bot(
        settings(tmp_path, risk=risk), exchange=ReplayExchange([]), clock=lambda: bars[0].time_ms
    )
    before = bot.today()
    assert (before.trading_day, before.profit, before.entry_blocks) == ("", 0.0, [])
    assert before.loss_limit == 0.002
    assert before.loss_limit_equity is None  # no reference before the first bar
    for bar in bars:
        bot._step(bar)
        if bot.halted:
            break
    seen = bars.index(bar) + 1
    assert bot.halted, "a 0.2% daily loss limit should halt on these bars"
    today = bot.today()
    assert today.halted
    assert not today.entries_allowed
    (block,) = today.entry_blocks
    assert block.startswith("daily_loss_limit: equity ")
    assert "fell more than 0.20% below the day's reference" in block
    assert today.equity == bot.core.equity
    assert today.profit == pytest.approx(today.equity - today.start_equity)
    assert today.loss_limit_reference is not None
    assert today.loss_limit_equity == pytest.approx(today.loss_limit_reference * (1 - 0.002))
    assert today.equity < today.loss_limit_equity
    assert today.trading_day == bot.daily.report(bar.time_ms).trading_day
    bot.pause()
    assert bot.today().entry_blocks[0] == "paused by the operator: no new entries until resumed"

    # The charts get the bars the bot has seen, the newest last.
    assert bot.candles("KRW-BTC", 50) == bars[max(0, seen - 50) : seen]
    assert bot.candles("KRW-BTC", 10_000) == bars[max(0, seen - 1000) : seen]
    with pytest.raises(UnknownMarket):
        bot.candles("KRW-DOGE", 10)
