"""Fixtures for the store tests: a SQLite file per test and, when possible, a real PostgreSQL.

PostgreSQL comes from ``TRADEKIT_TEST_POSTGRES_URL`` (``.ci/postgres.sh`` prints it); without
it, a throwaway server is started with the same script and stopped at the end of the session.
Only when neither works are the PostgreSQL cases skipped, with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_postgres import PostgresServer, start_postgres

from tradekit.store import Store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A reachable PostgreSQL server (skips the test when none can be had)."""
    server, problems = start_postgres(os.environ.get("TRADEKIT_TEST_POSTGRES_URL"))
    if server is None:
        pytest.skip("no PostgreSQL server: " + "; ".join(problems))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"tk_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield (
            sa.make_url(postgres_server.url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a new SQLite file (not created yet)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """A new, empty database on each backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store at schema head on each backend."""
    with Store.open(store_url) as opened:
        yield opened
