"""The core with the bar fill model and with a trade-driven market port decides the same.

The second port stands in for live execution: bars arrive as trades one price tick apart
(open -> low -> high -> close), exits are watched on every trade, and a market order fills at
once at the last trade's price, as an exchange's market order would. Its decisions (entries,
exit reasons, bars) and fills must equal the backtest's within one step and one tick.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tradekit_bithumb.testing import bar_path
from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.backtest import run_bars
from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.ports import OrderRequest, OrderSink
from tradekit.engine.rules import KRW_TICKS, VenueRules
from tradekit.models import Bar, Fill, Trade

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
MARKET = "KRW-BTC"
PARAMS = EngineParams(quantity_decimals=4, price_ticks=KRW_TICKS, check_cash=True)
TICK = 100.0  # the grid of the prices below (100,000 - 500,000 won)


class MarketPort:
    """Fills every request at once at the current price (exits and entries alike)."""

    def __init__(self) -> None:
        self.price = 0.0
        self.time_ms = 0
        self.sink: OrderSink | None = None

    def bind(self, sink: OrderSink) -> None:
        self.sink = sink

    def submit(self, request: OrderRequest) -> None:
        assert self.sink is not None
        fee = self.price * request.quantity * PARAMS.fee_rate
        fill = Fill(
            self.time_ms,
            request.market,
            request.side,
            self.price,
            request.quantity,
            fee,
            request.reason,
        )
        self.sink.on_order_result(request, (fill,))

    def on_bar(self, bar: Bar) -> None:
        pass

    def discard(self) -> None:
        pass


def core(port: MarketPort | None = None) -> TradingCore:
    return TradingCore(
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config(fraction=0.3))],
        PARAMS,
        port=port,
        rules={MARKET: VenueRules(4, KRW_TICKS)},
    )


def live_fills(bars: Sequence[Bar]) -> list[Fill]:
    port = MarketPort()
    trader = core(port)
    trader.start()
    for i, b in enumerate(bars):
        for price in bar_path(b.open, b.high, b.low, b.close):
            port.price, port.time_ms = float(price), b.time_ms
            trader.on_trade(Trade(MARKET, b.time_ms, float(price), 0.01))
        if i + 1 == len(bars):
            break  # an entry decided on the last bar has no next open (the backtest drops it)
        # The bar closes when the next one opens: a market buy then fills at that open.
        port.price, port.time_ms = bars[i + 1].open, bars[i + 1].time_ms
        trader.step(b)
    return trader.fills


@st.composite
def walks(draw: st.DrawFn) -> list[Bar]:
    n = draw(st.integers(30, 120))
    close = 300_000.0
    bars = []
    for i in range(n):
        o = close
        c = max(100_000.0, o + TICK * draw(st.integers(-60, 60)))
        h = max(o, c) + TICK * draw(st.integers(0, 30))
        lo = min(o, c) - TICK * draw(st.integers(0, 30))
        volume = draw(st.sampled_from([1.0, 1.2, 4.0]))
        bars.append(Bar(MARKET, T0 + i * HOUR, o, h, lo, c, volume))
        close = c
    return bars


@settings(max_examples=100, deadline=None)
@given(walks())
def test_trade_driven_market_port_makes_the_backtests_decisions(bars: list[Bar]) -> None:
    backtest = run_bars(
        bars,
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig(lookback=5)),
        [DailyLossLimit(DailyLossLimit.Config()), PositionSize(PositionSize.Config(fraction=0.3))],
        PARAMS,
    )
    expected = [f for f in backtest.fills if f.reason != "end_of_data"]
    live = live_fills(bars)
    assert [(f.time_ms, f.side, f.reason) for f in live] == [
        (f.time_ms, f.side, f.reason) for f in expected
    ]
    for sim, real in zip(expected, live, strict=True):
        assert abs(real.price - sim.price) <= TICK, (sim, real)
        assert abs(real.quantity - sim.quantity) <= 1e-4 + 1e-9, (sim, real)


def test_the_path_reaches_every_tick_so_a_stop_fills_on_its_grid_price() -> None:
    path = bar_path(Decimal(300_000), Decimal(300_500), Decimal(299_000), Decimal(300_200))
    assert min(path) == 299_000
    assert max(path) == 300_500
    assert all(abs(a - b) == 100 for a, b in itertools.pairwise(path))
