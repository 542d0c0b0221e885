"""`tradekit --env-file .env CMD` and `tradekit CMD --env-file .env`, as a user types them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SCRIPT = Path(sys.executable).with_name("tradekit")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "env-file-token-7d2f9c"

CONFIG = """\
mode: paper
markets: [KRW-BTC]
timeframe: 1h
exchange: {use: replay, data: "${CANDLES}"}
strategy: {use: breakout}
storage: {url: "sqlite:///${DB_DIR}/bot.db"}
api: {port: "${MY_PORT}", token: "${MY_TOKEN}"}
"""


def tradekit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("MY_PORT", "TRADEKIT_CONFIG")}
    environ.update(env or {})
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "bot.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / ".env").write_text(
        "# what the config reads\n"
        f"CANDLES={ROOT / 'examples' / 'data' / 'bithumb_btc_krw_1h.csv'}\n"
        f"DB_DIR={tmp_path / 'data'}\n"
        "MY_PORT=8123\n"
        f"MY_TOKEN='{SECRET}'\n",
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ("--env-file", ".env", "config", "check", "bot.yaml"),
        ("config", "check", "bot.yaml", "--env-file", ".env"),
        ("config", "--env-file", ".env", "check", "bot.yaml"),
    ],
    ids=["before-the-command", "after-the-command", "on-the-group"],
)
def test_the_file_fills_the_config_wherever_the_option_stands(
    project: Path, args: tuple[str, ...]
) -> None:
    result = tradekit(*args, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "port: 8123" in result.stdout
    assert "token: '***'" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_the_environment_wins_over_the_file(project: Path) -> None:
    result = tradekit(
        "config", "check", "bot.yaml", "--env-file", ".env", cwd=project, env={"MY_PORT": "8124"}
    )
    assert result.returncode == 0, result.stderr
    assert "port: 8124" in result.stdout


def test_without_the_option_nothing_is_read(project: Path) -> None:
    result = tradekit("config", "check", "bot.yaml", cwd=project)
    assert result.returncode == 2
    assert "environment variable CANDLES is not set" in result.stderr


def test_a_missing_file_is_exit_2_naming_the_path(project: Path) -> None:
    result = tradekit("--env-file", "missing.env", "plugins", cwd=project)
    assert result.returncode == 2
    assert "Invalid value for '--env-file': missing.env: no such file" in result.stderr


def test_a_bad_line_is_exit_2_naming_the_line(project: Path) -> None:
    (project / "bad.env").write_text(f"A=1\nMY_TOKEN {SECRET}\n", encoding="utf-8")
    result = tradekit("config", "check", "bot.yaml", "--env-file", "bad.env", cwd=project)
    assert result.returncode == 2
    assert "bad.env:2: expected NAME=value, found no '='" in result.stderr
    assert SECRET not in result.stderr


def test_every_command_takes_the_option(project: Path) -> None:
    for command in (
        ("run",),
        ("backtest",),
        ("plugins",),
        ("config", "check"),
        ("db", "upgrade"),
        ("bithumb", "markets"),
    ):
        result = tradekit(*command, "--help", cwd=project)
        assert result.returncode == 0, (command, result.stderr)
        assert "--env-file FILE" in result.stdout, command


def test_db_upgrade_reads_the_storage_url_from_the_file(project: Path) -> None:
    result = tradekit("db", "upgrade", "bot.yaml", "--env-file", ".env", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "data" / "bot.db").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_takes_its_config_and_port_from_the_file(tmp_path: Path) -> None:
    """The demo with no argument: TRADEKIT_CONFIG, PORT and the data folder come from .env."""
    port = free_port()
    (tmp_path / ".env").write_text(
        f"TRADEKIT_CONFIG={ROOT / 'examples' / 'demo.yaml'}\n"
        f"PORT={port}\n"
        f"TRADEKIT_DATA_DIR={tmp_path}\n",
        encoding="utf-8",
    )
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TRADEKIT_CONFIG", "PORT", "TRADEKIT_DATA_DIR", "TRADEKIT_LOAD_PLUGINS")
    }
    bot = subprocess.Popen(
        [str(SCRIPT), "run", "--env-file", ".env"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            assert bot.poll() is None, bot.communicate()[1]
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=1)
            except httpx.TransportError:
                status = None
            if status is not None and status.is_success:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the API never came up")
        assert status.json()["mode"] == "paper"
    finally:
        bot.send_signal(signal.SIGTERM)
        _out, err = bot.communicate(timeout=60)
    assert bot.returncode == 0, err
    assert (tmp_path / "tradekit-demo.db").exists()
