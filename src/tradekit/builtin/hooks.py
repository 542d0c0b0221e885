"""Built-in plugin: risk rules, the CSV candle reader and the log notifier.

Registered through the same hooks as third-party plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    from tradekit.interfaces import CandleSource


@hookimpl
def register_risk_rules() -> list[type[Any]]:
    from tradekit.builtin.risk import DailyLossLimit, PositionSize

    return [PositionSize, DailyLossLimit]


@hookimpl
def register_notifiers() -> list[type[Any]]:
    from tradekit.builtin.log_notifier import LogNotifier

    return [LogNotifier]


@hookimpl(trylast=True)
def open_candle_source(uri: str) -> CandleSource | None:
    from tradekit.builtin.csv_source import open_csv_source

    return open_csv_source(uri)
