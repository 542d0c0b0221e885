"""Config loading: exact error messages, env substitution, secrets masked."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from tradekit.config import (
    config_digest,
    load_settings,
    masked,
    parse_settings,
    secret_values,
    substitute_env,
)
from tradekit.errors import ConfigError
from tradekit.plugins import PluginHost, load_plugins

BASE: dict[str, Any] = {
    "markets": ["KRW-BTC"],
    "strategy": {"use": "breakout"},
    "backtest": {"data": {"KRW-BTC": "candles.csv"}},
}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return load_plugins()


def problems(
    host: PluginHost, data: dict[str, Any], env: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(data, host, env or {})
    return info.value.problems


def test_minimal_config_gets_spec_defaults(host: PluginHost) -> None:
    settings = parse_settings(BASE, host, {})
    assert settings.mode == "backtest"
    assert str(settings.timeframe) == "1h"
    assert settings.strategy.use == "breakout"
    assert settings.strategy.config.lookback == 20
    assert [r.use for r in settings.risk] == ["daily_loss_limit", "position_size"]
    assert settings.backtest.initial_cash == 10_000_000
    assert settings.storage.url == "sqlite:///tradekit.db"


def test_several_problems_are_reported_at_once(host: PluginHost) -> None:
    data = {
        **BASE,
        "timeframe": "2x",
        "strategy": {"use": "breakout", "lookback": "x", "volume_factr": 2},
        "risk": [{"use": "position_size", "fraction": 1.5}],
        "api": {"port": "abc"},
    }
    assert problems(host, data) == [
        "timeframe: expected a timeframe such as '1m', '15m', '1h' or '1d', got '2x'",
        "api.port: expected int, got 'abc'",
        "strategy.lookback: expected int, got 'x'",
        "strategy.volume_factr: unknown key (did you mean 'volume_factor'?)",
        "risk[0].fraction: expected a number in (0, 1], got 1.5",
    ]


def test_a_wrong_type_does_not_hide_a_bad_range_beside_it(host: PluginHost) -> None:
    data = {
        **BASE,
        "strategy": {"use": "breakout", "lookback": "x", "stop_loss": 5},
        "risk": [{"use": "position_size", "fraction": 7, "extra": 1}],
        "backtest": {"data": {"KRW-BTC": "c.csv"}, "initial_cash": -1, "fee_rate": "high"},
        "api": {"port": 70000},
    }
    assert problems(host, data) == [
        "api.port: expected a number in [1, 65535], got 70000",
        "backtest.fee_rate: expected number, got 'high'",
        "backtest.initial_cash: expected a number in (0, inf], got -1.0",
        "strategy.lookback: expected int, got 'x'",
        "strategy.stop_loss: expected a number in (0, 1], got 5.0",
        "risk[0].fraction: expected a number in (0, 1], got 7.0",
        "risk[0].extra: unknown key (known keys: fraction)",
    ]


def test_unknown_top_level_key_lists_known_keys(host: PluginHost) -> None:
    assert problems(host, {**BASE, "stratgy": {}}) == [
        "stratgy: unknown key (did you mean 'strategy'?)"
    ]
    [message] = problems(host, {**BASE, "colour": "red"})
    assert message.startswith("colour: unknown key (known keys: markets, strategy, mode,")


def test_wrong_types(host: PluginHost) -> None:
    assert problems(host, {**BASE, "markets": "KRW-BTC", "mode": "papr"}) == [
        "markets: expected a list, got 'KRW-BTC'",
        "mode: expected one of 'backtest', 'paper', 'live', got 'papr'",
    ]
    assert problems(host, {**BASE, "api": {"enabled": "maybe"}}) == [
        "api.enabled: expected true or false, got 'maybe'"
    ]


def test_missing_required_key_and_unknown_component(host: PluginHost) -> None:
    data = {"strategy": {"use": "breakot"}}
    assert problems(host, data) == [
        "markets: required key is missing",
        "strategy.use: no strategy named 'breakot' (did you mean 'breakout'?)",
    ]


def test_missing_environment_variable_names_it(host: PluginHost) -> None:
    data = {**BASE, "api": {"token": "${TRADEKIT_TEST_TOKEN}"}}
    assert problems(host, data, {}) == [
        "api.token: environment variable TRADEKIT_TEST_TOKEN is not set "
        "(set it, or write ${TRADEKIT_TEST_TOKEN:-default})"
    ]


def test_environment_substitution_with_defaults() -> None:
    env = {"A": "1", "EMPTY": ""}
    data = {"x": "${A}", "y": "p-${B:-two}-q", "z": ["${EMPTY:-fallback}"], "n": 5}
    found: list[str] = []
    assert substitute_env(data, env, "", found) == {
        "x": "1",
        "y": "p-two-q",
        "z": ["fallback"],
        "n": 5,
    }
    assert found == []


def test_numbers_from_environment_are_converted(host: PluginHost) -> None:
    data = {**BASE, "strategy": {"use": "breakout", "lookback": "${LOOKBACK:-30}"}}
    assert parse_settings(data, host, {}).strategy.config.lookback == 30


def test_non_loopback_api_needs_a_token(host: PluginHost) -> None:
    assert problems(host, {**BASE, "api": {"host": "0.0.0.0"}}) == [
        "api.token: required when api.host is '0.0.0.0' (not loopback): anyone who can reach "
        "the port could trade"
    ]


def test_secrets_are_masked(host: PluginHost) -> None:
    data = {**BASE, "api": {"token": "${TOKEN}"}}
    settings = parse_settings(data, host, {"TOKEN": "s3cr3t-value"})
    assert settings.api.token == "s3cr3t-value"
    assert "s3cr3t" not in repr(settings)
    shown = masked(settings)
    assert shown["api"]["token"] == "***"
    assert "s3cr3t" not in yaml.safe_dump(shown)
    assert secret_values(settings) == ["s3cr3t-value"]


def test_a_password_in_a_url_is_masked(host: PluginHost) -> None:
    data = {**BASE, "storage": {"url": "sqlite:///x.db"}}
    settings = parse_settings(data, host, {})
    url = "postgresql+psycopg://bot:hunter2@db/tradekit"
    shown = masked(attrs.evolve(settings, storage=attrs.evolve(settings.storage, url=url)))
    assert shown["storage"]["url"] == "postgresql+psycopg://bot:***@db/tradekit"


def test_config_digest_ignores_secrets(host: PluginHost) -> None:
    """The digest sees the settings as masked: secrets and URL passwords do not change it."""

    def digest(token: str, password: str, mode: str = "backtest") -> str:
        data = {**BASE, "mode": mode, "api": {"token": token}}
        if mode == "paper":
            data["exchange"] = {"use": "bithumb", "api_key": token, "api_secret": token}
        settings = parse_settings(data, host, {})
        url = f"postgresql+psycopg://bot:{password}@db/tradekit"
        return config_digest(
            attrs.evolve(settings, storage=attrs.evolve(settings.storage, url=url))
        )

    first = digest("tok-1", "hunter2")
    assert len(first) == 64
    assert digest("tok-2", "other") == first
    assert digest("tok-1", "hunter2", mode="paper") != first
    assert digest("tok-3", "x", mode="paper") == digest("tok-4", "y", mode="paper")


def test_validation_never_switches_attrs_validators_off(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bad value is reported at once without the process-wide switch of attrs validators
    (another thread building attrs values meanwhile would skip its validators)."""

    def refuse(_disabled: bool) -> None:
        raise AssertionError("attrs.validators.set_disabled was called")

    monkeypatch.setattr(attrs.validators, "set_disabled", refuse)
    data = {
        **BASE,
        "strategy": {"use": "breakout", "lookback": "x", "stop_loss": 2.0},
        "api": {"port": 0},
    }
    found = problems(host, data)
    assert any(p.startswith("strategy.lookback: expected int") for p in found), found
    assert any(p.startswith("strategy.stop_loss: expected a number in") for p in found), found
    assert any(p.startswith("api.port: expected a number in [1, 65535]") for p in found), found
    assert not attrs.validators.get_disabled()


def test_backtest_needs_data_for_each_market(host: PluginHost) -> None:
    data = {**BASE, "markets": ["KRW-BTC", "KRW-ETH"]}
    assert problems(host, data) == ["backtest.data: no candle file for market 'KRW-ETH'"]


def test_load_settings_reports_yaml_errors_with_line(tmp_path: Path, host: PluginHost) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("markets: [KRW-BTC\nstrategy: {use: breakout}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, host)
    assert info.value.problems == [f"{path}:2:9: invalid YAML: expected ',' or ']', but got ':'"]


def test_load_settings_resolves_data_paths_relative_to_the_file(
    tmp_path: Path, host: PluginHost
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    settings = load_settings(path, host)
    assert settings.backtest.data["KRW-BTC"] == str(tmp_path / "candles.csv")


def test_missing_file(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "nope.yaml", host)


# -- what `run` would refuse, refused while loading ---------------------------------------

NOT_A_MARKET = "is not a market id (expected QUOTE-BASE in capitals and digits, e.g. KRW-BTC)"


@pytest.mark.parametrize(
    ("markets", "expected"),
    [
        (["../etc"], [f"markets[0]: '../etc' {NOT_A_MARKET}"]),
        (["KRW-BTC", "krw-eth"], [f"markets[1]: 'krw-eth' {NOT_A_MARKET}"]),
        (["KRW-BTC", "KRW-BTC\n"], [f"markets[1]: 'KRW-BTC\\n' {NOT_A_MARKET}"]),
        (["KRW/BTC"], [f"markets[0]: 'KRW/BTC' {NOT_A_MARKET}"]),
    ],
)
def test_market_ids_are_checked(host: PluginHost, markets: list[str], expected: list[str]) -> None:
    data = {**BASE, "markets": markets, "backtest": {"data": dict.fromkeys(markets, "c.csv")}}
    assert problems(host, data) == expected


def test_backtest_data_keys_are_market_ids(host: PluginHost) -> None:
    data = {**BASE, "backtest": {"data": {"KRW-BTC": "c.csv", "../etc": "passwd.csv"}}}
    assert problems(host, data) == [f"backtest.data: '../etc' {NOT_A_MARKET}"]


def test_a_risk_chain_must_size_entries(host: PluginHost) -> None:
    data = {**BASE, "risk": [{"use": "daily_loss_limit", "limit": 0.05}]}
    assert problems(host, data) == [
        "risk: no rule sizes entries in ['daily_loss_limit']; add one such as "
        "{use: position_size, fraction: 0.05}"
    ]
    assert problems(host, {**BASE, "risk": []}) == [
        "risk: no rule sizes entries in []; add one such as {use: position_size, fraction: 0.05}"
    ]
    # A sizing rule that is only misspelt is reported as such, not as missing.
    assert problems(host, {**BASE, "risk": [{"use": "position_sise"}]}) == [
        "risk[0].use: no risk rule named 'position_sise' (did you mean 'position_size'?)"
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://bot:hunter2-secret@db/bot",
            "storage.url: unknown database 'postgres' in 'postgres://bot:***@db/bot' "
            "(e.g. sqlite:///tradekit.db or postgresql+psycopg://user@host/db)",
        ),
        (
            "postgresql+psycopg://bot:hunter2-secret@db:port/bot",
            "storage.url: not a database URL: 'postgresql+psycopg://bot:***@db:port/bot' "
            "(e.g. sqlite:///tradekit.db or postgresql+psycopg://user@host/db)",
        ),
        (
            "sqlite:/tradekit.db",
            "storage.url: not a database URL: 'sqlite:/tradekit.db' "
            "(e.g. sqlite:///tradekit.db or postgresql+psycopg://user@host/db)",
        ),
        (
            "postgresql+psycopg_async://bot:hunter2-secret@db/bot",
            "storage.url: 'postgresql+psycopg_async' in "
            "'postgresql+psycopg_async://bot:***@db/bot' is an asyncio driver; "
            "use a synchronous one",
        ),
    ],
)
def test_a_storage_url_that_cannot_work_is_refused_without_its_password(
    host: PluginHost, url: str, expected: str
) -> None:
    found = problems(host, {**BASE, "storage": {"url": url}})
    assert found == [expected]
    assert "hunter2" not in str(ConfigError(found))


def test_a_storage_url_whose_driver_is_missing(host: PluginHost) -> None:
    if importlib.util.find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed here")
    assert problems(host, {**BASE, "storage": {"url": "postgresql+pg8000://bot:pw@db/bot"}}) == [
        "storage.url: the driver of 'postgresql+pg8000://bot:***@db/bot' is not installed "
        "(no module 'pg8000')"
    ]


@pytest.mark.parametrize(
    "url", ["sqlite:///tradekit.db", "sqlite://", "postgresql+psycopg://bot:pw@db:5432/bot"]
)
def test_usable_storage_urls_pass(host: PluginHost, url: str) -> None:
    assert parse_settings({**BASE, "storage": {"url": url}}, host, {}).storage.url == url


def test_a_secret_of_the_wrong_type_is_not_shown_in_the_error(host: PluginHost) -> None:
    """An unquoted numeric token or key in YAML is refused without printing it (the message
    goes to stderr and the service's log)."""
    data = {
        **BASE,
        "mode": "paper",
        "api": {"token": 982347234987234},
        "exchange": {"use": "bithumb", "api_key": ["k3y-in-a-list"], "api_secret": 55501234},
    }
    found = problems(host, data)
    text = "\n".join(found)
    for secret in ("982347234987234", "k3y-in-a-list", "55501234"):
        assert secret not in text
    assert "api.token: expected a string (quote it in YAML), got an int (a secret: not shown)" in (
        found
    )
    assert any(p.startswith("exchange.api_key: expected a string") for p in found)
    assert any(p.startswith("exchange.api_secret: expected a string") for p in found)
