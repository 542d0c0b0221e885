"""Built-in plugin: risk rules, the replay exchange, the CSV, Parquet and store candle readers
and the log notifier.

Registered through the same hooks as third-party plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekit.hookspecs import hookimpl

if TYPE_CHECKING:
    from tradekit.interfaces import CandleSource, Exchange, Notifier, RiskRule


@hookimpl
def register_risk_rules() -> list[type[RiskRule]]:
    from tradekit.builtin.risk import DailyLossLimit, PositionSize

    return [PositionSize, DailyLossLimit]


@hookimpl
def register_exchanges() -> list[type[Exchange]]:
    from tradekit.builtin.replay import ReplayExchange

    return [ReplayExchange]


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    from tradekit.builtin.log_notifier import LogNotifier

    return [LogNotifier]


@hookimpl(specname="open_candle_source")
def open_store_candle_source(uri: str) -> CandleSource | None:
    """Candles stored in a tradekit database (``sqlite:///candles.db``, ``postgresql://...``)."""
    if "://" not in uri:  # a file path: skip importing SQLAlchemy
        return None
    from tradekit.store.candles import open_store_candle_source as open_source

    return open_source(uri)


@hookimpl(trylast=True)
def open_candle_source(uri: str) -> CandleSource | None:
    """A Parquet file (by its extension or its content), else a ``.csv`` file."""
    from tradekit.builtin.parquet_candles import open_parquet_source

    source = open_parquet_source(uri)
    if source is not None:
        return source
    from tradekit.builtin.csv_source import open_csv_source

    return open_csv_source(uri)
