"""Trials per second of ``tradekit optimize`` with 1 and with 2 worker processes.

    uv run python bench/optimize_speed.py [--config examples/optimize.yaml] [--trials 40]

Runs the real command (start-up, reading the candles, the trials, the in-sample and
out-of-sample backtests of the best, writing the files) once per job count, and prints the
wall time, trials per second and CPU time of each, and the ratio. Other work on the machine
slows the wall times (the load average is printed); the CPU times show the cost itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("tradekit")


def run(config: Path, trials: int, jobs: int) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds (all its processes) of one command, and its trials."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [str(SCRIPT), "optimize", str(config), "--trials", str(trials), "--jobs", str(jobs),
             "--output", out, "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if done.returncode != 0:
            sys.exit(f"tradekit optimize failed ({done.returncode}):\n{done.stderr}")
        with (Path(out) / "trials.csv").open(encoding="utf-8", newline="") as handle:
            finished = sum(1 for _ in csv.DictReader(handle))
    return elapsed, cpu, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "optimize.yaml")
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    print(
        f"{args.config.name}: {args.trials} trials, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    rates = {}
    for jobs in (1, 2):
        elapsed, cpu, finished = run(args.config, args.trials, jobs)
        rates[jobs] = finished / elapsed
        print(
            f"--jobs {jobs}: {elapsed:6.2f} s for {finished} trials = "
            f"{rates[jobs]:5.2f} trials/s (whole command); "
            f"{cpu:6.2f} CPU s in all its processes"
        )
    print(f"2 jobs / 1 job: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
