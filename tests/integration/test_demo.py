"""The offline demo as a user runs it: `tradekit run examples/demo.yaml`, no network, no keys.

The demo's own config files run in a subprocess (only the replay speed, the API port and the
data folder come from the environment, as the configs allow); the control API is asked over
HTTP while the bot trades, then SIGTERM stops it.
"""

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
import pytest

from tradekit.store import Store

SCRIPT = Path(sys.executable).with_name("tradekit")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Any, bot: subprocess.Popen[str], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        assert bot.poll() is None, bot.communicate()[1]
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("config", "mode", "database"),
    [
        ("demo.yaml", "paper", "tradekit-demo.db"),
        ("demo-live.yaml", "live", "tradekit-demo-live.db"),
    ],
)
def test_the_demo_trades_reports_and_answers_offline(
    tmp_path: Path, config: str, mode: str, database: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "TRADEKIT_DATA_DIR": str(tmp_path),
        "TRADEKIT_REPLAY_SPEED": "72000",  # 50 ms per hour bar instead of the demo's 500
    }
    for name in ("TRADEKIT_LOAD_PLUGINS", "TRADEKIT_API_TOKEN", "BITHUMB_API_KEY"):
        env.pop(name, None)
    bot = subprocess.Popen(
        [str(SCRIPT), "run", str(ROOT / "examples" / config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("the API", lambda: httpx.get(f"{base}/health", timeout=1).is_success, bot)
        status = httpx.get(f"{base}/status", timeout=5).json()
        assert (status["mode"], status["markets"]) == (mode, ["KRW-BTC"])

        def stopped_out() -> list[dict[str, Any]]:
            fills: list[dict[str, Any]] = httpx.get(f"{base}/fills", timeout=5).json()["fills"]
            return fills if any(f["reason"] == "stop_loss" for f in fills) else []

        fills = wait_for("a stop loss", stopped_out, bot)
        days = httpx.get(f"{base}/performance", timeout=5).json()["days"]
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        bot.send_signal(signal.SIGTERM)
        stdout, stderr = bot.communicate(timeout=60)
    assert bot.returncode == 0, stderr

    assert {"entry", "take_profit", "trailing_stop", "stop_loss"} <= {f["reason"] for f in fills}
    if mode == "live":
        assert all(f["client_order_id"] for f in fills)  # sent as orders, not simulated
    assert [d["trading_day"] for d in days][:2] == ["2019-10-25", "2019-10-26"]
    assert "tradekit_fills_total" in metrics
    log = stdout + stderr
    for expected in (
        "replay: KRW-BTC from 2019-10-25 04:00 UTC",
        "KRW-BTC: warmed up on 20 closed 1h bars",
        f"control API listening on http://127.0.0.1:{port}",
        "signal: buy KRW-BTC at 8,925,000",
        "fill: bought",
        "fill: sold",
        "position_closed: KRW-BTC by trailing_stop",
        "daily_report: 2019-10-25: P&L",
        "stopped: the bot stopped (shutdown)",
    ):
        assert expected in log, expected
    # Notifications are sentences, not object dumps; nothing went wrong.
    for unwanted in ("Event(", "Fill(", "Traceback", "ERROR"):
        assert unwanted not in log, unwanted
    with Store.open(f"sqlite:///{tmp_path / database}") as store:
        assert store.performance()
        assert store.fills()


def test_config_check_reads_the_replayed_candles(tmp_path: Path) -> None:
    """`config check` finds what `run` would refuse: a missing file, a start after the data."""
    env = {**os.environ, "PORT": str(free_port())}

    def check(config: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "config", "check", str(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    assert check(ROOT / "examples" / "demo.yaml").returncode == 0
    demo = (ROOT / "examples" / "demo.yaml").read_text(encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    missing.write_text(demo.replace("data/bithumb_btc_krw_1h.csv", "nope.csv"), encoding="utf-8")
    result = check(missing)
    assert result.returncode == 2
    assert f"error: invalid configuration: exchange.data: {tmp_path / 'nope.csv'}: cannot read" in (
        result.stderr
    )
    late = tmp_path / "late.yaml"
    late.write_text(
        demo.replace("data/bithumb", str(ROOT / "examples" / "data" / "bithumb")).replace(
            "2019-10-25T04:00", "2030-01-01"
        ),
        encoding="utf-8",
    )
    result = check(late)
    assert result.returncode == 2
    assert "exchange.start: '2030-01-01' is after the last bar to replay" in result.stderr
