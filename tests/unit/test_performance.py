"""summary.json's drawdown and Sharpe ratio: the figures of a plain loop, to the last bit."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from tradekit.performance import YEAR_MS, max_drawdown, sharpe

H = 3_600_000


def _curve(n: int, seed: int) -> list[float]:
    """An equity curve as a backtest makes it: long flat stretches between trades."""
    rng = random.Random(seed)
    value, out = 10_000_000.0, []
    while len(out) < n:
        moving = rng.random() < 0.3
        for _ in range(rng.randint(1, 200)):
            if moving:
                value *= 1 + rng.gauss(0, 0.01)
            out.append(value)
    return out[:n]


def _loop_max_drawdown(equity: list[float], start: float) -> float:
    peak, worst = start, 0.0
    for value in equity:
        if value > peak:
            peak = value
        elif peak > 0 and (peak - value) / peak > worst:
            worst = (peak - value) / peak
    return worst


def _loop_sharpe(equity: list[float], start: float, period_ms: int) -> float | None:
    prev, total, total_sq = start, 0.0, 0.0
    for value in equity:
        r = value / prev - 1 if prev else 0.0
        total += r
        total_sq += r * r
        prev = value
    n = len(equity)
    mean = total / n
    variance = (total_sq - n * mean * mean) / (n - 1)
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / period_ms) if variance > 0 else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_equal_a_plain_loops_exactly(seed: int) -> None:
    values = _curve(50_000, seed)
    for equity in (values, array("d", values)):
        assert max_drawdown(equity, 10_000_000.0) == _loop_max_drawdown(values, 10_000_000.0)
        assert max_drawdown(equity) == _loop_max_drawdown(values, values[0])
        # The returns are added one after another, not pairwise: not even the last bit moves.
        assert sharpe(equity, 10_000_000.0, H) == _loop_sharpe(values, 10_000_000.0, H)


def test_a_start_above_every_value_is_the_first_peak() -> None:
    assert max_drawdown([90.0, 80.0, 120.0, 60.0], 100.0) == pytest.approx(0.5)
    assert max_drawdown([90.0, 80.0], 100.0) == pytest.approx(0.2)
    assert max_drawdown([], 100.0) == 0.0
    assert max_drawdown([100.0, 101.0, 102.0]) == 0.0


def test_nothing_to_divide_by_is_no_drawdown_and_no_return() -> None:
    assert max_drawdown([0.0, 0.0, 5.0, 4.0], 0.0) == pytest.approx(0.2)
    assert sharpe([0.0, 1.0, 2.0], 0.0, H) == _loop_sharpe([0.0, 1.0, 2.0], 0.0, H)


def test_too_few_or_unvarying_returns_have_no_sharpe() -> None:
    assert sharpe([101.0], 100.0, H) is None
    assert sharpe([100.0] * 10, 100.0, H) is None
