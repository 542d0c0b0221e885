"""Hooks: register the strategy class (imported lazily to keep start-up fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    from tradekit.interfaces import Strategy


@hookimpl
def register_strategies() -> list[type[Strategy]]:
    from tradekit_momentum.strategy import Momentum

    return [Momentum]
