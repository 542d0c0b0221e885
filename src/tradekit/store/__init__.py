"""Storage: SQLAlchemy Core tables, the :class:`Store`, alembic migrations in the package.

SQLite (WAL) is the default; any SQLAlchemy URL works, PostgreSQL included. Names are imported
lazily so ``import tradekit.store.cli`` (and ``tradekit --help``) does not load SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradekit.store.async_store import AsyncStore
    from tradekit.store.candles import StoreCandleSource, open_store_candle_source, save_bars
    from tradekit.store.engine import DEFAULT_URL, make_engine
    from tradekit.store.retry import RetryPolicy
    from tradekit.store.schema import check_schema, upgrade
    from tradekit.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "AsyncStore",
    "RetryPolicy",
    "Store",
    "StoreCandleSource",
    "check_schema",
    "make_engine",
    "open_store_candle_source",
    "save_bars",
    "upgrade",
]

_WHERE = {
    "StoreCandleSource": "candles",
    "open_store_candle_source": "candles",
    "save_bars": "candles",
    "DEFAULT_URL": "engine",
    "make_engine": "engine",
    "check_schema": "schema",
    "upgrade": "schema",
    "AsyncStore": "async_store",
    "RetryPolicy": "retry",
    "Store": "store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
