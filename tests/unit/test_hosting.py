"""`tradekit run --hosted`: the environment's API address, token and database, and the bind rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradekit.config import Settings, parse_settings
from tradekit.errors import ConfigError
from tradekit.hosting import (
    database_url,
    hosted_api,
    hosted_settings,
    hosted_storage,
    is_loopback,
    sqlite_folder_problem,
)
from tradekit.plugins import PluginHost, load_plugins

BASE: dict[str, Any] = {
    "markets": ["KRW-BTC"],
    "strategy": {"use": "breakout"},
    "backtest": {"data": {"KRW-BTC": "candles.csv"}},
    "storage": {"url": "sqlite:///bot.db"},
}
TOKEN = "hosted-token-3b9d1f"


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return load_plugins()


def settings(host: PluginHost, **api: Any) -> Settings:
    return parse_settings({**BASE, "api": api}, host, {})


def hosted_problems(base: Settings, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        hosted_settings(base, env)
    return info.value.problems


def test_listens_everywhere_on_port_with_the_token_from_the_environment(host: PluginHost) -> None:
    hosted = hosted_settings(settings(host), {"PORT": "8123", "TRADEKIT_API_TOKEN": TOKEN})
    assert (hosted.api.host, hosted.api.port, hosted.api.token) == ("0.0.0.0", 8123, TOKEN)
    assert hosted.storage.url == "sqlite:///bot.db"  # no DATABASE_URL: the config's


def test_without_port_the_configs_port_is_kept(host: PluginHost) -> None:
    hosted = hosted_settings(settings(host, port=9001), {"TRADEKIT_API_TOKEN": TOKEN})
    assert hosted.api.port == 9001


def test_no_token_beyond_loopback_is_refused_naming_the_variable(host: PluginHost) -> None:
    (problem,) = hosted_problems(settings(host), {"PORT": "8080"})
    assert problem.startswith(
        "TRADEKIT_API_TOKEN: not set, so the control API must not listen on 0.0.0.0:8080"
    )
    assert "TRADEKIT_API_HOST=127.0.0.1" in problem


def test_an_empty_token_counts_as_none(host: PluginHost) -> None:
    (problem,) = hosted_problems(settings(host), {"TRADEKIT_API_TOKEN": "  "})
    assert problem.startswith("TRADEKIT_API_TOKEN: not set")


def test_the_configs_token_is_enough(host: PluginHost) -> None:
    hosted = hosted_settings(settings(host, token=TOKEN), {"PORT": "8080"})
    assert (hosted.api.host, hosted.api.token) == ("0.0.0.0", TOKEN)


def test_the_environments_token_wins_over_the_configs(host: PluginHost) -> None:
    hosted = hosted_settings(settings(host, token="old-token"), {"TRADEKIT_API_TOKEN": TOKEN})
    assert hosted.api.token == TOKEN


def test_loopback_host_needs_no_token(host: PluginHost) -> None:
    hosted = hosted_settings(settings(host), {"TRADEKIT_API_HOST": "127.0.0.1", "PORT": "8080"})
    assert (hosted.api.host, hosted.api.port, hosted.api.token) == ("127.0.0.1", 8080, None)


@pytest.mark.parametrize("port", ["http", "0", "65536", "-1", "80.5"])
def test_a_bad_port_is_named(host: PluginHost, port: str) -> None:
    assert hosted_problems(settings(host), {"PORT": port, "TRADEKIT_API_TOKEN": TOKEN}) == [
        f"PORT: expected a port number from 1 to 65535, got {port!r}"
    ]


def test_every_problem_at_once(host: PluginHost) -> None:
    found = hosted_problems(settings(host, enabled=False), {"PORT": "x"})
    assert [p.split(":")[0] for p in found] == ["PORT", "api.enabled", "TRADEKIT_API_TOKEN"]


def test_database_url_overrides_storage(host: PluginHost) -> None:
    env = {"TRADEKIT_API_TOKEN": TOKEN, "DATABASE_URL": "postgresql://bot:pw@db:5432/tradekit"}
    hosted = hosted_settings(settings(host), env)
    assert hosted.storage.url == "postgresql+psycopg://bot:pw@db:5432/tradekit"


def test_the_database_alone_needs_no_api_settings(host: PluginHost) -> None:
    """What `tradekit db upgrade --hosted` applies: no token needed, the API left as it is."""
    base = settings(host, enabled=False)
    env = {"PORT": "not-a-port", "DATABASE_URL": "postgres://bot:pw@db/tradekit"}
    hosted = hosted_storage(base, env)
    assert hosted.storage.url == "postgresql+psycopg://bot:pw@db/tradekit"
    assert hosted.api == base.api
    assert hosted_storage(base, {}).storage.url == "sqlite:///bot.db"


def test_the_api_alone_leaves_the_database(host: PluginHost) -> None:
    env = {"TRADEKIT_API_TOKEN": TOKEN, "DATABASE_URL": "postgres://bot:pw@db/tradekit"}
    hosted = hosted_api(settings(host), env)
    assert (hosted.api.host, hosted.api.token) == ("0.0.0.0", TOKEN)
    assert hosted.storage.url == "sqlite:///bot.db"


def test_a_missing_sqlite_folder_stops_the_database_commands_too(
    host: PluginHost, tmp_path: Path
) -> None:
    missing = tmp_path / "unmounted"
    with pytest.raises(ConfigError) as info:
        hosted_storage(settings(host), {"DATABASE_URL": f"sqlite:///{missing}/bot.db"})
    (problem,) = info.value.problems
    assert problem.startswith(f"storage.url: the folder of the SQLite database, {missing},")


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////data/bot.db", "sqlite:////data/bot.db"),
    ],
)
def test_platform_database_urls_use_psycopg3(given: str, used: str) -> None:
    assert database_url(given) == used


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("bot.internal", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_sqlite_folder_must_exist(host: PluginHost, tmp_path: Path) -> None:
    missing = tmp_path / "no-volume-here"
    env = {"TRADEKIT_API_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{missing}/bot.db"}
    (problem,) = hosted_problems(settings(host), env)
    assert problem.startswith(
        f"storage.url: the folder of the SQLite database, {missing}, does not exist"
    )
    assert "RAILWAY_RUN_UID=0" in problem


@pytest.mark.parametrize(
    "url", ["sqlite:///{tmp}/bot.db", "sqlite://", "postgresql+psycopg://u@h/d", "nonsense"]
)
def test_sqlite_folder_problem_only_for_a_missing_sqlite_folder(tmp_path: Path, url: str) -> None:
    assert sqlite_folder_problem(url.format(tmp=tmp_path)) is None
