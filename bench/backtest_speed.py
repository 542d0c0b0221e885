"""Backtest throughput: the full engine vs a plain-Python loop applying the same rules.

    uv run python bench/backtest_speed.py [--bars 1000000] [--seed 7]

Prints bars per second for the engine two ways and for the plain loop, the ratios, and the
engine's peak traced memory beside the memory its fills take. The plain loop is the practical
floor for pure Python that looks at every bar: one function, local variables, no objects, no
events. The engine runs as paper and live trading drive it, stepping every bar
(``run_bars``), and as ``tradekit backtest`` drives it over candle columns, stepping only the
bars that can matter (``run_candles``); both must make the same fills.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Sequence

from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import BacktestResult, run_bars, run_candles
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.candle_run import BarColumns
from tradekit.engine.core import EngineParams
from tradekit.models import Bar
from tradekit.testing import random_walk_bars

KST_MS = 9 * 3_600_000
DAY_MS = 86_400_000


def engine(bars: Sequence[Bar], keep_events: bool = True) -> BacktestResult:
    config = BreakoutConfig()
    return run_bars(
        bars,
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(config),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        EngineParams(),
        keep_events=keep_events,
    )


def engine_on_candles(candles: BarColumns) -> BacktestResult:
    config = BreakoutConfig()
    return run_candles(
        [candles],
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(config),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config())],
        EngineParams(),
    )


def plain_loop(bars: Sequence[Bar]) -> tuple[int, float]:
    """The fill rules (docs/backtests.md) inline: returns (number of fills, final cash)."""
    lookback, factor_num, factor_den = 20, 3, 2
    sl, tp, tp_frac, trail = 0.015, 0.03, 0.5, 0.01
    fee_rate, min_value, size, limit = 0.0025, 5000.0, 0.05, 0.05
    cash = 10_000_000.0
    qty = 0.0
    stop = tp_price = highest = 0.0
    opened = -1
    tp_hit = False
    pending = 0.0
    highs: deque[tuple[int, float]] = deque()
    vols = [0] * lookback
    vol_sum = 0
    day = -1
    reference = prev_equity = cash
    halted = False
    fills = 0
    floor = math.floor
    for i, b in enumerate(bars):
        o, h, lo, c = b.open, b.high, b.low, b.close
        if pending:
            q = pending
            fee = o * q * fee_rate
            cash -= o * q + fee
            qty, opened, tp_hit = q, i, False
            stop, tp_price = o * (1 - sl), o * (1 + tp)
            pending = 0.0
            fills += 1
        if qty:
            if opened < i and o <= stop:
                cash += o * qty - o * qty * fee_rate
                qty = 0.0
                fills += 1
            elif lo <= stop:
                cash += stop * qty - stop * qty * fee_rate
                qty = 0.0
                fills += 1
            elif not tp_hit and h >= tp_price:
                price = o if o > tp_price else tp_price
                part = floor(qty * tp_frac * 1e8 + 1e-6) / 1e8
                if (qty - part) * price < min_value:
                    part = qty
                cash += price * part - price * part * fee_rate
                qty = round(qty - part, 8)
                fills += 1
                tp_hit, highest = True, h
                stop = max(stop, highest * (1 - trail))
            elif tp_hit:
                if h > highest:
                    highest = h
                stop = max(stop, highest * (1 - trail))
        equity = cash + qty * c
        today = (b.time_ms + KST_MS) // DAY_MS
        if today != day:
            day, reference, halted = today, prev_equity, False
        if equity < reference * (1 - limit):
            halted = True
        prev_equity = equity
        volume = round(b.volume * 100_000_000)
        if (
            i >= lookback
            and not qty
            and not pending
            and not halted
            and c > highs[0][1]
            and volume * lookback * factor_den > factor_num * vol_sum
        ):
            q = floor(equity * size / c * 1e8 + 1e-6) / 1e8
            if q * c >= min_value:
                pending = q
        while highs and highs[-1][1] <= h:
            highs.pop()
        highs.append((i, h))
        if highs[0][0] <= i - lookback:
            highs.popleft()
        slot = i % lookback
        vol_sum += volume - vols[slot]
        vols[slot] = volume
    if qty:
        fills += 1
    return fills, cash


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timed runs")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    bars = random_walk_bars(args.bars, seed=args.seed)
    print(
        f"generated {len(bars):,} synthetic 1h bars (seed {args.seed}) in "
        f"{time.perf_counter() - t:.1f} s"
    )

    def best(fn: object) -> float:
        times = []
        for _ in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    candles = BarColumns("KRW-BTC", bars)
    result = engine(bars)
    candle_result = engine_on_candles(candles)
    loop_fills, _ = plain_loop(bars)
    engine_time = best(lambda: engine(bars))
    candle_time = best(lambda: engine_on_candles(candles))
    loop_time = best(lambda: plain_loop(bars))

    gc.collect()
    tracemalloc.start()
    traced = engine(bars)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fills_bytes = sum(sys.getsizeof(f) for f in traced.fills)
    curve_bytes = traced.equity_values.itemsize * len(traced.equity_values) * 2

    n = len(bars)
    print(f"python {sys.version.split()[0]}, best of {args.repeat}")
    print(
        f"engine     : {n / engine_time:>12,.0f} bars/s  ({engine_time:.2f} s, "
        f"{len(result.fills):,} fills, {len(result.trades):,} trades)"
    )
    print(
        f"on candles : {n / candle_time:>12,.0f} bars/s  ({candle_time:.2f} s, "
        f"{len(candle_result.fills):,} fills; {candle_result.exposed_bars:,} bars held)"
    )
    print(f"plain loop : {n / loop_time:>12,.0f} bars/s  ({loop_time:.2f} s, {loop_fills:,} fills)")
    print(
        f"ratio      : the engine runs at {loop_time / engine_time:.0%} of the plain loop's "
        f"speed stepping every bar, at {loop_time / candle_time:.0%} on candles"
    )
    print(
        f"memory     : peak {peak / 2**20:,.1f} MiB traced during the engine run; of it "
        f"equity curve {curve_bytes / 2**20:,.1f} MiB, fills {fills_bytes / 2**20:,.2f} MiB, "
        f"events {len(traced.events):,}"
    )
    if loop_fills != len(result.fills):
        raise SystemExit(f"plain loop made {loop_fills} fills, engine {len(result.fills)}")
    if candle_result.fills != result.fills:
        raise SystemExit("the engine on candles made other fills than stepping every bar")


if __name__ == "__main__":
    main()
