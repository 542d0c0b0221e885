"""Alembic environment for tradekit's store; configured in code by ``tradekit.store.schema``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from tradekit.store.engine import SQLITE_BEGIN, make_engine
from tradekit.store.tables import metadata


def _run() -> None:
    engine = context.config.attributes.get("engine")
    owned = engine is None
    if owned:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no engine or sqlalchemy.url given to the tradekit migrations")
        engine = make_engine(url)
    assert isinstance(engine, Engine)
    try:
        with engine.connect() as connection:
            # Take SQLite's write lock up front: two processes starting on one new file wait
            # for each other instead of failing half-way through the DDL.
            connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("tradekit migrations run online only")
_run()
