"""Live order path latency: decision -> order stored -> sent -> confirmed -> fill booked.

    uv run python bench/live_order_latency.py [--rounds 200]

Runs the live path (the trading core with its live execution port and order executor)
against the fake Bithumb on 127.0.0.1 (real HTTP, JWT signing, the executor's order states and
the booked fills written to a SQLite file with synchronous=FULL) and times, per round trip, an
entry (from the bar close that decided it to its booked and stored fill) and a stop-loss exit
(from the trade that crossed the stop to its booked and stored fill). The exchange's own
latency is not in it: the fake answers at once, so this is tradekit's share of the delay.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from tradekit_bithumb.config import BithumbConfig, RateLimits
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.builtin.risk import PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.executor import OrderExecutor, StoreJournal
from tradekit.engine.live_execution import LiveExecution
from tradekit.engine.rules import KRW_TICKS
from tradekit.events import Event, FillEvent
from tradekit.log import setup_logging
from tradekit.models import Bar, Fill, Trade
from tradekit.store import AsyncStore, Store

HOUR = 3_600_000
MARKET = "KRW-BTC"


def percentiles(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100)
    return (
        f"{label:<6} p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  p99 {q[98]:.2f} ms  "
        f"max {ms[-1]:.2f} ms"
    )


async def bench(rounds: int, folder: Path) -> None:
    with FakeBithumb(krw=10_000_000_000) as server:
        server.set_price(MARKET, 50_000_000)
        config = BithumbConfig(
            api_key=server.api_key,
            api_secret=server.api_secret,
            base_url=server.base_url,
            ws_url=server.ws_url,
            rate_limits=RateLimits(public=1000, private=1000, order=1000),
        )
        exchange = BithumbExchange(config)
        store = Store.open(f"sqlite:///{folder / 'live.db'}")
        astore = AsyncStore(store)
        executor = OrderExecutor(exchange, StoreJournal(astore), poll_interval_s=0.001)
        booked: list[Fill] = []

        def emit(event: Event) -> None:
            if isinstance(event, FillEvent):
                booked.append(event.fill)

        async def after_booking() -> None:
            # What the bot does after each order: make the booked fills durable.
            while booked:
                await astore.record_fill(booked.pop(0))

        execution = LiveExecution(executor, run_id="bench", after_booking=after_booking)
        core = TradingCore(
            [MARKET],
            lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
            [PositionSize(PositionSize.Config(fraction=0.001))],
            EngineParams(
                initial_cash=10_000_000_000.0,
                min_order_value=5000,
                quantity_decimals=4,  # Bithumb's quantity step and KRW price grid
                price_ticks=KRW_TICKS,
                check_cash=True,
            ),
            emit=emit,
            port=execution,
        )
        entries: list[float] = []
        exits: list[float] = []
        t = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
        async with anyio.create_task_group() as tg:
            tg.start_soon(execution.run)
            for _ in range(rounds):
                for _ in range(5):
                    core.step(Bar(MARKET, t, 50e6, 50.1e6, 49.9e6, 50e6, 1.0))
                    t += HOUR
                server.set_price(MARKET, 51_000_000)
                started = time.perf_counter()
                core.step(Bar(MARKET, t, 50e6, 51e6, 49.95e6, 51e6, 3.0))
                await execution.wait_idle()
                entries.append(time.perf_counter() - started)
                t += HOUR
                assert core.position(MARKET) is not None, "the breakout must buy"
                server.set_price(MARKET, 50_000_000)
                started = time.perf_counter()
                core.on_trade(Trade(MARKET, t, 50_000_000, 0.1))
                await execution.wait_idle()
                exits.append(time.perf_counter() - started)
                assert core.position(MARKET) is None, "the stop must sell"
            tg.cancel_scope.cancel()
        fills = len(await astore.fills())
        await exchange.aclose()
        store.close()
    assert fills == 2 * rounds, f"{fills} fills stored for {rounds} round trips"
    print(f"{rounds} round trips against the fake Bithumb on 127.0.0.1 (SQLite, synchronous=FULL)")
    print(percentiles("entry", entries))
    print(percentiles("stop", exits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(bench, args.rounds, Path(folder))


if __name__ == "__main__":
    main()
