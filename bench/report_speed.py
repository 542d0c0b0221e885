"""Cost of the backtest report on a long run: recording prices, the figures, the HTML.

    uv run python bench/report_speed.py [--bars 1000000] [--seed 7]

Prints the engine's time with and without recording each bar's prices (what
``run_backtest`` does for the candles and the buy-and-hold benchmark), the time of
:func:`tradekit.analytics.analyze` (every bar) and of :func:`tradekit.report.render_html`
(which draws a thinned copy), as process CPU time, and the page's size.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs

sys.path.insert(0, str(Path(__file__).parent))

from backtest_speed import engine

from tradekit.analytics import PriceSeries, analyze
from tradekit.backtest import BacktestResult
from tradekit.report import render_html
from tradekit.testing import random_walk_bars

T = TypeVar("T")


def best(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The least CPU time of ``repeat`` runs (CPU time, not wall time: the machine may be
    shared) and the last result."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        out = run()
        times.append(time.process_time() - started)
    return min(times), out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    bars = random_walk_bars(args.bars, seed=args.seed)
    series = PriceSeries("KRW-BTC")

    def recording() -> BacktestResult:
        series.__init__("KRW-BTC")  # type: ignore[misc]  # fresh columns each time
        return engine(series.recording(bars))

    plain, _ = best(args.repeat, lambda: engine(bars))
    recorded, result = best(args.repeat, recording)
    result = attrs.evolve(result, prices={"KRW-BTC": series})
    summary = result.summary  # write_report computes it once for summary.json anyway
    figures, _ = best(
        args.repeat,
        lambda: analyze(
            initial=result.initial_equity,
            final=result.final_equity,
            equity_times=result.equity_times,
            equity_values=result.equity_values,
            fills=result.fills,
            trades=result.trades,
            prices=result.prices,
        ),
    )
    rendered, page = best(args.repeat, lambda: render_html(result, summary))

    print(f"bars                          {len(bars):>10,}")
    print(f"fills / round trips           {len(result.fills):>10,} / {len(result.trades):,}")
    print(f"engine                        {plain:>9.2f}s")
    print(f"engine recording prices       {recorded:>9.2f}s  (+{recorded - plain:.2f}s)")
    print(f"analyze (every bar)           {figures:>9.2f}s")
    print(f"render_html (incl. analyze)   {rendered:>9.2f}s")
    print(f"report.html                   {len(page.encode()) / 1e6:>9.2f} MB")


if __name__ == "__main__":
    main()
