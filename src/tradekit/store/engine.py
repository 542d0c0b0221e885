"""Engines for store URLs: SQLite in WAL mode by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from tradekit.errors import StorageError

__all__ = ["DEFAULT_URL", "SQLITE_BEGIN", "make_engine", "safe_url"]

DEFAULT_URL = "sqlite:///tradekit.db"

#: Execution option naming how a SQLite transaction begins (``"IMMEDIATE"`` for writes).
SQLITE_BEGIN = "tradekit_sqlite_begin"


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid database URL>"


def make_engine(
    url: str | URL = DEFAULT_URL, *, busy_timeout_ms: int = 5000, **kwargs: Any
) -> Engine:
    """Create an engine for a store URL.

    SQLite connections get ``journal_mode=WAL`` (readers never block the writer),
    ``synchronous=NORMAL`` (durable at every checkpoint, fast commits), ``busy_timeout`` and
    ``foreign_keys=ON``. Transactions are begun explicitly so that writes can take the write
    lock up front (``BEGIN IMMEDIATE``) and wait for it, instead of failing half-way.

    Args:
        url: any SQLAlchemy URL, e.g. ``sqlite:///tradekit.db`` or
            ``postgresql+psycopg://user@host/db``.
        busy_timeout_ms: how long SQLite waits for a lock before reporting it.
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    Raises:
        StorageError: the URL is malformed or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            # The pool hands a connection to one thread at a time; the async wrapper runs
            # calls in worker threads, so the same connection may be used by several.
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("check_same_thread", False)
            engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
            _configure_sqlite(engine, busy_timeout_ms)
        else:
            kwargs.setdefault("pool_pre_ping", True)
            engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StorageError(f"cannot use database URL {safe_url(url)}: {exc}") from None
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed order row survives a power cut, not only a process crash
            # (NORMAL may lose the last commits). Order writes are few, so the fsync is cheap.
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "")
        if mode not in ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
