"""Schema revisions: alembic migrations shipped in the package, configured in code."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from loguru import logger
from sqlalchemy.engine import URL, Engine

from tradekit.errors import StorageError
from tradekit.store.engine import make_engine, safe_url
from tradekit.store.tables import metadata

__all__ = [
    "UPGRADE_COMMAND",
    "alembic_config",
    "check_schema",
    "current_revision",
    "head_revision",
    "upgrade",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "tradekit db upgrade CONFIG"


def alembic_config(engine: Engine | None = None) -> Config:
    """An alembic :class:`~alembic.config.Config` for the shipped migrations (no ini file).

    Args:
        engine: the database to migrate; ``env.py`` takes its connection from here.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Keep alembic from reading logging settings from a file that does not exist.
    config.attributes["configure_logger"] = False
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest revision this version of tradekit knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one migration
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """Migrate a database to ``revision`` (the newest by default), creating it if empty.

    Args:
        url: a SQLAlchemy URL or an engine (left open; a URL's engine is disposed).
        revision: the alembic revision to reach.

    Raises:
        StorageError: the database cannot be reached or a migration fails.
    """
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), revision)
        after = current_revision(engine)
        if after != before:
            logger.info(
                "{}: schema {} -> {}", safe_url(engine.url), before or "(new database)", after
            )
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot upgrade {safe_url(engine.url)}: {exc}") from exc
    finally:
        if engine is not url:
            engine.dispose()


def check_schema(engine: Engine) -> None:
    """Make sure the database is at the schema this tradekit expects; start-up check.

    A new, empty database is created at the newest revision. A database at an older revision
    must be upgraded with ``tradekit db upgrade CONFIG`` first; one at a newer revision needs a
    newer tradekit. Neither is changed here: a running bot never migrates behind your back.

    Raises:
        StorageError: the database is behind or ahead, holds unrelated tables, or cannot be
            reached.
    """
    where = safe_url(engine.url)
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    try:
        current = current_revision(engine)
        if current is None:
            tables = set(sa.inspect(engine).get_table_names())
            ours = tables & set(metadata.tables)
            if ours:
                raise StorageError(
                    f"{where} has tradekit tables ({', '.join(sorted(ours))}) but no schema "
                    "revision; it was not created by tradekit's migrations"
                )
            upgrade(engine)
            return
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot open the store {where}: {exc}") from exc
    if current == head:
        return
    try:
        script.get_revision(current)
    except Exception:  # alembic raises several kinds for a revision it does not know
        raise StorageError(
            f"{where} is at schema revision {current}, newer than this tradekit knows "
            f"(head {head}); upgrade tradekit (pip install -U tradekit)"
        ) from None
    raise StorageError(
        f"{where} is at schema revision {current}, behind {head}; run `{UPGRADE_COMMAND}`"
    )
