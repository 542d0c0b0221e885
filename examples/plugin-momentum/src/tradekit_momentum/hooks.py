"""Hooks: register the strategy class (imported lazily to keep start-up fast)."""

from __future__ import annotations

from typing import Any

from tradekit.hookspecs import hookimpl


@hookimpl
def register_strategies() -> list[type[Any]]:
    from tradekit_momentum.strategy import Momentum

    return [Momentum]
