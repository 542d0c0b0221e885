"""Helpers for testing tradekit plugins: bar factories and a one-call backtest.

The pytest plugin in :mod:`tradekit.testing.pytest_plugin` exposes them as fixtures.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from tradekit.backtest import BacktestResult, run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams
from tradekit.interfaces import RiskRule, Strategy
from tradekit.models import Bar

__all__ = ["backtest_strategy", "random_walk_bars"]

HOUR_MS = 3_600_000


def random_walk_bars(
    n: int,
    market: str = "KRW-BTC",
    *,
    seed: int = 7,
    start_ms: int = 1_600_000_000_000 - 1_600_000_000_000 % HOUR_MS,
    step_ms: int = HOUR_MS,
    price: float = 50_000_000.0,
) -> list[Bar]:
    """``n`` valid, reproducible bars following a random walk (whole-KRW prices)."""
    rng = random.Random(seed)
    bars = []
    close = price
    for i in range(n):
        open_ = close
        close = max(1000.0, round(open_ * (1 + rng.gauss(0, 0.01))))
        high = max(open_, close) + round(abs(rng.gauss(0, 0.004)) * open_)
        low = max(1.0, min(open_, close) - round(abs(rng.gauss(0, 0.004)) * open_))
        volume = round(rng.lognormvariate(0, 0.8), 4)
        bars.append(Bar(market, start_ms + i * step_ms, open_, high, low, close, volume))
    return bars


def backtest_strategy(
    strategy_factory: Callable[[str], Strategy],
    bars: Sequence[Bar],
    markets: Sequence[str] = ("KRW-BTC",),
    risk_rules: Sequence[RiskRule] | None = None,
    **params: Any,
) -> BacktestResult:
    """Run a strategy over ``bars`` with the default risk chain and venue parameters."""
    rules: Sequence[RiskRule] = risk_rules or [
        DailyLossLimit(DailyLossLimit.Config()),
        PositionSize(PositionSize.Config()),
    ]
    return run_bars(bars, list(markets), strategy_factory, rules, EngineParams(**params))
