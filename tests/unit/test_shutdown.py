"""`run_until_stopped` in-process: what it returns and raises, and the second-Ctrl-C rule."""

from __future__ import annotations

import signal
from typing import NoReturn

import anyio
import anyio.lowlevel
import pytest

from tradekit.runner.shutdown import _Stopper, run_until_stopped


class ForcedQuit(Exception):
    pass


def fake_force_quit(code: int) -> NoReturn:
    raise ForcedQuit(code)


def test_returns_when_main_returns_and_restores_the_handlers() -> None:
    ran: list[str] = []

    async def main() -> None:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # installed meanwhile
        ran.append("main")

    anyio.run(run_until_stopped, main)
    assert ran == ["main"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_main_s_error_comes_out_as_raised_not_in_a_group() -> None:
    async def main() -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        anyio.run(run_until_stopped, main)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def stopper() -> tuple[_Stopper, list[str]]:
    cancelled: list[str] = []
    stop = _Stopper(lambda: cancelled.append("main"), fake_force_quit, second_ctrl_c_after=1.0)
    return stop, cancelled


def test_the_first_signal_cancels_later_sigterms_are_ignored() -> None:
    stop, cancelled = stopper()
    stop.received(signal.SIGTERM, 10.0)
    assert cancelled == ["main"]
    for at in (10.1, 12.0, 100.0):
        stop.received(signal.SIGTERM, at)  # never a force-quit
    assert cancelled == ["main"]


def test_a_sigint_within_a_second_of_the_first_is_a_duplicate() -> None:
    stop, cancelled = stopper()
    stop.received(signal.SIGINT, 10.0)
    assert cancelled == ["main"]
    stop.received(signal.SIGINT, 10.2)  # uv forwards 200 ms late
    stop.received(signal.SIGINT, 10.99)
    with pytest.raises(ForcedQuit, match="130"):
        stop.received(signal.SIGINT, 11.0)


def test_after_a_sigterm_the_first_sigint_starts_the_window() -> None:
    stop, _ = stopper()
    stop.received(signal.SIGTERM, 10.0)
    stop.received(signal.SIGINT, 20.0)  # one Ctrl-C: not a second one
    stop.received(signal.SIGTERM, 20.5)
    with pytest.raises(ForcedQuit):
        stop.received(signal.SIGINT, 21.5)
