"""Fixtures for ``tradekit optimize``: a small slice of the real candles and its config.

PostgreSQL comes from ``postgres_url`` in ``tests/integration/conftest.py`` (the same server as
the store tests); without one, the PostgreSQL test is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from optimize_helpers import DEFAULT_OPTIMIZE, REAL_CANDLES, SLICE_ROWS, base_config


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


@pytest.fixture
def postgres_db_prefix() -> str:
    """Optimize's study databases are named ``tk_opt_...`` (see tests/integration/conftest.py)."""
    return "tk_opt_"
