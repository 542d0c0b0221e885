"""Plugin loading: a fresh pluggy manager per call, entry points, typed registries.

Built-in plugins are registered exactly like third-party ones. ``TRADEKIT_LOAD_PLUGINS``
limits entry-point loading to the listed distributions (comma separated; empty: built-ins
only). A plugin that fails to import is reported as a :class:`PluginError` naming its
distribution while the other plugins still load.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

import attrs
import pluggy

from tradekit import hookspecs
from tradekit.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "PluginHost",
    "PluginInfo",
    "Registered",
    "get_plugin_manager",
    "load_plugins",
]

ENTRY_POINT_GROUP = "tradekit"
LOAD_ENV = "TRADEKIT_LOAD_PLUGINS"
BUILTIN_DIST = "tradekit-core"

Kind = Literal["exchange", "strategy", "risk_rule", "notifier"]
KINDS: dict[Kind, str] = {
    "exchange": "register_exchanges",
    "strategy": "register_strategies",
    "risk_rule": "register_risk_rules",
    "notifier": "register_notifiers",
}


def _normalize(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


@attrs.frozen
class PluginInfo:
    """A loaded plugin: its pluggy name, distribution and version."""

    name: str
    distribution: str
    version: str


@attrs.frozen
class Registered:
    """A component class and the plugin that registered it."""

    kind: Kind
    name: str
    cls: type[Any]
    plugin: PluginInfo


def get_plugin_manager() -> pluggy.PluginManager:
    """Return a new plugin manager with tradekit's hook specifications and nothing registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


class PluginHost:
    """A plugin manager plus what tradekit knows about each plugin.

    Build one with :func:`load_plugins`; tests may create an empty host and
    :meth:`register` plugin objects directly.
    """

    def __init__(self) -> None:
        self.pm = get_plugin_manager()
        self.plugins: dict[str, PluginInfo] = {}
        self.errors: list[PluginError] = []
        self._registries: dict[Kind, dict[str, Registered]] = {}

    def register(self, plugin: object, info: PluginInfo) -> None:
        """Register one plugin module or object.

        Raises:
            PluginError: a hook implementation is ``async def``, a hook name is unknown, or
                the name is taken.
        """
        for attr_name in dir(plugin):
            func = getattr(plugin, attr_name, None)
            is_hook = callable(func) and hasattr(func, f"{hookspecs.PROJECT}_impl")
            if is_hook and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
                raise PluginError(
                    f"plugin {info.name!r} ({info.distribution} {info.version}): hook "
                    f"{attr_name!r} is 'async def'; hooks must be plain functions that "
                    "return classes (the classes themselves may be async)"
                )
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
        except (ValueError, pluggy.PluginValidationError) as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}): {exc}"
            ) from exc
        self.plugins[info.name] = info
        self._registries = {}

    # -- registries ---------------------------------------------------------------------

    def _collect(self, kind: Kind) -> dict[str, Registered]:
        hook = getattr(self.pm.hook, KINDS[kind])
        found: dict[str, Registered] = {}
        # Hook implementations are called one by one (not through hook()) so every class can
        # be attributed to the plugin that registered it.
        for impl in reversed(hook.get_hookimpls()):
            info = self.plugins[impl.plugin_name]
            classes = impl.function() or []
            for cls in classes:
                name = getattr(cls, "name", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(
                        f"plugin {info.name!r} ({info.distribution}): {kind} class "
                        f"{getattr(cls, '__qualname__', cls)!r} has no 'name' attribute"
                    )
                if not attrs.has(getattr(cls, "Config", None)):  # type: ignore[arg-type]
                    raise PluginError(
                        f"plugin {info.name!r} ({info.distribution}): {kind} {name!r} needs an "
                        "attrs class named 'Config'"
                    )
                if kind == "risk_rule" and not isinstance(
                    getattr(cls, "sizes_entries", None), bool
                ):
                    # The core reads it before the first bar: say so at load, naming the plugin.
                    raise PluginError(
                        f"plugin {info.name!r} ({info.distribution}): risk rule {name!r} needs "
                        "a class attribute 'sizes_entries' (True if it sets the entry's quantity)"
                    )
                if name in found:
                    other = found[name].plugin
                    raise PluginError(
                        f"{kind} name {name!r} is registered twice: by {other.distribution} "
                        f"(plugin {other.name!r}) and by {info.distribution} "
                        f"(plugin {info.name!r})"
                    )
                found[name] = Registered(kind, name, cls, info)
        return found

    def registry(self, kind: Kind) -> dict[str, Registered]:
        """Every registered class of one kind, by name.

        Raises:
            PluginError: two plugins register the same name (both are named).
        """
        # One kind at a time: a backtest that needs a strategy and risk rules does not import
        # every exchange connector and notifier (an HTTP client alone is most of a second).
        found = self._registries.get(kind)
        if found is None:
            found = self._registries[kind] = self._collect(kind)
        return found

    def get(self, kind: Kind, name: str) -> Registered:
        """Look up one component class.

        Raises:
            PluginError: nothing of that kind is registered under ``name``; the message lists
                what is available and any plugin that failed to load.
        """
        reg = self.registry(kind)
        if name in reg:
            return reg[name]
        known = ", ".join(sorted(reg)) or "none"
        msg = f"no {kind.replace('_', ' ')} named {name!r} (available: {known})"
        if self.errors:
            msg += "; plugins that failed to load: " + "; ".join(str(e) for e in self.errors)
        raise PluginError(msg)

    def open_candle_source(self, uri: str) -> Any:
        """Ask the plugins for a candle source for ``uri``."""
        source = self.pm.hook.open_candle_source(uri=uri)
        if source is None:
            raise PluginError(f"no plugin can read candles from {uri!r}")
        return source

    def describe(self) -> list[dict[str, Any]]:
        """Each plugin with its distribution, version and what it registers."""
        out: list[dict[str, Any]] = []
        for info in self.plugins.values():
            registers: dict[str, list[str]] = {}
            for kind in KINDS:
                names = [r.name for r in self.registry(kind).values() if r.plugin == info]
                if names:
                    registers[kind] = sorted(names)
            plugin = self.pm.get_plugin(info.name)
            hooks = sorted(
                h.name
                for h in (self.pm.get_hookcallers(plugin) or [])
                if h.name not in KINDS.values()
            )
            out.append(
                {
                    "name": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "registers": registers,
                    "hooks": hooks,
                }
            )
        return out


def _allowed_distributions() -> set[str] | None:
    raw = os.environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {_normalize(part) for part in raw.split(",") if part.strip()}


def _entry_points() -> Iterable[EntryPoint]:
    return entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(
    *,
    entry_points_loader: Callable[[], Iterable[EntryPoint]] = _entry_points,
) -> PluginHost:
    """Build a fresh :class:`PluginHost`: built-ins first, then installed entry points.

    Plugins that fail to import or register are collected in ``host.errors`` (each a
    :class:`PluginError` naming the distribution); the others still load.
    """
    from tradekit import __version__
    from tradekit.builtin import hooks as builtin_hooks

    host = PluginHost()
    host.register(builtin_hooks, PluginInfo("builtin", BUILTIN_DIST, __version__))
    allowed = _allowed_distributions()
    for ep in sorted(entry_points_loader(), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        version = ep.dist.version if ep.dist is not None else "?"
        if allowed is not None and _normalize(dist) not in allowed:
            continue
        info = PluginInfo(ep.name, dist, version)
        if ep.name in host.plugins:
            other = host.plugins[ep.name]
            host.errors.append(
                PluginError(
                    f"plugin name {ep.name!r} is used by both {other.distribution} and {dist}"
                )
            )
            continue
        try:
            module = ep.load()
        except Exception as exc:
            host.errors.append(
                PluginError(
                    f"plugin {ep.name!r} from {dist} {version} failed to import "
                    f"({ep.value}): {type(exc).__name__}: {exc}"
                )
            )
            continue
        try:
            host.register(module, info)
        except PluginError as exc:
            host.errors.append(exc)
    return host
