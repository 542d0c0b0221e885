"""``tradekit db``: database commands (attached to the main CLI by ``tradekit.cli``)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["db", "storage_url"]

_CONFIG = click.Path(exists=True, dir_okay=False, path_type=Path)
_HOSTED = click.option(
    "--hosted",
    is_flag=True,
    help="As a container service, like 'tradekit run --hosted': DATABASE_URL overrides "
    "storage.url.",
)


def storage_url(config: Path, *, hosted: bool = False) -> str:
    """The store URL of a config file (``storage.url``, ``sqlite:///tradekit.db`` by default).

    The file is read and validated like every other command does, so ``${DATABASE_URL}`` works
    and a mistake anywhere in it is reported the same way. With ``hosted``, ``DATABASE_URL``
    in the environment overrides it as it does for ``tradekit run --hosted``.

    Raises:
        ConfigError: the config file is invalid, or (``hosted``) the folder of its SQLite
            database is missing or not writable.
    """
    from tradekit.cli_config import load_config

    settings = load_config(config)
    if hosted:
        import os

        from tradekit.hosting import hosted_storage

        settings = hosted_storage(settings, os.environ)
    url: str = settings.storage.url
    return url


@click.group("db")
def db() -> None:
    """Manage the database (schema migrations)."""


@db.command("upgrade")
@click.argument("config", type=_CONFIG, envvar="TRADEKIT_CONFIG")
@click.option("--revision", default="head", show_default=True, help="Revision to migrate to.")
@_HOSTED
def upgrade_command(config: Path, revision: str, hosted: bool) -> None:
    """Create or migrate the database named by CONFIG's storage.url.

    CONFIG defaults to $TRADEKIT_CONFIG.
    """
    from tradekit.store.engine import make_engine, safe_url
    from tradekit.store.schema import current_revision, upgrade

    url = storage_url(config, hosted=hosted)
    engine = make_engine(url)
    try:
        upgrade(engine, revision)
        reached = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)}: at schema revision {reached}")


@db.command("current")
@click.argument("config", type=_CONFIG, envvar="TRADEKIT_CONFIG")
@_HOSTED
def current_command(config: Path, hosted: bool) -> None:
    """Show the database's schema revision and the newest one this tradekit knows.

    CONFIG defaults to $TRADEKIT_CONFIG.
    """
    from tradekit.store.engine import make_engine, safe_url
    from tradekit.store.schema import current_revision, head_revision

    url = storage_url(config, hosted=hosted)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"{safe_url(url)}: revision {current or '(none)'}, head {head_revision()}")
