"""`run_until_stopped` in a real process: signals during the graceful shutdown do not cut it short.

The script's ``main`` takes a while to shut down in a shielded scope, as the bot does, and says
where it is on stdout.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    import anyio

    from tradekit.log import setup_logging
    from tradekit.runner.shutdown import run_until_stopped

    SHUTDOWN_SECONDS = float(sys.argv[1])


    def say(text):
        print(text, flush=True)


    async def main():
        say("started")
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):  # the clean-up, shielded as the bot's is
                say("stopping")
                await anyio.sleep(SHUTDOWN_SECONDS)
                say("stopped")


    setup_logging()
    anyio.run(run_until_stopped, main)
    say("returned")
    time.sleep(0.5)  # a late SIGTERM lands here
    """
)
STOPPING = "stopping the bot (finishing the order that is out, storing everything)"
IGNORED = "shutdown is already under way, signal ignored"
FORCED = "second Ctrl-C: force quit; orders still out are settled at the next start"


class Script:
    """The script running in a subprocess."""

    def __init__(self, path: Path, shutdown_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(path), str(shutdown_seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, marker: str) -> None:
        assert self.proc.stdout is not None
        while marker not in self.lines:
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail(f"the script ended before {marker!r}: {self.proc.communicate()[1]}")
            self.lines.append(line.strip())

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self) -> tuple[int, list[str], str]:
        """Exit status, every stdout line, stderr."""
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.lines + out.split(), err


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[float], Script]]:
    path = tmp_path / "stoppable.py"
    path.write_text(SCRIPT, encoding="utf-8")
    started: list[Script] = []

    def start(shutdown_seconds: float) -> Script:
        script = Script(path, shutdown_seconds)
        started.append(script)
        script.wait_for("started")  # the handlers are installed before main starts
        return script

    yield start
    for script in started:
        if script.proc.poll() is None:
            script.proc.kill()
            script.proc.communicate()


def test_sigterm_twice_finishes_the_shutdown_and_exits_0(
    start: Callable[[float], Script],
) -> None:
    script = start(2)
    script.send(signal.SIGTERM)
    script.wait_for("stopping")
    time.sleep(0.3)
    script.send(signal.SIGTERM)  # during the shutdown: logged, ignored
    script.wait_for("returned")
    script.send(signal.SIGTERM)  # after the return, before the exit: still no kill
    status, lines, err = script.finish()
    assert status == 0, err
    assert lines == ["started", "stopping", "stopped", "returned"]
    assert f"INFO    tradekit.runner.shutdown SIGTERM received: {STOPPING}\n" in err
    assert f"WARNING tradekit.runner.shutdown SIGTERM received: {IGNORED}\n" in err
    assert err.count("SIGTERM received") == 2


def test_two_sigints_together_are_one_ctrl_c(start: Callable[[float], Script]) -> None:
    script = start(2)
    script.send(signal.SIGINT)
    time.sleep(0.05)
    script.send(signal.SIGINT)  # e.g. the terminal's and the one uv forwards
    status, lines, err = script.finish()
    assert status == 0, err
    assert lines == ["started", "stopping", "stopped", "returned"]
    assert f"SIGINT received: {STOPPING}; press Ctrl-C again to force quit" in err
    assert f"WARNING tradekit.runner.shutdown SIGINT received: {IGNORED}" in err
    assert FORCED not in err


def test_a_second_ctrl_c_a_moment_later_force_quits_with_130(
    start: Callable[[float], Script],
) -> None:
    script = start(5)
    script.send(signal.SIGINT)
    script.wait_for("stopping")
    time.sleep(1.5)
    began = time.monotonic()
    script.send(signal.SIGINT)
    status, lines, err = script.finish()
    assert time.monotonic() - began < 2  # at once, not after the 5 s shutdown
    assert status == 130, err
    assert lines == ["started", "stopping"]
    assert f"SIGINT received: {STOPPING}" in err
    assert f"ERROR   tradekit.runner.shutdown {FORCED}\n" in err


def test_after_a_sigterm_only_a_second_ctrl_c_force_quits(
    start: Callable[[float], Script],
) -> None:
    script = start(2.5)
    script.send(signal.SIGTERM)
    script.wait_for("stopping")
    time.sleep(1.2)
    script.send(signal.SIGINT)  # the first Ctrl-C, however late: not a force-quit
    status, lines, err = script.finish()
    assert status == 0, err
    assert lines == ["started", "stopping", "stopped", "returned"]
    assert f"WARNING tradekit.runner.shutdown SIGINT received: {IGNORED}" in err
    assert FORCED not in err
