"""Every hook is documented with its signature in docs/hooks.md and works end to end."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import attrs
import click
from click.testing import CliRunner

from tradekit import hookspecs
from tradekit.hookspecs import hookimpl
from tradekit.plugins import PluginHost, PluginInfo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
HOOKS = sorted(
    name
    for name, func in vars(hookspecs).items()
    if callable(func) and hasattr(func, f"{hookspecs.PROJECT}_spec")
)


def test_there_are_six_hooks() -> None:
    assert HOOKS == [
        "open_candle_source",
        "register_commands",
        "register_exchanges",
        "register_notifiers",
        "register_risk_rules",
        "register_strategies",
    ]


def test_every_hook_is_documented_with_its_signature() -> None:
    text = DOCS.read_text()
    for name in HOOKS:
        func = getattr(hookspecs, name)
        params = ", ".join(
            f"{p.name}: {p.annotation}" if p.annotation is not p.empty else p.name
            for p in inspect.signature(func).parameters.values()
        )
        assert f"## `{name}({params})" in text, f"{name}({params}) is not documented"
        assert func.__doc__, f"{name} has no docstring"
        assert f"`{name}(" in text.split("## ")[0], f"{name} is missing from the table"


class _Component:
    name = "demo"

    @attrs.frozen
    class Config:
        pass


class DemoPlugin:
    """Implements every hook."""

    @hookimpl
    def register_exchanges(self) -> list[type]:
        return [type("DemoExchange", (_Component,), {})]

    @hookimpl
    def register_strategies(self) -> list[type]:
        return [type("DemoStrategy", (_Component,), {})]

    @hookimpl
    def register_risk_rules(self) -> list[type]:
        return [type("DemoRule", (_Component,), {"sizes_entries": False})]

    @hookimpl
    def register_notifiers(self) -> list[type]:
        return [type("DemoNotifier", (_Component,), {})]

    @hookimpl
    def open_candle_source(self, uri: str) -> Any:
        return ("demo source", uri) if uri.startswith("demo:") else None

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("demo")
        def demo() -> None:
            click.echo("demo ran")


def test_every_hook_is_called_through_the_host() -> None:
    host = PluginHost()
    host.register(DemoPlugin(), PluginInfo("demo", "tradekit-demo", "1.0"))
    for kind in ("exchange", "strategy", "risk_rule", "notifier"):
        registered = host.get(kind, "demo")  # type: ignore[arg-type]
        assert registered.plugin.distribution == "tradekit-demo"
        assert registered.cls.__name__.startswith("Demo")
    assert host.open_candle_source("demo:x") == ("demo source", "demo:x")

    group = click.Group("tradekit")
    host.pm.hook.register_commands(cli=group)
    result = CliRunner().invoke(group, ["demo"])
    assert result.output == "demo ran\n"
    [info] = host.describe()
    assert info["registers"] == {
        "exchange": ["demo"],
        "strategy": ["demo"],
        "risk_rule": ["demo"],
        "notifier": ["demo"],
    }
    assert info["hooks"] == ["open_candle_source", "register_commands"]
