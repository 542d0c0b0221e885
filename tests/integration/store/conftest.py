"""Fixtures for the store tests: a SQLite file per test and, when possible, a real PostgreSQL.

The PostgreSQL database comes from ``postgres_url`` in ``tests/integration/conftest.py``, which
skips those cases, with the reason, when no server can be had.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tradekit.store import Store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


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
