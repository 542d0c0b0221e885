"""`tradekit run --hosted` as a container runs it: config, port, token and database from the
environment; no token with the API beyond loopback is a clear exit with status 2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from run_helpers import SCRIPT, free_port, load_recent_candles, start_run, stop, wait_for_api
from tradekit_bithumb.testing import FakeBithumb

from tradekit.store import Store

TOKEN = "hosted-run-api-token-81c4"


@pytest.fixture
def fake(fake_bithumb: FakeBithumb) -> FakeBithumb:
    """The fake Bithumb with recent KRW-BTC hours for the bot's warm-up."""
    load_recent_candles(fake_bithumb)
    return fake_bithumb


def write_config(tmp_path: Path, fake: FakeBithumb) -> Path:
    """A paper bot on the fake Bithumb; its API and storage are what --hosted must override."""
    config = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        "timeframe": "1h",
        "exchange": {"use": "bithumb", "base_url": fake.base_url, "ws_url": fake.ws_url},
        "strategy": {"use": "breakout"},
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "api": {"host": "127.0.0.1", "port": 8000},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def base_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    env.pop("TRADEKIT_API_TOKEN", None)
    env.pop("DATABASE_URL", None)
    env["TRADEKIT_CONFIG"] = str(config)
    return env


def test_without_a_token_the_hosted_bot_refuses_to_listen_beyond_loopback(
    tmp_path: Path, fake: FakeBithumb
) -> None:
    port = free_port()
    env = {**base_env(write_config(tmp_path, fake)), "PORT": str(port), "TRADEKIT_API_TOKEN": ""}
    result = subprocess.run(
        [str(SCRIPT), "run", "--hosted"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: invalid configuration: TRADEKIT_API_TOKEN: not set, so the control API must "
        f"not listen on 0.0.0.0:{port}"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert not fake.requests_to("GET", "/v1/candles/minutes/60")  # refused before starting


def test_hosted_bot_serves_on_port_with_the_environments_token_and_database(
    tmp_path: Path, fake: FakeBithumb
) -> None:
    port = free_port()
    config = write_config(tmp_path, fake)
    database = tmp_path / "data" / "hosted.db"
    database.parent.mkdir()
    env = {
        **base_env(config),
        "PORT": str(port),
        "TRADEKIT_API_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite:///{database}",
    }
    bot = start_run("--hosted", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_api(bot, base)
        # Bound to every interface, not only loopback.
        listening = subprocess.run(
            ["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True
        )
        if listening.returncode == 0:
            assert f"0.0.0.0:{port}" in listening.stdout, listening.stdout
        assert httpx.get(f"{base}/status", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/status", headers=auth, timeout=5).json()["mode"] == "paper"
    finally:
        out, err = stop(bot)
    assert bot.returncode == 0, err
    assert TOKEN not in out + err
    assert not (tmp_path / "bot.db").exists()  # the config's storage.url was overridden
    with Store.open(f"sqlite:///{database}") as store:
        (run,) = store.runs()
        assert run["ended_ms"] is not None


@pytest.mark.parametrize("missing", ["", "nothing-here.yaml"])
def test_config_comes_from_tradekit_config(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_CONFIG"}
    if missing:
        env["TRADEKIT_CONFIG"] = str(tmp_path / missing)
    result = subprocess.run([str(SCRIPT), "run"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    expected = "cannot read the config file" if missing else "Missing argument 'CONFIG'"
    assert expected in result.stderr, result.stderr


def test_config_check_hosted_shows_what_run_hosted_uses(tmp_path: Path, fake: FakeBithumb) -> None:
    port = free_port()
    database = tmp_path / "data" / "hosted.db"
    database.parent.mkdir()
    env = {
        **base_env(write_config(tmp_path, fake)),
        "PORT": str(port),
        "TRADEKIT_API_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite:///{database}",
    }
    result = subprocess.run(
        [str(SCRIPT), "config", "check", "--hosted"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["api"]["host"] == "0.0.0.0"
    assert shown["api"]["port"] == port
    assert shown["api"]["token"] == "***"
    assert shown["storage"]["url"] == f"sqlite:///{database}"
    assert TOKEN not in result.stdout + result.stderr

    env["TRADEKIT_API_TOKEN"] = ""
    refused = subprocess.run(
        [str(SCRIPT), "config", "check", "--hosted"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "TRADEKIT_API_TOKEN: not set" in refused.stderr, refused.stderr
