"""`tradekit run` as a user runs it: a subprocess, the fake Bithumb, the API over HTTP, SIGTERM."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from run_helpers import (
    SCRIPT,
    bot_env,
    free_port,
    load_recent_candles,
    start_run,
    stop,
    wait_for_api,
    write_paper_config,
)
from tradekit_bithumb.testing import FakeBithumb

from tradekit.store import Store

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "run-command-api-token-5c1d"


@pytest.fixture
def fake(fake_bithumb: FakeBithumb) -> FakeBithumb:
    """The fake Bithumb with recent KRW-BTC hours for the bot's warm-up."""
    load_recent_candles(fake_bithumb)
    return fake_bithumb


def test_run_serves_the_api_and_stops_cleanly_on_sigterm(tmp_path: Path, fake: FakeBithumb) -> None:
    port = free_port()
    config = write_paper_config(tmp_path, fake, port)
    bot = start_run(str(config), env=bot_env(fake, TOKEN))
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        wait_for_api(bot, base)

        assert httpx.get(f"{base}/status", timeout=5).status_code == 401
        status = httpx.get(f"{base}/status", headers=auth, timeout=5).json()
        assert (status["mode"], status["markets"], status["paused"]) == (
            "paper",
            ["KRW-BTC"],
            False,
        )
        assert status["equity"] == 10_000_000
        paused = httpx.post(f"{base}/pause", headers=auth, timeout=5)
        assert paused.status_code == 200
        assert httpx.get(f"{base}/status", headers=auth, timeout=5).json()["paused"] is True
        closed = httpx.post(f"{base}/positions/KRW-BTC/close", headers=auth, timeout=5)
        assert closed.status_code == 404
        metrics = httpx.get(f"{base}/metrics", headers=auth, timeout=5).text
        assert "tradekit_paused 1.0" in metrics
        # The bot warmed up on the REST candles and subscribed to the trade stream.
        fake.wait_for_ws_subscriptions(1, timeout=30)
        assert fake.requests_to("GET", "/v1/candles/minutes/60")
    finally:
        out, err = stop(bot)
    assert bot.returncode == 0, err
    assert "SIGTERM received: stopping the bot" in err
    for secret in (TOKEN, fake.api_secret):
        assert secret not in out + err

    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        (run,) = store.runs()
        assert (run["mode"], run["ended_ms"] is not None) == ("paper", True)
        kinds = [e.kind if hasattr(e, "kind") else e["kind"] for e in store.events()]
        assert "paused" in kinds
        assert "stopped" in kinds


def uv_command() -> list[str]:
    """How to call uv: the one running these tests (``uv run`` sets UV), on PATH, or the module."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def test_uv_run_stopped_through_its_process_group_shuts_down_cleanly(
    tmp_path: Path, fake: FakeBithumb
) -> None:
    """systemd and process managers signal the whole group: uv and the bot both get SIGTERM,
    and uv forwards its own, so the bot gets it twice or more while it shuts down."""
    port = free_port()
    config = write_paper_config(tmp_path, fake, port)
    env = bot_env(fake, TOKEN)
    # --no-sync: the test runs the environment as it is, and leaves it and uv.lock alone.
    group = subprocess.Popen(
        [*uv_command(), "run", "--no-sync", "tradekit", "run", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_api(group, f"http://127.0.0.1:{port}")
        os.killpg(group.pid, signal.SIGTERM)
        time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):  # unless everything had exited already
            os.killpg(group.pid, signal.SIGTERM)  # a second stop request, mid-shutdown
        out, err = group.communicate(timeout=60)
    finally:
        if group.poll() is None:
            os.killpg(group.pid, signal.SIGKILL)
            group.communicate()
    assert group.returncode == 0, err
    assert (
        "SIGTERM received: stopping the bot (finishing the order that is out, storing everything)"
        in err
    )
    assert "SIGTERM received: shutdown is already under way, signal ignored" in err
    assert "bot stopped after" in err
    for secret in (TOKEN, fake.api_secret):
        assert secret not in out + err

    with Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        (run,) = store.runs()
        assert run["ended_ms"] is not None
        kinds = [e.kind if hasattr(e, "kind") else e["kind"] for e in store.events()]
        assert "stopped" in kinds


def test_run_refuses_backtest_mode_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "mode: backtest\nmarkets: [KRW-BTC]\nstrategy: {use: breakout}\n"
        "backtest: {data: {KRW-BTC: c.csv}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(SCRIPT), "run", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "use mode: paper" in result.stderr


def test_a_taken_api_port_is_a_config_error_with_exit_2(tmp_path: Path, fake: FakeBithumb) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_paper_config(tmp_path, fake, port)
        env = {**os.environ, "BITHUMB_API_KEY": "k", "BITHUMB_API_SECRET": "s"}
        env["TRADEKIT_API_TOKEN"] = TOKEN
        result = subprocess.run(
            [str(SCRIPT), "run", str(config)], capture_output=True, text=True, env=env, timeout=60
        )
    assert result.returncode == 2, result.stderr
    assert f"api.port: control API: cannot listen on 127.0.0.1:{port}" in result.stderr
