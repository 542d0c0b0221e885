"""Cost of the backtest report on a long run: recording prices, the figures, the files.

    uv run python bench/report_speed.py [--bars 1000000] [--seed 7]

Prints the engine's time with and without recording each bar's prices (what
``run_backtest`` does for the candles and the buy-and-hold benchmark), the time of
``BacktestResult.summary``, :func:`tradekit.analytics.analyze` (every bar),
:func:`tradekit.report.render_html` (which draws a thinned copy) and the two CSV files, as
process CPU time; then the wall time of :func:`tradekit.backtest.write_report` (all four
files, the CSVs written on a second thread) and the page's size.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs

sys.path.insert(0, str(Path(__file__).parent))

from backtest_speed import engine

from tradekit.analytics import PriceSeries, analyze
from tradekit.backtest import BacktestResult, write_report
from tradekit.backtest_csv import write_equity_csv, write_fills_csv
from tradekit.report import render_html
from tradekit.testing import random_walk_bars

T = TypeVar("T")


def best(
    repeat: int, run: Callable[[], T], clock: Callable[[], float] = time.process_time
) -> tuple[float, T]:
    """The least time of ``repeat`` runs and the last result. CPU time by default, not wall
    time: the machine may be shared; wall time where threads work side by side."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = clock()
        out = run()
        times.append(clock() - started)
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
    summarized, _ = best(args.repeat, lambda: result.summary)
    rendered, page = best(args.repeat, lambda: render_html(result, summary))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fills_csv, _ = best(args.repeat, lambda: write_fills_csv(result.fills, out / "f.csv"))
        equity_csv, _ = best(
            args.repeat,
            lambda: write_equity_csv(result.equity_times, result.equity_values, out / "e.csv"),
        )
        files, _ = best(
            args.repeat, lambda: write_report(result, out, result.summary), time.perf_counter
        )

    print(f"bars                          {len(bars):>10,}")
    print(f"fills / round trips           {len(result.fills):>10,} / {len(result.trades):,}")
    print(f"engine                        {plain:>9.2f}s")
    print(f"engine recording prices       {recorded:>9.2f}s  (+{recorded - plain:.2f}s)")
    print(f"summary                       {summarized:>9.3f}s")
    print(f"analyze (every bar)           {figures:>9.3f}s")
    print(f"render_html (incl. analyze)   {rendered:>9.3f}s")
    print(f"fills.csv                     {fills_csv:>9.3f}s")
    print(f"equity.csv                    {equity_csv:>9.3f}s")
    print(f"summary + write_report (wall) {files:>9.3f}s  (all four files)")
    print(f"report.html                   {len(page.encode()) / 1e6:>9.2f} MB")


if __name__ == "__main__":
    main()
