"""pytest plugin: the ``fake_bithumb`` fixture, loaded on request.

Ask for it in your project's top-level ``conftest.py``:
``pytest_plugins = ["tradekit_bithumb.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradekit_bithumb.testing.server import FakeBithumb


@pytest.fixture
def fake_bithumb() -> Iterator[FakeBithumb]:
    """A started :class:`~tradekit_bithumb.testing.FakeBithumb`, stopped after the test.

    It has ``base_url``, ``ws_url``, ``api_key`` and ``api_secret``, 10,000,000 KRW, markets
    KRW-BTC, KRW-ETH and KRW-XRP without prices (call ``set_price`` first), and ``faults``.
    The test fails if the fake itself crashed while answering (see ``server.errors``).
    """
    with FakeBithumb() as server:
        yield server
    if server.errors:
        pytest.fail(f"the fake Bithumb server crashed: {server.errors!r}")
