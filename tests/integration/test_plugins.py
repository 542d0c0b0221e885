"""Plugin discovery through real entry points, blocking, and every PluginError."""

from __future__ import annotations

import textwrap
from pathlib import Path

import attrs
import pytest

from tradekit.errors import PluginError
from tradekit.hookspecs import hookimpl
from tradekit.plugins import PluginHost, PluginInfo, get_plugin_manager, load_plugins


def make_distribution(site: Path, dist: str, modules: dict[str, str], entry_points: str) -> None:
    """Install a tiny distribution into ``site``: real metadata that importlib finds."""
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TRADEKIT_LOAD_PLUGINS", raising=False)
    return tmp_path


def test_installed_workspace_plugins_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEKIT_LOAD_PLUGINS", raising=False)
    host = load_plugins()
    assert host.errors == []
    dists = {info.distribution for info in host.plugins.values()}
    assert {"tradekit-core", "tradekit-bithumb", "tradekit-breakout", "tradekit-slack"} <= dists
    assert host.get("strategy", "breakout").plugin.distribution == "tradekit-breakout"
    assert host.get("exchange", "bithumb").plugin.distribution == "tradekit-bithumb"
    assert host.get("notifier", "slack").plugin.distribution == "tradekit-slack"
    assert set(host.registry("risk_rule")) == {"daily_loss_limit", "position_size"}


def test_each_call_builds_a_fresh_manager() -> None:
    assert get_plugin_manager() is not get_plugin_manager()
    assert load_plugins().pm is not load_plugins().pm


def test_load_plugins_env_limits_distributions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEKIT_LOAD_PLUGINS", "tradekit_breakout")
    host = load_plugins()
    assert sorted(host.plugins) == ["breakout", "builtin"]
    monkeypatch.setenv("TRADEKIT_LOAD_PLUGINS", "")
    host = load_plugins()
    assert list(host.plugins) == ["builtin"]
    with pytest.raises(PluginError, match=r"no strategy named 'breakout' \(available: none\)"):
        host.get("strategy", "breakout")


def test_plugin_that_fails_to_import_names_distribution_and_others_load(site: Path) -> None:
    make_distribution(
        site,
        "tradekit-broken",
        {"broken_hooks": "import does_not_exist_anywhere\n"},
        "[tradekit]\nbroken = broken_hooks\n",
    )
    host = load_plugins()
    assert [str(e) for e in host.errors] == [
        "plugin 'broken' from tradekit-broken 1.2.3 failed to import (broken_hooks): "
        "ModuleNotFoundError: No module named 'does_not_exist_anywhere'"
    ]
    assert "breakout" in host.registry("strategy")


def test_async_hook_implementation_is_rejected(site: Path) -> None:
    make_distribution(
        site,
        "tradekit-asyncy",
        {
            "asyncy_hooks": """
                from tradekit.hookspecs import hookimpl

                @hookimpl
                async def register_strategies():
                    return []
            """
        },
        "[tradekit]\nasyncy = asyncy_hooks\n",
    )
    host = load_plugins()
    assert len(host.errors) == 1
    assert str(host.errors[0]) == (
        "plugin 'asyncy' (tradekit-asyncy 1.2.3): hook 'register_strategies' is 'async def'; "
        "hooks must be plain functions that return classes (the classes themselves may be async)"
    )
    assert "asyncy" not in host.plugins


def test_two_plugins_registering_one_name_are_both_named(site: Path) -> None:
    make_distribution(
        site,
        "tradekit-copycat",
        {
            "copycat_hooks": """
                import attrs
                from tradekit.hookspecs import hookimpl

                class Copy:
                    name = "breakout"

                    @attrs.frozen
                    class Config:
                        pass

                @hookimpl
                def register_strategies():
                    return [Copy]
            """
        },
        "[tradekit]\ncopycat = copycat_hooks\n",
    )
    host = load_plugins()
    with pytest.raises(PluginError) as info:
        host.registry("strategy")
    message = str(info.value)
    assert message.startswith("strategy name 'breakout' is registered twice: by ")
    assert "tradekit-breakout (plugin 'breakout')" in message
    assert "tradekit-copycat (plugin 'copycat')" in message


def test_misspelt_hook_is_caught_by_check_pending() -> None:
    class Plugin:
        @hookimpl
        def register_stratgies(self) -> list[type]:
            return []

    host = PluginHost()
    with pytest.raises(PluginError, match="register_stratgies"):
        host.register(Plugin(), PluginInfo("typo", "tradekit-typo", "0.1"))
    assert "typo" not in host.plugins


def test_class_without_name_or_config_is_rejected() -> None:
    class Nameless:
        pass

    class Plugin:
        @hookimpl
        def register_notifiers(self) -> list[type]:
            return [Nameless]

    host = PluginHost()
    host.register(Plugin(), PluginInfo("odd", "tradekit-odd", "0.1"))
    with pytest.raises(PluginError, match=r"notifier class .*Nameless.* has no 'name' attribute"):
        host.registry("notifier")


def test_risk_rule_without_sizes_entries_is_rejected_at_load() -> None:
    @attrs.frozen
    class NoConfig:
        pass

    class Vague:
        name = "vague"
        Config = NoConfig

    class Plugin:
        @hookimpl
        def register_risk_rules(self) -> list[type]:
            return [Vague]

    host = PluginHost()
    host.register(Plugin(), PluginInfo("vague", "tradekit-vague", "0.1"))
    with pytest.raises(PluginError, match=r"risk rule 'vague' needs a class attribute 'sizes_e"):
        host.registry("risk_rule")


def test_open_candle_source_builtin_answers_last(tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def open_candle_source(self, uri: str) -> object | None:
            return "mine" if uri.startswith("mine://") else None

    host = load_plugins()
    host.register(Plugin(), PluginInfo("mine", "tradekit-mine", "0.1"))
    assert host.open_candle_source("mine://x") == "mine"
    csv_source = host.open_candle_source(str(tmp_path / "x.csv"))
    assert type(csv_source).__name__ == "CsvCandleSource"
    with pytest.raises(PluginError, match="no plugin can read candles from 'ftp://nowhere'"):
        host.open_candle_source("ftp://nowhere")
