"""The core builds only the events its listener wants; the fills are the same either way."""

from __future__ import annotations

from tradekit_breakout.strategy import BreakoutConfig, BreakoutStrategy

from tradekit.builtin.risk import DailyLossLimit, PositionSize
from tradekit.engine.core import EngineParams, TradingCore
from tradekit.events import (
    EntryRejected,
    Event,
    FillEvent,
    PositionClosed,
    PositionOpened,
    SignalEvent,
    TradingHalted,
)
from tradekit.testing import random_walk_bars

BARS = random_walk_bars(3_000, seed=3)


def run(event_types: tuple[type[Event], ...] | None) -> tuple[TradingCore, list[Event]]:
    events: list[Event] = []
    core = TradingCore(
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [
            DailyLossLimit(DailyLossLimit.Config(limit=0.005)),
            PositionSize(PositionSize.Config(fraction=0.5)),
        ],
        EngineParams(),
        events.append,
        event_types=event_types,
    )
    core.run(BARS)
    return core, events


def test_only_the_wanted_events_are_emitted_and_fills_do_not_change() -> None:
    every_core, every = run(None)
    kinds = {type(e) for e in every}
    assert {SignalEvent, FillEvent, PositionOpened, PositionClosed} <= kinds
    assert TradingHalted in kinds
    rare_core, rare = run((EntryRejected, TradingHalted))
    built_per_fill = (SignalEvent, FillEvent, PositionOpened, PositionClosed)
    # Those were not even built; the rest (halts, resumptions, rejections) still come.
    assert not [e for e in rare if isinstance(e, built_per_fill)]
    assert rare == [e for e in every if not isinstance(e, built_per_fill)]
    assert TradingHalted in {type(e) for e in rare}
    assert rare_core.fills == every_core.fills
    assert rare_core.trades == every_core.trades
    assert list(rare_core.equity_values) == list(every_core.equity_values)
    assert len(rare_core.fills) > 10


def test_no_listener_builds_nothing_and_trades_the_same() -> None:
    core = TradingCore(
        ["KRW-BTC"],
        lambda _m: BreakoutStrategy(BreakoutConfig()),
        [
            DailyLossLimit(DailyLossLimit.Config(limit=0.005)),
            PositionSize(PositionSize.Config(fraction=0.5)),
        ],
        EngineParams(),
    )
    assert [core._tell_signals, core._tell_fills, core._tell_opened, core._tell_closed] == [
        False
    ] * 4
    core.run(BARS)
    assert core.fills == run(None)[0].fills
