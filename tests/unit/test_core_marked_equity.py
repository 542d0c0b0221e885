"""What is shown (``marked_equity``) follows trades; what decides (``equity``) stays on closes."""

from __future__ import annotations

from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.engine.rules import VenueRules
from tradekit.models import Bar, Trade
from tradekit.testing import random_walk_bars

MARKET = "KRW-BTC"
BARS = random_walk_bars(3_000, seed=3)


def core() -> TradingCore:
    return TradingCore(
        [MARKET],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [
            DailyLossLimit(DailyLossLimit.Config(limit=0.005)),
            PositionSize(PositionSize.Config(fraction=0.5)),
        ],
        EngineParams(),
        rules={MARKET: VenueRules(quantity_decimals=4)},
    )


def trade(bar: Bar, price: float) -> Trade:
    return Trade(bar.market, bar.time_ms + 60_000, price, 0.01)


def test_trades_between_bars_change_what_is_shown_and_no_decision() -> None:
    plain, watched = core(), core()
    differed = 0
    for bar in BARS:
        plain.step(bar)
        watched.step(bar)
        assert watched.marked_equity() == watched.equity  # no trade since the bar: its close
        watched.note_trade(trade(bar, bar.close * 1.01))
        state = watched.states[MARKET]
        held = (state.position.quantity if state.position else 0.0) + state.remainder
        price = bar.close * 1.01
        assert watched.marked_equity() == watched.cash + held * price
        differed += held > 0
    assert differed > 100, "the bars should hold positions"
    assert watched.fills == plain.fills
    assert list(watched.equity_values) == list(plain.equity_values)


def test_a_trade_seen_before_its_bar_closed_gives_way_to_the_close() -> None:
    c = core()
    for bar in BARS:
        c.note_trade(trade(bar, bar.close * 0.5))  # seen while the bar was forming
        c.step(bar)
        price = c.mark_price(MARKET)
        assert price == bar.close
        (position,) = c.marked_positions() or [None]
        if position is not None:
            assert position.last_price == bar.close
    assert c.marked_equity() == c.equity
