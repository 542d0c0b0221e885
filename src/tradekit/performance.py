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
    import numpy as np

    from tradekit.numpy_columns import float_column

    values = float_column(equity)
    if not len(values):
        return 0.0
    peak = np.maximum.accumulate(values)
    np.maximum(peak, values[0] if start is None else start, out=peak)
    falls = peak - values
    with np.errstate(divide="ignore", invalid="ignore"):
        falls /= peak  # the same operations, value by value, as a loop would do
    if peak[0] <= 0:  # a peak of zero or less is no base for a fraction
        falls = falls[peak > 0]
    return max(float(falls.max()), 0.0) if len(falls) else 0.0


def sharpe(equity: Sequence[float], start: float, period_ms: int) -> float | None:
    """Annualised Sharpe ratio of per-period returns (risk-free rate 0, sample deviation).

    None when there are fewer than two returns or they do not vary.
    """
    import numpy as np

    from tradekit.numpy_columns import float_column

    values = float_column(equity)
    n = len(values)
    if n < 2:
        return None
    returns = np.empty(n)
    returns[0] = values[0] / start if start else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(values[1:], values[:-1], out=returns[1:])
    returns -= 1.0
    if not values[:-1].all():
        returns[1:][values[:-1] == 0] = 0.0  # no return on nothing
    squares = returns * returns
    # Cumulative sums add in order, one value after another: the same total, to the last
    # bit, as a plain loop (np.sum adds pairwise, which differs in the last bits).
    total = float(np.cumsum(returns, out=returns)[-1])
    total_sq = float(np.cumsum(squares, out=squares)[-1])
    mean = total / n
    variance = (total_sq - n * mean * mean) / (n - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / period_ms)


def summarize_trades(trades: Sequence[TradeRecord]) -> dict[str, float | int | None]:
    """Trades, win rate, profit factor and average trade return."""
    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p <= 0]
    gross_loss = sum(losses)
    # TradeRecord.return_, from the P&L at hand rather than a second time from the record.
    returns = [p / t.cost if t.cost else 0.0 for p, t in zip(pnls, trades, strict=True)]
    return {
        "trades": len(trades),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / len(trades) if trades else None,
        "profit_factor": sum(wins) / gross_loss if gross_loss > 0 else None,
        "average_trade_return": sum(returns) / len(trades) if trades else None,
    }
