"""Shared fixtures for tradekit's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_CANDLES = ROOT / "examples" / "data" / "bithumb_btc_krw_1h.csv"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def real_candles() -> Path:
    """The real Bithumb BTC/KRW hourly candles shipped with the examples."""
    return REAL_CANDLES
