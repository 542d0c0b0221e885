"""The hook specifications: what a tradekit plugin can provide.

A plugin is a module (or object) with functions marked ``@hookimpl``, listed under the
``tradekit`` entry-point group of its distribution::

    [project.entry-points.tradekit]
    myplugin = "my_package.hooks"

Hooks run once at start-up, never per bar, and must be plain ``def`` functions: an
``async def`` implementation is rejected when the plugin loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from tradekit.interfaces import CandleSource, Exchange, Notifier, RiskRule, Strategy

PROJECT = "tradekit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = [
    "PROJECT",
    "hookimpl",
    "hookspec",
    "open_candle_source",
    "register_commands",
    "register_exchanges",
    "register_notifiers",
    "register_risk_rules",
    "register_strategies",
]


@hookspec
def register_exchanges() -> list[type[Exchange]]:
    """Return exchange connector classes (see :class:`tradekit.interfaces.Exchange`).

    Each class needs a unique ``name`` and an attrs ``Config`` class.
    """
    raise NotImplementedError


@hookspec
def register_strategies() -> list[type[Strategy]]:
    """Return strategy classes (see :class:`tradekit.interfaces.Strategy`)."""
    raise NotImplementedError


@hookspec
def register_risk_rules() -> list[type[RiskRule]]:
    """Return risk rule classes (see :class:`tradekit.interfaces.RiskRule`)."""
    raise NotImplementedError


@hookspec
def register_notifiers() -> list[type[Notifier]]:
    """Return notifier classes (see :class:`tradekit.interfaces.Notifier`)."""
    raise NotImplementedError


@hookspec(firstresult=True)
def open_candle_source(uri: str) -> CandleSource | None:
    """Return a candle source for ``uri``, or None if this plugin does not handle it.

    The first non-None answer wins; the built-in CSV reader answers last.
    """
    raise NotImplementedError


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``tradekit`` command line."""
    raise NotImplementedError
