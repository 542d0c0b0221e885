"""Performance figures of a backtest from its equity curve and round trips.

Not to be confused with :mod:`tradekit.runner.metrics`, the Prometheus metrics of a running bot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tradekit.engine.core import TradeRecord

__all__ = ["max_drawdown", "sharpe", "summarize_trades"]

YEAR_MS = 365 * 24 * 3_600_000


def max_drawdown(equity: Sequence[float], start: float | None = None) -> float:
    """Largest fall from a running peak, as a positive fraction of that peak."""
    peak = start if start is not None else (equity[0] if equity else 0.0)
    worst = 0.0
    for value in equity:
        if value > peak:
            peak = value
        elif peak > 0:
            drawdown = (peak - value) / peak
            if drawdown > worst:
                worst = drawdown
    return worst


def sharpe(equity: Sequence[float], start: float, period_ms: int) -> float | None:
    """Annualised Sharpe ratio of per-period returns (risk-free rate 0, sample deviation).

    None when there are fewer than two returns or they do not vary.
    """
    n = len(equity)
    if n < 2:
        return None
    prev = start
    total = total_sq = 0.0
    for value in equity:
        r = value / prev - 1 if prev else 0.0
        total += r
        total_sq += r * r
        prev = value
    mean = total / n
    variance = (total_sq - n * mean * mean) / (n - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / period_ms)


def summarize_trades(trades: Sequence[TradeRecord]) -> dict[str, float | int | None]:
    """Trades, win rate, profit factor and average trade return."""
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [-t.pnl for t in trades if t.pnl <= 0]
    gross_loss = sum(losses)
    return {
        "trades": len(trades),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / len(trades) if trades else None,
        "profit_factor": sum(wins) / gross_loss if gross_loss > 0 else None,
        "average_trade_return": (sum(t.return_ for t in trades) / len(trades) if trades else None),
    }
