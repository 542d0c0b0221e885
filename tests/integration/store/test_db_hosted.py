"""`tradekit db upgrade --hosted` and `db current --hosted` migrate the database a hosted bot uses.

Run as a platform runs them: a real `tradekit` process, the config from `TRADEKIT_CONFIG`, the
database from `DATABASE_URL` (in the platform's own `postgresql://` form), while the config's
`storage.url` names another database that must stay untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tradekit.store import check_schema, make_engine
from tradekit.store.schema import current_revision, head_revision

SCRIPT = Path(sys.executable).with_name("tradekit")
CONFIG = (
    "mode: paper\nmarkets: [KRW-BTC]\nexchange: {use: bithumb}\nstrategy: {use: breakout}\n"
    "storage: {url: 'sqlite:///%s'}\n"
)
PASSWORD = "db-hosted-pw-7e3a"  # PostgreSQL's test server trusts 127.0.0.1, so any password works


def platform_url(store_url: str) -> str:
    """``store_url`` as a platform writes it: no driver, and (PostgreSQL) with a password."""
    url = sa.make_url(store_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql", password=PASSWORD)
    return url.render_as_string(hide_password=False)


def tradekit(*args: str, config: Path, database: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TRADEKIT_CONFIG")}
    env["TRADEKIT_CONFIG"] = str(config)
    if database is not None:
        env["DATABASE_URL"] = database
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_db_commands_hosted_use_database_url(store_url: str, tmp_path: Path) -> None:
    configured = tmp_path / "configured.db"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG % configured, encoding="utf-8")
    database = platform_url(store_url)
    head = head_revision()

    before = tradekit("db", "current", "--hosted", config=config, database=database)
    assert before.returncode == 0, before.stderr
    assert f"revision (none), head {head}" in before.stdout

    upgraded = tradekit("db", "upgrade", "--hosted", config=config, database=database)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.endswith(f": at schema revision {head}\n"), upgraded.stdout
    assert PASSWORD not in upgraded.stdout + upgraded.stderr
    assert revision(store_url) == head
    engine = make_engine(store_url)
    try:
        check_schema(engine)  # what the bot checks when it starts
    finally:
        engine.dispose()
    assert not configured.exists()  # the config's storage.url was not touched

    after = tradekit("db", "current", "--hosted", config=config, database=database)
    assert after.returncode == 0, after.stderr
    assert f"revision {head}, head {head}" in after.stdout


def test_without_hosted_database_url_is_ignored(sqlite_url: str, tmp_path: Path) -> None:
    """The flag switches it on, as for `tradekit run`: a plain upgrade keeps the config's."""
    configured = tmp_path / "configured.db"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG % configured, encoding="utf-8")
    result = tradekit("db", "upgrade", config=config, database=sqlite_url)
    assert result.returncode == 0, result.stderr
    assert revision(f"sqlite:///{configured}") == head_revision()
    assert not Path(sa.make_url(sqlite_url).database or "").exists()


def test_hosted_without_database_url_uses_the_config(tmp_path: Path) -> None:
    configured = tmp_path / "configured.db"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG % configured, encoding="utf-8")
    result = tradekit("db", "upgrade", "--hosted", config=config, database=None)
    assert result.returncode == 0, result.stderr
    assert revision(f"sqlite:///{configured}") == head_revision()


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_hosted_sqlite_in_a_missing_folder_is_named(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG % (tmp_path / "configured.db"), encoding="utf-8")
    missing = tmp_path / "no-volume"
    result = tradekit(
        "db", command, "--hosted", config=config, database=f"sqlite:///{missing}/bot.db"
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: invalid configuration: storage.url: the folder of the SQLite database, "
        f"{missing}, does not exist"
    ), result.stderr
    assert "Traceback" not in result.stderr
