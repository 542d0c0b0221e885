"""Helpers of the ``tradekit optimize`` tests: the real script, a config over real candles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("tradekit")
REAL_CANDLES = ROOT / "examples" / "data" / "bithumb_btc_krw_1h.csv"
#: About three months of hours: enough trades per trial, quick trials.
SLICE_ROWS = 2400


def tradekit(
    *args: str | Path, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``tradekit`` script."""
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def popen_tradekit(*args: str | Path) -> subprocess.Popen[str]:
    """Start the real ``tradekit`` script without waiting for it."""
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    return subprocess.Popen(
        [str(SCRIPT), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def base_config(optimize: dict[str, Any]) -> dict[str, Any]:
    """A backtest config over ``data/btc.csv`` with the given ``optimize:`` block."""
    return {
        "mode": "backtest",
        "markets": ["KRW-BTC"],
        "timeframe": "1h",
        "strategy": {"use": "breakout", "lookback": 20, "volume_factor": 1.5},
        "risk": [
            {"use": "daily_loss_limit", "limit": 0.05},
            {"use": "position_size", "fraction": 0.05},
        ],
        "backtest": {"data": {"KRW-BTC": "data/btc.csv"}, "initial_cash": 10_000_000},
        "optimize": optimize,
    }


DEFAULT_OPTIMIZE: dict[str, Any] = {
    "objective": "sharpe",
    "min_trades": 1,
    "train_fraction": 0.7,
    "space": {
        "strategy.lookback": {"int": [10, 40]},
        "strategy.stop_loss": {"float": [0.01, 0.03]},
        "strategy.volume_factor": {"choice": [1.2, 1.5, 2.0]},
    },
}
