"""`tradekit status` against real running control APIs: a `tradekit run` paper bot, and the
API over a real SQLite store with positions, orders, fills and days recorded."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import yaml
from click.testing import CliRunner
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
from test_control_api import DAYS, FILLS, TOKEN, FakeBot, running, store  # noqa: F401
from tradekit_bithumb.testing import FakeBithumb

from tradekit.cli import cli
from tradekit.store import AsyncStore

BOT_TOKEN = "status-command-token-9e2b"


def status(*args: str, token: str | None = BOT_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_API_TOKEN"}
    env["BITHUMB_API_KEY"] = env["BITHUMB_API_SECRET"] = "unused-by-status"
    env["COLUMNS"] = "160"
    if token is not None:
        env["TRADEKIT_API_TOKEN"] = token
    return subprocess.run(
        [str(SCRIPT), "status", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def bot(tmp_path: Path, fake_bithumb: FakeBithumb) -> Iterator[tuple[Path, str]]:
    """A paper bot run as a user runs it, against the fake Bithumb; its config and API URL."""
    load_recent_candles(fake_bithumb)
    port = free_port()
    path = write_paper_config(tmp_path, fake_bithumb, port)
    process = start_run(str(path), env=bot_env(fake_bithumb, BOT_TOKEN))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_api(process, base)
        yield path, base
    finally:
        stop(process)


def test_status_of_a_running_paper_bot_from_its_config(bot: tuple[Path, str]) -> None:
    config, base = bot
    shown = status(str(config))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "RUNNING" in out
    assert "paper · breakout · 1h" in out
    assert "10,000,000 KRW" in out
    assert "No open positions." in out
    assert BOT_TOKEN not in out + shown.stderr

    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    assert httpx.post(f"{base}/pause", headers=auth, timeout=5).status_code == 200
    paused = status("--url", base, "--json")
    assert paused.returncode == 0, paused.stderr
    state = json.loads(paused.stdout)
    assert (state["status"]["mode"], state["status"]["paused"]) == ("paper", True)
    again = status(str(config)).stdout
    assert "PAUSED" in again
    assert "held back" in again
    assert "paused" in again.split("Entries", 1)[1]


def test_a_refused_token_exits_2_naming_it(bot: tuple[Path, str]) -> None:
    config, base = bot
    for shown in (status(str(config), token="wrong-token"), status("--url", base, token=None)):
        assert shown.returncode == 2, shown.stdout + shown.stderr
        assert "api.token: the bot at" in shown.stderr
        assert "refused the token" in shown.stderr


def test_a_bot_that_is_not_running_exits_1(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mode": "paper",
                "markets": ["KRW-BTC"],
                "exchange": {
                    "use": "bithumb",
                    "api_key": "${BITHUMB_API_KEY}",
                    "api_secret": "${BITHUMB_API_SECRET}",
                },
                "strategy": {"use": "breakout"},
                "api": {"port": port},
            }
        ),
        encoding="utf-8",
    )
    for shown in (status(str(config)), status("--url", f"http://127.0.0.1:{port}")):
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert f"control API at http://127.0.0.1:{port} is not reachable" in shown.stderr
        assert "Traceback" not in shown.stderr


def test_neither_or_both_of_config_and_url_is_a_usage_error(tmp_path: Path) -> None:
    assert status().returncode == 2
    assert status(str(tmp_path / "x.yaml"), "--url", "http://127.0.0.1:1").returncode == 2


@pytest.mark.anyio
async def test_tables_show_positions_orders_fills_and_days_in_kst(store: AsyncStore) -> None:  # noqa: F811
    fake = FakeBot(store)
    async with running(fake) as (client, _seen):
        url = str(client.base_url)
        result = await anyio.to_thread.run_sync(
            lambda: CliRunner().invoke(
                cli, ["status", "--url", url, "--token", TOKEN], terminal_width=200
            )
        )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Blocked" in out
    assert "KRW-ETH: order x: fate unknown" in out
    assert "10,123,456 KRW (cash 9,000,000 KRW, at the last close 10,100,000 KRW)" in out
    # Today against the daily loss limit: 10,123,456.5 - 9,547,500 to go.
    assert "2023-11-16 (KST): P&L +73,456 KRW (+0.73%), drawdown 0.20%, 1 trade(s)" in out
    assert "5.00%: entries halt below 9,547,500 KRW (575,956 KRW to go)" in out
    lines = out.splitlines()
    # The position: 0.5 BTC at 50,000,000 with its stop and take-profit.
    (row,) = [line for line in lines if "KRW-BTC" in line and "47,500,000" in line]
    assert "50,000,000" in row
    assert "55,000,000" in row
    assert "2023-11-15 07:13 KST" in row  # entry time 2023-11-14 22:13 UTC
    fills = [line for line in lines if "take_profit" in line or "trailing_stop" in line]
    assert len(fills) == sum(f.reason in ("take_profit", "trailing_stop") for f in FILLS)
    for day in DAYS:
        (day_row,) = [line for line in lines if line.startswith(f"│ {day.trading_day} │")]
        assert f"{day.end_equity:,.0f}" in day_row
        assert f"{day.profit:+,.0f}" in day_row


def test_the_token_is_not_sent_where_a_redirect_points() -> None:
    # urllib follows redirects and copies every header, Authorization included, to whatever
    # host the Location names (any host, and from https down to http). A control API never
    # redirects: the redirect is reported, not followed, and the token stays with the bot.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tradekit.runner.status_cli import ApiUnreachable, fetch_state

    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = b'{"positions": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://localhost:{elsewhere.server_address[1]}"

    class Redirecting(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    front = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (elsewhere, front)]
    for thread in threads:
        thread.start()
    try:
        with pytest.raises(ApiUnreachable, match=r"redirect.*localhost"):
            fetch_state(f"http://127.0.0.1:{front.server_address[1]}", BOT_TOKEN, timeout=5)
    finally:
        for server in (elsewhere, front):
            server.shutdown()
            server.server_close()
    assert BOT_TOKEN not in " ".join(s or "" for s in seen)
    assert seen == []
