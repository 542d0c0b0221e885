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
from tradekit.interfaces import RiskRule, ScansCandles, Strategy
from tradekit.models import Bar, Signal

__all__ = ["assert_scan_matches_on_bar", "backtest_strategy", "random_walk_bars"]

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


def assert_scan_matches_on_bar(
    make_strategy: Callable[[], Strategy], bars: Sequence[Bar]
) -> dict[int, Signal]:
    """Check a :class:`~tradekit.interfaces.ScansCandles` strategy against its own ``on_bar``.

    ``bars`` are one market's, oldest first. Two fresh strategies are made: one is fed every
    bar through ``on_bar``, the other scans the same bars as columns. Returns the signals by
    row.

    Raises:
        AssertionError: naming the first row where the scan and ``on_bar`` disagree.
    """
    from tradekit.engine.candle_run import BarColumns

    scanner = make_strategy()
    if not isinstance(scanner, ScansCandles):
        raise AssertionError(f"{type(scanner).__name__} has no signal_rows/signal_at")
    by_bar = make_strategy()
    expected = {row: s for row, bar in enumerate(bars) if (s := by_bar.on_bar(bar)) is not None}
    candles = BarColumns(bars[0].market if bars else "", bars)
    rows = list(scanner.signal_rows(candles))
    if rows != sorted(set(rows)):
        raise AssertionError(f"signal_rows must be ascending without repeats, got {rows[:20]}")
    for row in sorted(set(rows) | set(expected)):
        if row not in expected:
            raise AssertionError(f"row {row}: the scan signals, on_bar does not")
        if row not in rows:
            raise AssertionError(f"row {row}: on_bar signals {expected[row]!r}, the scan does not")
        found = scanner.signal_at(candles, row)
        if found != expected[row]:
            raise AssertionError(f"row {row}: the scan gives {found!r}, on_bar {expected[row]!r}")
    return expected
