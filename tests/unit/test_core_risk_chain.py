"""The core refuses a risk chain it could not report on, before the first bar."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from tradekit.builtin.risk import PositionSize
from tradekit.engine.core import TradingCore
from tradekit.errors import ConfigError
from tradekit.models import Bar


class _NoHalt:
    """A third-party rule written before ``halted`` joined the RiskRule protocol."""

    name: ClassVar[str] = "old_rule"
    sizes_entries: ClassVar[bool] = False

    @attrs.frozen
    class Config:
        pass

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        pass

    def on_bar_close(self, time_ms: int, equity: float) -> None:
        return None

    def check(self, intent: Any, equity: float) -> Any:
        return intent


class _Quiet:
    def on_bar(self, bar: Bar) -> None:
        return None


def test_a_risk_rule_without_halted_is_refused_at_start_naming_it() -> None:
    rules: list[Any] = [_NoHalt(), PositionSize(PositionSize.Config(fraction=0.05))]
    with pytest.raises(ConfigError, match=r"risk: rule 'old_rule' has no boolean 'halted'"):
        TradingCore(["KRW-BTC"], lambda _m: _Quiet(), rules)  # type: ignore[arg-type,return-value]


def test_the_builtin_rules_pass() -> None:
    core = TradingCore(
        ["KRW-BTC"],
        lambda _m: _Quiet(),
        [PositionSize(PositionSize.Config(fraction=0.05))],  # type: ignore[arg-type,return-value]
    )
    assert [rule.halted for rule in core.risk_rules] == [False]


def test_position_size_keeps_every_other_field_of_the_intent() -> None:
    """PositionSize builds the resized intent field by field (attrs.evolve is slow per call)."""
    import attrs

    from tradekit.builtin.risk import PositionSize
    from tradekit.models import ExitPlan, OrderIntent, Side, Signal

    assert [f.name for f in attrs.fields(OrderIntent)] == [
        "market",
        "side",
        "price",
        "quantity",
        "reason",
        "time_ms",
        "signal",
    ], "a field was added to OrderIntent: PositionSize.check must copy it"
    signal = Signal("KRW-ETH", 7, "buy", 2000.0, ExitPlan(stop_loss=0.02), 0.5, "why", "s")
    intent = OrderIntent("KRW-ETH", Side.BUY, 2000.0, None, "entry", 7, signal)

    class Account:
        cash = equity = 1_000_000.0

        def position(self, market: str) -> None:
            return None

    sized = PositionSize(PositionSize.Config(fraction=0.1)).check(intent, Account())
    assert sized == attrs.evolve(intent, quantity=50.0)
