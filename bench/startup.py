"""What ``tradekit backtest`` costs before its first bar: start-up, imports, config, candles.

    uv run python bench/startup.py [--bars 1000000] [--runs 5] [--against main] [--compiled]

Every figure is a fresh process (as a user's command is), the minimum and the median of
``--runs`` runs, wall-clock and CPU seconds (2 cores: CPU shows the work when the machine is
shared and the wall clock jumps). Measured side by side:

- ``python -c pass``: the interpreter alone, the floor of any command;
- ``tradekit backtest`` on 24 bars: start-up, imports, plugins, config, the run and the report
  of a tiny file, so what does not grow with the data;
- reading the candle CSV of ``--bars`` bars into checked columns (``CsvCandleSource.columns``,
  pyarrow's import included) beside ``pyarrow.csv.read_csv`` of the same file alone, the
  floor of a columnar read without any check;
- the whole command on ``--bars`` bars.

``--against REV`` runs the same with the ``src`` of git revision ``REV`` (extracted under
``--work``), interleaved run by run, so a change shows before and after in the same minute.
``--compiled`` runs everything a second time with every module's bytecode compiled ahead, as
an installed tradekit has it: pip and the container image (``UV_COMPILE_BYTECODE=1``) compile
at install, while an environment synced by uv without ``--compile-bytecode``, in a shell that
sets ``PYTHONDONTWRITEBYTECODE`` (this project's machines do), compiles every module it imports
from source on every run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from backtest_vs_backtrader import CONFIG, write_candles

ROOT = Path(__file__).resolve().parent.parent
TINY = 24

READ = """
import sys
from pathlib import Path
from tradekit.builtin.csv_source import CsvCandleSource
from tradekit.models import Timeframe
CsvCandleSource(Path(sys.argv[1])).columns("KRW-BTC", Timeframe("1h"))
"""
ARROW = """
import sys
import pyarrow as pa, pyarrow.csv as pacsv
names = ["timestamp", "open", "high", "low", "close", "volume"]
pacsv.read_csv(
    sys.argv[1],
    read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
    convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64())),
)
"""


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command`` (the child's own usage, from wait4)."""
    with log.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{log.read_text()}")
    return wall, usage.ru_utime + usage.ru_stime


def figure(runs: list[tuple[float, float]]) -> str:
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return (
        f"{min(walls):6.3f} {statistics.median(walls):6.3f} s  "
        f"cpu {min(cpus):6.3f} {statistics.median(cpus):6.3f}"
    )


def compiled_env(cache: Path, sources: list[Path] | None = None) -> dict[str, str]:
    """The environment variables under which this Python reads bytecode compiled into ``cache``.

    Kept apart from the environment (``PYTHONPYCACHEPREFIX``), so the runs "as found" stay as
    found. The standard library and the environment's packages are compiled on the first call
    (about a minute on 2 cores), the project's sources (``src`` and the plugins', or
    ``sources``) on every call (Python recompiles a module whose source is newer than its
    bytecode).
    """
    paths = [str(s) for s in sources or [ROOT / "src", *sorted(ROOT.glob("plugins/*/src"))]]
    done = cache / ".libraries-compiled"
    if not done.exists():
        print(f"compiling bytecode into {cache} (once) ...", flush=True)
        paths += [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,  # a few test modules of the standard library do not compile: no matter
    )
    cache.mkdir(parents=True, exist_ok=True)
    done.touch()
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", metavar="REV", help="also run the src of this revision")
    parser.add_argument("--compiled", action="store_true", help="also with bytecode compiled")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench-startup")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    big = work / f"candles-{args.bars}-{args.seed}.csv"
    write_candles(big, args.bars, args.seed)
    tiny = work / f"candles-{TINY}.csv"
    if not tiny.exists():
        with big.open(encoding="utf-8") as handle:
            tiny.write_text("".join(handle.readline() for _ in range(TINY + 1)), encoding="utf-8")
    configs = {}
    for name, candles in (("tiny", tiny), ("big", big)):
        configs[name] = work / f"{name}.yaml"
        configs[name].write_text(CONFIG.format(candles=candles), encoding="utf-8")

    trees: dict[str, Path | None] = {"this tree": None}
    if args.against:
        tree = work / f"src-{args.against.replace('/', '_')}"
        subprocess.run(["rm", "-rf", str(tree)], check=True)
        tree.mkdir()
        git = ["git", "-C", str(ROOT), "archive", args.against, "src"]
        archive = subprocess.run(git, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        trees[args.against] = tree / "src"
    modes: dict[str, dict[str, str]] = {"as found": dict(os.environ)}
    if args.compiled:
        sources = [ROOT / "src", *sorted(ROOT.glob("plugins/*/src"))]
        sources += [src for src in trees.values() if src is not None]
        modes["compiled"] = compiled_env(work / "pycache", sources)

    python = sys.executable
    tradekit = str(Path(python).parent / "tradekit")
    out = ["--output", str(work / "out")]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        f"backtest, {TINY} bars": [tradekit, "backtest", str(configs["tiny"]), *out],
        f"read {args.bars:,} bars": [python, "-c", READ, str(big)],
        "  pyarrow read_csv alone": [python, "-c", ARROW, str(big)],
        f"backtest, {args.bars:,} bars": [tradekit, "backtest", str(configs["big"]), *out],
    }
    print(f"{args.runs} runs each; min and median wall seconds, min and median CPU seconds")
    for label, command in commands.items():
        for mode, mode_env in modes.items():
            results: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
            for _ in range(args.runs):
                for tree, src in trees.items():  # interleaved: both see the same machine
                    env = dict(mode_env)
                    if src is not None:
                        env["PYTHONPATH"] = str(src)
                    results[tree].append(timed(command, env, work / "stderr.txt"))
            for tree, runs in results.items():
                print(f"{label:<26} {mode:<9} {tree:<10} {figure(runs)}", flush=True)


if __name__ == "__main__":
    main()
