"""Whole-command backtest speed: ``tradekit backtest`` against backtrader, side by side.

    uv run python bench/backtest_vs_backtrader.py [--bars 1000000] [--runs 3]

Both run the breakout rules on the same generated CSV of hourly candles, each as the command
a user waits for (start-up, reading, the run, writing the results): ``tradekit backtest
cfg.yaml --output DIR`` and ``python bench/backtrader_breakout.py CANDLES.csv``. backtrader
1.9.78.123 (the last release on PyPI) is installed into a separate environment this script
creates under ``--work`` on its first run. Each run prints, for both, the wall-clock seconds,
bars per second, CPU seconds and the peak resident memory of the process, then the ratio; the
summary gives the range over the runs (the machine may be shared: the ratio, measured
within one run, is the figure that matters).

Both run once untimed first, with Python allowed to write bytecode (``PYTHONDONTWRITEBYTECODE``
is removed from their environment), so both are timed from compiled modules and a warm file
cache, as a user's second run is: pip compiles backtrader's modules when it installs them,
while ``uv sync`` leaves compiling to the first import.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tradekit.testing import random_walk_bars

ROOT = Path(__file__).resolve().parent.parent
BACKTRADER = "backtrader==1.9.78.123"

CONFIG = """\
mode: backtest
markets: [KRW-BTC]
timeframe: 1h
strategy: {{use: breakout, lookback: 20, volume_factor: 1.5, stop_loss: 0.015,
           take_profit: 0.03, take_profit_fraction: 0.5, trailing_stop: 0.01}}
risk:
  - {{use: daily_loss_limit, limit: 0.05}}
  - {{use: position_size, fraction: 0.05}}
backtest:
  data: {{KRW-BTC: {candles}}}
  initial_cash: 10000000
  fee_rate: 0.0025
  quantity_step: 0.00000001   # the spec's unrounded rules, as backtrader has no price grid
  price_ticks: none
"""


def backtrader_python(venv: Path) -> Path:
    """The Python of the backtrader environment, created on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {BACKTRADER} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", BACKTRADER], check=True)
    return python


def write_candles(path: Path, bars: int, seed: int) -> None:
    if path.exists():
        return
    print(f"writing {bars:,} synthetic 1h bars (seed {seed}) to {path} ...", flush=True)
    rows = random_walk_bars(bars, seed=seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write("timestamp,open,high,low,close,volume\n")
        handle.writelines(
            f"{b.time_ms},{b.open!r},{b.high!r},{b.low!r},{b.close!r},{b.volume!r}\n" for b in rows
        )
    tmp.rename(path)


def timed(command: list[str], logs: Path) -> tuple[float, float, int, str]:
    """Run ``command``: (wall seconds, CPU seconds, peak RSS in bytes, stdout).

    The child is reaped with ``wait4``, which gives its own resource usage.
    """
    out_path, err_path = logs.with_suffix(".out"), logs.with_suffix(".err")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{err_path.read_text()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out_path.read_text()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench")
    args = parser.parse_args(argv)

    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = backtrader_python(work / "backtrader-venv")
    candles = work / f"candles-{args.bars}-{args.seed}.csv"
    write_candles(candles, args.bars, args.seed)
    config = work / "backtest.yaml"
    config.write_text(CONFIG.format(candles=candles), encoding="utf-8")
    tradekit = [str(Path(sys.executable).parent / "tradekit"), "backtest", str(config)]
    tradekit += ["--output", str(work / "tradekit-out")]
    backtrader = [str(python), str(ROOT / "bench" / "backtrader_breakout.py"), str(candles)]

    print(f"python {sys.version.split()[0]}, {args.bars:,} bars, {os.cpu_count()} CPUs")
    for command, name in ((tradekit, "tradekit"), (backtrader, "backtrader")):
        timed(command, work / name)  # warm-up: bytecode and file cache, not timed
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    for run in range(1, args.runs + 1):
        tk_wall, tk_cpu, tk_rss, _ = timed(tradekit, work / "tradekit")
        bt_wall, bt_cpu, bt_rss, bt_out = timed(backtrader, work / "backtrader")
        summary = json.loads((work / "tradekit-out" / "summary.json").read_text())
        bt_result = json.loads(bt_out.strip().splitlines()[-1])
        ratios.append(bt_wall / tk_wall)
        cpu_ratios.append(bt_cpu / tk_cpu)
        print(f"run {run}:")
        for name, wall, cpu, rss, fills in (
            ("tradekit  ", tk_wall, tk_cpu, tk_rss, summary["fills"]),
            ("backtrader", bt_wall, bt_cpu, bt_rss, bt_result["fills"]),
        ):
            print(
                f"  {name}: {args.bars / wall:>10,.0f} bars/s  ({wall:6.2f} s wall, "
                f"{cpu:6.2f} s CPU, peak RSS {rss / 2**20:6.1f} MiB, {fills:,} fills)"
            )
        print(
            f"  ratio     : tradekit {ratios[-1]:.1f}x backtrader's bars/s "
            f"({cpu_ratios[-1]:.1f}x by CPU time)"
        )
    print(
        f"ratio over {args.runs} runs: {min(ratios):.1f}x to {max(ratios):.1f}x "
        f"(by CPU time {min(cpu_ratios):.1f}x to {max(cpu_ratios):.1f}x)"
    )


if __name__ == "__main__":
    main()
