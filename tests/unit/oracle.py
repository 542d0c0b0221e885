"""Glue between the engine and the literal spec oracle in ``tests/spec_reference.py``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import BacktestResult, merge_markets, run_bars, run_candles
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.candle_run import BarColumns
from tradekit.engine.core import EngineParams
from tradekit.models import Bar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import spec_reference

Row = tuple[int, str, str, float, float, float, str]


def engine_run(
    bars: Sequence[Bar], markets: Sequence[str], p: spec_reference.Params
) -> BacktestResult:
    config = BreakoutConfig(
        lookback=p.lookback,
        volume_factor=p.volume_factor,
        stop_loss=p.stop_loss,
        take_profit=p.take_profit,
        take_profit_fraction=p.take_profit_fraction,
        trailing_stop=p.trailing_stop,
    )
    by_market = {m: [b for b in bars if b.market == m] for m in markets}

    def rules() -> list[DailyLossLimit | PositionSize]:
        return [
            DailyLossLimit(DailyLossLimit.Config(limit=p.daily_loss_limit)),
            PositionSize(PositionSize.Config(fraction=p.position_size)),
        ]

    params = EngineParams(p.initial_cash, p.fee_rate, p.min_order_krw)
    stepped = run_bars(
        merge_markets(by_market, markets),
        markets,
        lambda _m: BreakoutStrategy(config),
        rules(),
        params,
    )
    # What `tradekit backtest` runs: only the bars that can matter are stepped. It must be
    # the same run in every detail, so every oracle test checks it too.
    candles = [BarColumns(m, by_market[m]) for m in markets]
    skipping = run_candles(candles, markets, lambda _m: BreakoutStrategy(config), rules(), params)
    assert_same_run(skipping, stepped)
    return stepped


def assert_same_run(result: BacktestResult, expected: BacktestResult) -> None:
    """Two backtests that agree in every fill, round trip, equity value and kept event."""
    assert result.fills == expected.fills
    assert result.trades == expected.trades
    assert list(result.equity_times) == list(expected.equity_times)
    assert list(result.equity_values) == list(expected.equity_values)
    assert result.events == expected.events
    assert result.exposed_bars == expected.exposed_bars
    assert result.final_equity == expected.final_equity


def oracle_run(
    bars: Sequence[Bar], markets: Sequence[str], p: spec_reference.Params
) -> spec_reference.Result:
    rows = {
        m: [(b.time_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars if b.market == m]
        for m in markets
    }
    return spec_reference.run(rows, list(markets), p)


def engine_rows(result: BacktestResult) -> list[Row]:
    return [
        (f.time_ms, f.market, f.side.value, f.price, f.quantity, f.fee, f.reason)
        for f in result.fills
    ]
