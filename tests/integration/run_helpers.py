"""Running a real `tradekit run` subprocess in the tests: candles for the fake Bithumb (the
``fake_bithumb`` fixture), a paper config pointing at it, the process started with its API
awaited, and a SIGTERM stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from tradekit_bithumb.testing import FakeBithumb

SCRIPT = Path(sys.executable).with_name("tradekit")
HOUR = 3_600_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_recent_candles(fake: FakeBithumb) -> None:
    """Give ``fake`` the last 30 closed hours of KRW-BTC, so a bot can warm up."""
    now = int(time.time() * 1000)
    current = now - now % HOUR
    rows = [
        (current - i * HOUR, 100_000 + i, 100_500 + i, 99_500 + i, 100_100 + i, 2)
        for i in range(30, 0, -1)
    ]
    fake.load_candles("KRW-BTC", 60, rows)


def write_paper_config(tmp_path: Path, fake: FakeBithumb, port: int) -> Path:
    """``tmp_path/config.yaml``: a paper bot on ``fake``, storing in ``tmp_path/bot.db``, its API
    on 127.0.0.1:``port``; keys and token come from the environment (see ``bot_env``)."""
    config: dict[str, Any] = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        "timeframe": "1h",
        "exchange": {
            "use": "bithumb",
            "api_key": "${BITHUMB_API_KEY}",
            "api_secret": "${BITHUMB_API_SECRET}",
            "base_url": fake.base_url,
            "ws_url": fake.ws_url,
        },
        "strategy": {"use": "breakout"},
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "api": {"host": "127.0.0.1", "port": port, "token": "${TRADEKIT_API_TOKEN}"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def bot_env(fake: FakeBithumb, token: str) -> dict[str, str]:
    """This environment with the fake's keys and the API token, all plugins loaded."""
    env = {
        **os.environ,
        "BITHUMB_API_KEY": fake.api_key,
        "BITHUMB_API_SECRET": fake.api_secret,
        "TRADEKIT_API_TOKEN": token,
    }
    env.pop("TRADEKIT_LOAD_PLUGINS", None)
    return env


def start_run(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``tradekit run ARGS`` with its output captured as text."""
    return subprocess.Popen(
        [str(SCRIPT), "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_api(process: subprocess.Popen[str], base: str, timeout: float = 60) -> None:
    """Return once ``base``/health answers 200; fail with the bot's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API never came up"
        time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then the process's stdout and stderr (killed if it has not exited in 60 s)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()
