"""The async loop over recorded and streamed bars makes the backtest's exact fills."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.loop import run_loop
from tradekit.models import Bar
from tradekit.testing import random_walk_bars


def make_core() -> TradingCore:
    return TradingCore(
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        EngineParams(),
    )


def backtest_fills(bars: list[Bar]) -> list[object]:
    result = run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        EngineParams(),
    )
    return list(result.fills)


@pytest.mark.anyio
async def test_recorded_bars_in_the_async_loop_match_backtest() -> None:
    bars = random_walk_bars(3000, seed=3)
    core = make_core()
    done: list[int] = []
    await run_loop(core, bars, finish=True, checkpoint_every=100, progress=done.append)
    assert done[-1] == 3000
    assert core.fills == backtest_fills(bars)
    assert len(core.fills) > 10


@pytest.mark.anyio
async def test_streamed_bars_match_backtest() -> None:
    bars = random_walk_bars(1500, seed=4)
    send, receive = anyio.create_memory_object_stream[Bar](10)

    async def replay() -> None:
        async with send:
            for bar in bars:
                await send.send(bar)

    async def stream() -> AsyncIterator[Bar]:
        async with receive:
            async for bar in receive:
                yield bar

    core = make_core()
    async with anyio.create_task_group() as tg:
        tg.start_soon(replay)
        await run_loop(core, stream(), finish=True)
    assert core.fills == backtest_fills(bars)
