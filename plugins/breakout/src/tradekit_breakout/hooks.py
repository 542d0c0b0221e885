"""Hook implementations of tradekit-breakout (imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from tradekit.hookspecs import hookimpl


@hookimpl
def register_strategies() -> list[type[Any]]:
    from tradekit_breakout.strategy import BreakoutStrategy

    return [BreakoutStrategy]
