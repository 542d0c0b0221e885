"""Fixtures for the Slack plugin's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhook_server import WebhookServer


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
