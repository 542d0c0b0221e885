"""Fixtures for ``tradekit optimize``: a small slice of the real candles and its config.

PostgreSQL comes from ``TRADEKIT_TEST_POSTGRES_URL`` or a server started with
``.ci/postgres.sh``, as for the store tests (whose helper is reused); without either, the
PostgreSQL test is skipped with the reason.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from optimize_helpers import DEFAULT_OPTIMIZE, REAL_CANDLES, SLICE_ROWS, base_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_postgres import PostgresServer, start_postgres


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    """The first rows of the real BTC/KRW hours (2017)."""
    lines = REAL_CANDLES.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "data" / "btc.csv"
    path.parent.mkdir()
    path.write_text("".join(lines[: SLICE_ROWS + 1]), encoding="utf-8")
    return path


@pytest.fixture
def write_config(tmp_path: Path, candles: Path) -> Callable[..., Path]:
    """``write_config(optimize_block=..., name=...)``: a config file beside the candles."""

    def write(optimize: dict[str, Any] | None = None, name: str = "search.yaml") -> Path:
        path = tmp_path / name
        block = DEFAULT_OPTIMIZE if optimize is None else optimize
        path.write_text(yaml.safe_dump(base_config(block), sort_keys=False), encoding="utf-8")
        return path

    return write


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
    name = f"tk_opt_{uuid.uuid4().hex[:12]}"
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
