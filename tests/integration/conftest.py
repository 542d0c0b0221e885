"""Fixtures shared by the integration tests: one real PostgreSQL server for the whole session.

PostgreSQL comes from ``TRADEKIT_TEST_POSTGRES_URL`` (``.ci/postgres.sh`` prints it); without
it, a throwaway server is started with the same script and stopped at the end of the session.
Only when neither works are the PostgreSQL cases skipped, with the reason. Every test gets a
fresh database named ``<postgres_db_prefix><random>``; a folder overrides the prefix fixture so
a leftover database tells which tests made it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from postgres_harness import PostgresServer, start_postgres


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
def postgres_db_prefix() -> str:
    """How the names of this folder's test databases begin."""
    return "tk_"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, postgres_db_prefix: str) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"{postgres_db_prefix}{uuid.uuid4().hex[:16]}"
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
