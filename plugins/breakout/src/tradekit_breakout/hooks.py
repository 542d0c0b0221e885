"""Hook implementations of tradekit-breakout (imports nothing heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    from tradekit.interfaces import Strategy


@hookimpl
def register_strategies() -> list[type[Strategy]]:
    from tradekit_breakout.strategy import BreakoutStrategy

    return [BreakoutStrategy]
