"""Strategies can exit: ``sell`` closes the market's position; an unknown action is an error."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tradekit.backtest import run_bars
from tradekit.builtin.risk import PositionSize
from tradekit.engine.core import EngineParams
from tradekit.errors import StrategyError
from tradekit.models import Bar, ExitPlan, Signal

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
NO_EXITS = ExitPlan()


class Scripted:
    """Signals ``script[i]`` on bar ``i`` (None: nothing)."""

    name: ClassVar[str] = "scripted"
    Config: ClassVar[type] = object
    warmup_bars = 0

    def __init__(self, script: dict[int, str], plan: ExitPlan = NO_EXITS) -> None:
        self.script = script
        self.plan = plan
        self.i = -1

    def on_bar(self, bar: Bar) -> Signal | None:
        self.i += 1
        action = self.script.get(self.i)
        if action is None:
            return None
        return Signal(bar.market, bar.time_ms, action, bar.close, self.plan, strategy="scripted")


def bars(n: int) -> list[Bar]:
    return [
        Bar("KRW-BTC", T0 + i * HOUR, 100_000 + i, 100_100 + i, 99_900 + i, 100_000 + i, 1.0)
        for i in range(n)
    ]


def run(script: dict[int, str], n: int = 8, plan: ExitPlan = NO_EXITS) -> list[tuple[int, str]]:
    result = run_bars(
        bars(n),
        ["KRW-BTC"],
        lambda _m: Scripted(script, plan),
        [PositionSize(PositionSize.Config(fraction=0.05))],
        EngineParams(),
    )
    return [((f.time_ms - T0) // HOUR, f.reason) for f in result.fills]


def test_a_sell_signal_closes_the_position_at_the_next_open() -> None:
    assert run({1: "buy", 4: "sell"}) == [(2, "entry"), (5, "signal")]


def test_a_sell_signal_without_a_position_does_nothing() -> None:
    assert run({1: "sell", 3: "buy"}, n=5) == [(4, "entry"), (4, "end_of_data")]


def test_a_sell_signal_never_opens_a_position() -> None:
    assert run({0: "sell", 2: "sell"}) == []


def test_a_signal_carries_its_own_exit_plan() -> None:
    # A stop 0.05% under the entry: the next bar's low (99,903) is under it.
    fills = run({1: "buy"}, plan=ExitPlan(stop_loss=0.0005))
    assert fills[:2] == [(2, "entry"), (2, "stop_loss")]


def test_an_unknown_action_is_a_strategy_error_naming_the_strategy() -> None:
    with pytest.raises(StrategyError, match=r"Scripted.*'short'.*expected 'buy' or 'sell'"):
        run({2: "short"})
