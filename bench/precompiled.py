"""Bytecode compiled ahead, as an installed tradekit runs: for benches that time whole commands.

pip compiles every module it installs (the backtrader environment of
``backtest_vs_backtrader.py`` has its bytecode), and so does the container image
(``UV_COMPILE_BYTECODE=1``). A development environment synced by uv without
``--compile-bytecode``, in a shell that sets ``PYTHONDONTWRITEBYTECODE`` (this project's
machines do), has none and keeps none: every command compiles each module it imports from
source, a third of a second of ``tradekit backtest``'s start-up. A bench that times such a
command compiles the bytecode here first, into a folder of its own (``PYTHONPYCACHEPREFIX``),
so the environment itself is left as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["compiled_env"]


def compiled_env(cache: Path, sources: list[Path] | None = None) -> dict[str, str]:
    """The environment variables under which this Python reads bytecode compiled into ``cache``.

    The standard library and the environment's packages are compiled on the first call (about
    a minute on 2 cores), the project's sources (``src`` and the plugins', or ``sources``) on
    every call (Python recompiles a module whose source is newer than its bytecode).
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
