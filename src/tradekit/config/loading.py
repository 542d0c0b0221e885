"""Reading a config file: YAML, ``${ENV}``, the top level, then each ``{use: ...}`` component.

Component blocks are structured into the ``Config`` class of the plugin registered under
that name; what ``run`` would refuse later (a risk chain that sizes no entry, a storage URL
that cannot work) is refused here, so ``tradekit config check`` sees it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import yaml

from tradekit.config.convert import structure_config
from tradekit.config.env import substitute_env
from tradekit.config.settings import DEFAULT_RISK, Component, RawSettings, Settings
from tradekit.errors import ConfigError, PluginError
from tradekit.markets import market_id_problem
from tradekit.params import hide_url_password

if TYPE_CHECKING:
    from tradekit.interfaces import RiskRule
    from tradekit.plugins import Kind, PluginHost

__all__ = ["load_settings", "parse_settings", "storage_url_problem"]


def _component(
    host: PluginHost, kind: Kind, block: Any, path: str, problems: list[str]
) -> Component[Any] | None:
    if not isinstance(block, Mapping):
        problems.append(f"{path}: expected a mapping with 'use', got {block!r}")
        return None
    use = block.get("use")
    if not isinstance(use, str) or not use:
        problems.append(f"{path}.use: required key is missing (name of the {kind} to use)")
        return None
    try:
        registered = host.get(kind, use)
    except PluginError:
        known = sorted(host.registry(kind))
        hint = difflib.get_close_matches(use, known, n=1, cutoff=0.6)
        msg = f"{path}.use: no {kind.replace('_', ' ')} named {use!r}"
        msg += (
            f" (did you mean {hint[0]!r}?)"
            if hint
            else f" (available: {', '.join(known) or 'none'})"
        )
        if host.errors:
            msg += "; plugins that failed to load: " + "; ".join(str(e) for e in host.errors)
        problems.append(msg)
        return None
    options = {k: v for k, v in block.items() if k != "use"}
    try:
        config = structure_config(options, registered.cls.Config, path)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    return Component(use, registered.cls, config, registered.plugin.distribution)


def _components(
    host: PluginHost, kind: Kind, blocks: Any, path: str, problems: list[str]
) -> list[Component[Any]]:
    if not isinstance(blocks, list):
        problems.append(f"{path}: expected a list of {{use: ...}} blocks, got {blocks!r}")
        return []
    built = [_component(host, kind, b, f"{path}[{i}]", problems) for i, b in enumerate(blocks)]
    return [c for c in built if c is not None]


def parse_settings(
    data: Any, host: PluginHost, env: Mapping[str, str] | None = None, source: str = ""
) -> Settings:
    """Validate an already-parsed YAML document into :class:`Settings`.

    Raises:
        ConfigError: every problem found, each with its path and value.
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError([f"<top>: expected a mapping of settings, got {data!r}"])
    data = substitute_env(dict(data), os.environ if env is None else env, "", problems)
    raw: RawSettings | None = None
    try:
        raw = structure_config(data, RawSettings)
    except ConfigError as exc:
        problems.extend(exc.problems)
    # Component blocks are checked even when the top level has problems, so every
    # mistake is reported in one go.
    strategy = None
    if "strategy" in data:
        strategy = _component(host, "strategy", data["strategy"], "strategy", problems)
    risk_blocks = data.get("risk")
    if risk_blocks is None:
        risk_blocks = DEFAULT_RISK
    risk = _components(host, "risk_rule", risk_blocks, "risk", problems)
    exchange = None
    if data.get("exchange") is not None:
        exchange = _component(host, "exchange", data["exchange"], "exchange", problems)
    notifiers = _components(host, "notifier", data.get("notifiers") or [], "notifiers", problems)
    if raw is None:
        raise ConfigError(problems)
    if raw.exchange is None and raw.mode in ("paper", "live"):
        problems.append(f"exchange: required in {raw.mode} mode (e.g. {{use: bithumb}})")
    if not raw.markets:
        problems.append("markets: at least one market is needed, e.g. [KRW-BTC]")
    if len(set(raw.markets)) != len(raw.markets):
        problems.append(f"markets: listed twice: {raw.markets!r}")
    if raw.mode == "backtest":
        for market in raw.markets:
            if market not in raw.backtest.data:
                problems.append(f"backtest.data: no candle file for market {market!r}")
    if raw.api.host not in ("127.0.0.1", "localhost", "::1") and not raw.api.token:
        problems.append(
            f"api.token: required when api.host is {raw.api.host!r} (not loopback): "
            "anyone who can reach the port could trade"
        )
    # What `run` or the engine would refuse later is refused here, so `config check` sees it.
    problems.extend(_run_problems(raw, risk, risk_blocks))
    if problems:
        raise ConfigError(problems)
    assert strategy is not None
    return Settings(
        markets=list(raw.markets),
        strategy=strategy,
        risk=risk,
        mode=raw.mode,
        timeframe=raw.timeframe,
        exchange=exchange,
        notifiers=notifiers,
        storage=raw.storage,
        api=raw.api,
        backtest=raw.backtest,
        paper=raw.paper,
        optimize=raw.optimize,
        source=source,
    )


def _run_problems(raw: RawSettings, risk: list[Component[RiskRule]], risk_blocks: Any) -> list[str]:
    """Market ids, a risk chain that sizes entries, a usable storage URL."""
    found = [
        problem
        for i, market in enumerate(raw.markets)
        if (problem := market_id_problem(f"markets[{i}]", market)) is not None
    ]
    # A key that is also in markets was reported there already.
    found += [
        problem
        for market in raw.backtest.data
        if market not in raw.markets
        and (problem := market_id_problem("backtest.data", market)) is not None
    ]
    # Only when every rule was understood: a misspelt sizing rule is reported as such already.
    understood = isinstance(risk_blocks, list) and len(risk) == len(risk_blocks)
    if understood and not any(rule.cls.sizes_entries for rule in risk):
        found.append(
            f"risk: no rule sizes entries in {[rule.use for rule in risk]!r}; add one "
            "such as {use: position_size, fraction: 0.05}"
        )
    url_problem = storage_url_problem(raw.storage.url)
    if url_problem is not None:
        found.append(f"storage.url: {url_problem}")
    return found


# sqlite:///relative/path, sqlite:////absolute/path or sqlite:// (in memory), no query.
_PLAIN_SQLITE = re.compile(r"^sqlite(\+pysqlite)?://(/[^?#]*)?$")


def storage_url_problem(url: str) -> str | None:
    """None for a usable store URL, else why not; the URL's password never appears.

    The URL must parse, name a database SQLAlchemy knows, and its driver must be installed
    and synchronous (the store is used from worker threads).
    """
    if _PLAIN_SQLITE.match(url):
        # The default and most common URL: a SQLite file, whose driver comes with Python.
        # Answered without importing sqlalchemy, which alone would take a backtest's
        # start-up from tenths of a second to most of a second.
        return None
    # Imported here: sqlalchemy is heavy, and only loading a config needs it.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. sqlite:///tradekit.db or postgresql+psycopg://user@host/db"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"not a database URL: {hide_url_password(url)!r} ({example})"
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown database {parsed.drivername!r} in {shown!r} ({example})"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or str(exc)
        return f"the driver of {shown!r} is not installed (no module {missing!r})"
    if getattr(dialect, "is_async", False):
        return f"{parsed.drivername!r} in {shown!r} is an asyncio driver; use a synchronous one"
    return None


def load_settings(
    path: str | Path, host: PluginHost | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read, substitute and validate a YAML config file.

    Relative paths in ``backtest.data`` and in components' path fields (such as the replay
    exchange's ``data``) are resolved against the config file's folder.

    Raises:
        ConfigError: the file is missing or unreadable, or the settings are invalid.
    """
    from tradekit.plugins import load_plugins

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    settings = parse_settings(data, host or load_plugins(), env, source=str(path))
    base = path.parent
    data_paths = {market: _relative_to(base, uri) for market, uri in settings.backtest.data.items()}
    return attrs.evolve(
        settings,
        backtest=attrs.evolve(settings.backtest, data=data_paths),
        exchange=settings.exchange and _component_paths(settings.exchange, base),
        strategy=_component_paths(settings.strategy, base),
        risk=[_component_paths(c, base) for c in settings.risk],
        notifiers=[_component_paths(c, base) for c in settings.notifiers],
    )


def _relative_to(base: Path, uri: str) -> str:
    return uri if "://" in uri or Path(uri).is_absolute() else str(base / uri)


def _component_paths(component: Component[Any], base: Path) -> Component[Any]:
    """Resolve a component's path fields (``metadata={"path": True}``) against ``base``.

    A field holds a path or a mapping of names to paths; URLs and absolute paths are kept.
    """
    config = component.config
    if not attrs.has(type(config)):
        return component
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(config)):
        value = getattr(config, field.name)
        if not field.metadata.get("path") or value is None:
            continue
        if isinstance(value, str):
            changes[field.name] = _relative_to(base, value)
        elif isinstance(value, dict):
            changes[field.name] = {k: _relative_to(base, v) for k, v in value.items()}
    if not changes:
        return component
    return attrs.evolve(component, config=attrs.evolve(config, **changes))
