"""Candles in the store as a :class:`~tradekit.interfaces.CandleSource`, and saving bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe
from tradekit.store.engine import make_engine, safe_url
from tradekit.store.schema import check_schema
from tradekit.store.store import Store

__all__ = ["StoreCandleSource", "is_store_url", "open_store_candle_source", "save_bars"]


def is_store_url(uri: str) -> bool:
    """True when ``uri`` is a SQLAlchemy URL whose dialect is installed."""
    if "://" not in uri:
        return False
    try:
        make_url(uri).get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError):
        return False
    return True


def open_store_candle_source(uri: str) -> StoreCandleSource | None:
    """A candle source over the store at ``uri``; None when ``uri`` is not a database URL.

    Meant for the ``open_candle_source`` hook: CSV paths and other URIs fall through to the
    next reader.
    """
    return StoreCandleSource(uri) if is_store_url(uri) else None


class StoreCandleSource:
    """Bars stored in a tradekit database, e.g. ``sqlite:///candles.db``.

    No connection is held between calls (each read opens and closes its own), so the source
    needs no closing and may be kept as long as you like.

    Args:
        url: a SQLAlchemy URL of a tradekit store.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"StoreCandleSource({safe_url(self.url)!r})"

    def bars(self, market: str, timeframe: Timeframe) -> Iterator[Bar]:
        """Stored bars of ``market`` at ``timeframe``, oldest first.

        Raises:
            DataError: nothing is stored for that market and timeframe.
            StorageError: the database cannot be read or is at another schema revision.
        """
        engine = make_engine(self.url, poolclass=NullPool)
        try:
            check_schema(engine)
            store = Store(engine)
            empty = True
            for bar in store.iter_candles(market, timeframe):
                empty = False
                yield bar
            if empty:
                raise DataError(f"{safe_url(self.url)}: no {timeframe} candles for {market}")
        finally:
            engine.dispose()


def save_bars(url: str, timeframe: Timeframe | str, bars: Iterable[Bar]) -> int:
    """Save downloaded bars to the store at ``url`` (created if new); re-saving is harmless.

    Returns:
        The number of bars written.

    Raises:
        StorageError: the database cannot be written or is at another schema revision.
    """
    with Store.open(url) as store:
        return store.save_candles(timeframe, bars)
