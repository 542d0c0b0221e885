"""Uses the fixtures tradekit's pytest plugin gives plugin authors (asked for in conftest.py)."""

from __future__ import annotations

from tradekit_momentum.strategy import Momentum


def test_momentum_trades(random_bars, backtest) -> None:  # type: ignore[no-untyped-def]
    result = backtest(lambda _market: Momentum(Momentum.Config()), random_bars(3000))
    reasons = {f.reason for f in result.fills}
    assert "entry" in reasons
    assert reasons & {"stop_loss", "take_profit"}
