"""The built-in log notifier: what it logs, at which level."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tradekit import log
from tradekit.builtin.log_notifier import LogNotifier, LogNotifierConfig
from tradekit.events import AccountSnapshot, EngineStopped, Paused


@pytest.fixture
def sink() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    log.setup_logging("INFO", sink=buffer)
    yield buffer
    log.setup_logging("INFO")


@pytest.mark.anyio
async def test_events_at_info_snapshots_only_at_debug(sink: io.StringIO) -> None:
    notifier = LogNotifier(LogNotifierConfig())
    await notifier.notify(Paused(1))
    await notifier.notify(AccountSnapshot(2, ("KRW-BTC",), 10_000_000.0, ()))
    text = sink.getvalue()
    assert "INFO" in text
    assert "paused: new entries paused by api (exits keep working)" in text
    assert "paper_account" not in text


@pytest.mark.anyio
async def test_kinds_limit_what_is_logged(sink: io.StringIO) -> None:
    notifier = LogNotifier(LogNotifierConfig(kinds=["stopped"]))
    await notifier.notify(Paused(1))
    await notifier.notify(EngineStopped(2, "shutdown"))
    lines = sink.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("stopped: the bot stopped (shutdown)")
