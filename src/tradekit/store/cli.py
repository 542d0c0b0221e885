"""``tradekit db``: database commands (attached to the main CLI by ``tradekit.cli``)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["db", "storage_url"]

_CONFIG = click.Path(exists=True, dir_okay=False, path_type=Path)


def storage_url(config: Path) -> str:
    """The store URL of a config file (``storage.url``, ``sqlite:///tradekit.db`` by default).

    The file is read and validated like every other command does, so ``${DATABASE_URL}`` works
    and a mistake anywhere in it is reported the same way.

    Raises:
        ConfigError: the config file is invalid.
    """
    from tradekit.cli_config import load_config

    url: str = load_config(config).storage.url
    return url


@click.group("db")
def db() -> None:
    """Manage the database (schema migrations)."""


@db.command("upgrade")
@click.argument("config", type=_CONFIG)
@click.option("--revision", default="head", show_default=True, help="Revision to migrate to.")
def upgrade_command(config: Path, revision: str) -> None:
    """Create or migrate the database named by CONFIG's storage.url."""
    from tradekit.store.engine import make_engine, safe_url
    from tradekit.store.schema import current_revision, upgrade

    url = storage_url(config)
    engine = make_engine(url)
    try:
        upgrade(engine, revision)
        reached = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)}: at schema revision {reached}")


@db.command("current")
@click.argument("config", type=_CONFIG)
def current_command(config: Path) -> None:
    """Show the database's schema revision and the newest one this tradekit knows."""
    from tradekit.store.engine import make_engine, safe_url
    from tradekit.store.schema import current_revision, head_revision

    url = storage_url(config)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)}: revision {current or '(none)'}, head {head_revision()}")
