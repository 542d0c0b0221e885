"""Stopping on SIGINT and SIGTERM without a second signal cutting the shutdown short.

`run_until_stopped` keeps its signal handlers installed for the whole run, the graceful
shutdown included (which happens inside ``main`` once it is cancelled; ``main`` shields its own
clean-up). The first SIGINT or SIGTERM cancels ``main``; later ones are logged and ignored, with
one exception: a deliberate second Ctrl-C force-quits.

Signals come in pairs in ordinary use: a process group signalled by systemd or a process
manager reaches both ``uv run`` and the bot, and uv forwards its SIGTERM to the bot; uv also
forwards a second SIGINT, 200 ms late. A SIGINT therefore counts as a deliberate second Ctrl-C
only when it arrives `SECOND_CTRL_C_AFTER` seconds or more after the first SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn

import anyio
from loguru import logger

__all__ = ["FORCE_QUIT_EXIT_CODE", "SECOND_CTRL_C_AFTER", "exit_now", "run_until_stopped"]

SECOND_CTRL_C_AFTER = 1.0
"""Seconds after the first SIGINT from which another SIGINT is a deliberate second Ctrl-C."""
FORCE_QUIT_EXIT_CODE = 130
"""The exit status of a force-quit: 128 + SIGINT, as a shell reports a process killed by Ctrl-C."""


def exit_now(code: int) -> NoReturn:
    """End the process at once with ``code``: no clean-up, what was written is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class _Stopper:
    """What each stop signal does, given the ones before it."""

    def __init__(
        self,
        cancel: Callable[[], None],
        force_quit: Callable[[int], NoReturn],
        second_ctrl_c_after: float,
    ) -> None:
        self.cancel = cancel
        self.force_quit = force_quit
        self.second_ctrl_c_after = second_ctrl_c_after
        self.stopping = False
        self.first_sigint_at: float | None = None

    def received(self, signum: int, now: float) -> None:
        name = signal.Signals(signum).name
        hint = ""
        if signum == signal.SIGINT:
            if self.first_sigint_at is None:
                self.first_sigint_at = now
                hint = "; press Ctrl-C again to force quit"
            elif now - self.first_sigint_at >= self.second_ctrl_c_after:
                logger.error(
                    "second Ctrl-C: force quit; orders still out are settled at the next start"
                )
                self.force_quit(FORCE_QUIT_EXIT_CODE)
        if not self.stopping:
            self.stopping = True
            logger.info(
                "{} received: stopping the bot (finishing the order that is out, storing "
                "everything){}",
                name,
                hint,
            )
            self.cancel()
        else:
            logger.warning(
                "{} received: shutdown is already under way, signal ignored{}", name, hint
            )


async def run_until_stopped(
    main: Callable[[], Awaitable[None]],
    *,
    force_quit: Callable[[int], NoReturn] = exit_now,
    second_ctrl_c_after: float = SECOND_CTRL_C_AFTER,
) -> None:
    """Run ``main`` until it returns, cancelling it on the first SIGINT (Ctrl-C) or SIGTERM.

    The handlers stay installed until ``main`` has returned, so signals during its shutdown are
    logged and ignored instead of killing the process; only a SIGINT at least
    ``second_ctrl_c_after`` seconds after the first one calls ``force_quit(130)``, which must
    not return (the default ends the process at once). Once a signal has stopped ``main``,
    SIGTERM stays ignored after the return: the process is on its way out.

    Raises:
        Exception: whatever ``main`` raised, as it was raised (not in an exception group).
    """
    main_scope = anyio.CancelScope()
    stopper = _Stopper(main_scope.cancel, force_quit, second_ctrl_c_after)
    error: Exception | None = None
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:

        async def watch(received: AsyncIterator[int]) -> None:
            async for signum in received:
                stopper.received(signum, time.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, signals)
            try:
                with main_scope:
                    await main()
            except Exception as exc:
                error = exc
            finally:
                tg.cancel_scope.cancel()
    # Leaving the receiver restored the default handlers; a SIGTERM that arrives late (uv
    # forwards each one it gets) must not turn a clean exit into a kill.
    if stopper.stopping:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if error is not None:
        try:
            raise error
        finally:
            error = None
