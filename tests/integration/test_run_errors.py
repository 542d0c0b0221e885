"""`tradekit run` when things go wrong: one readable line, naming what failed and what to check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = Path(sys.executable).with_name("tradekit")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_an_unreachable_exchange_names_the_host_and_what_to_check(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "paper.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mode": "paper",
                "markets": ["KRW-BTC"],
                "timeframe": "1h",
                "exchange": {
                    "use": "bithumb",
                    "base_url": f"http://127.0.0.1:{port}",
                    "ws_url": f"ws://127.0.0.1:{port}",
                },
                "strategy": {"use": "breakout"},
                "notifiers": [{"use": "log"}],
                "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
                "api": {"enabled": False},
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    result = subprocess.run(
        [str(SCRIPT), "run", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    cannot_reach = (
        f"cannot reach 127.0.0.1:{port} for Bithumb GET /v1/candles/minutes/60 (ConnectError: "
        "connection refused, so nothing listens on that port): check the network connection "
        "and exchange.base_url"
    )
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"error: {cannot_reach}"
    # The log notifier and the runner say it as a sentence too, never as an object dump.
    assert any(
        line.endswith(f"error: engine (fatal, the bot stops): {cannot_reach}") for line in lines
    )
    assert any(line.endswith(f"stopped: the bot stopped (error: {cannot_reach})") for line in lines)
    # The retries before it already say which host and why.
    retries = [line for line in lines if "; retry " in line]
    assert len(retries) == 3
    assert all(f"cannot reach 127.0.0.1:{port} for Bithumb GET" in line for line in retries)
    assert "ErrorEvent(" not in result.stderr
    assert "Traceback" not in result.stderr
