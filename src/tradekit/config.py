"""Configuration: YAML -> ``${ENV}`` substitution -> cattrs -> frozen attrs :class:`Settings`.

Every problem is collected and reported at once, each with its path and the offending value
(``strategy.lookback: expected int, got 'x'``); unknown keys are errors with a "did you mean"
hint. Each component block (``{use: name, ...}``) is structured into that plugin's own
``Config`` class. Secret fields (``metadata={"secret": True}``) are masked whenever the
settings are shown.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs
import cattrs
import yaml
from cattrs.errors import (
    AttributeValidationNote,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from tradekit.errors import ConfigError, PluginError
from tradekit.markets import market_id_problem
from tradekit.models import Timeframe
from tradekit.params import MASK, ConfigValueError, check_range, is_secret, secret_field

if TYPE_CHECKING:
    from tradekit.engine.core import EngineParams
    from tradekit.interfaces import Exchange, Notifier, RiskRule, Strategy
    from tradekit.plugins import Kind, PluginHost

__all__ = [
    "ApiSettings",
    "BacktestSettings",
    "Component",
    "ConfigValueError",
    "PaperSettings",
    "Settings",
    "StorageSettings",
    "check_range",
    "load_settings",
    "masked",
    "secret_field",
    "secret_values",
    "storage_url_problem",
    "structure_config",
    "substitute_env",
]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# -- settings ------------------------------------------------------------------------------


#: The kind of component a :class:`Component` builds (a Strategy, a RiskRule ...).
C = TypeVar("C")


@attrs.frozen
class Component(Generic[C]):
    """A configured component: the registered class and its structured ``Config``."""

    use: str
    cls: type[C]
    config: Any  # an instance of ``cls.Config``, whose type each plugin defines
    distribution: str = ""

    def build(self) -> C:
        """Create the component from its config."""
        return self.cls(self.config)  # type: ignore[call-arg]  # protocols declare no __init__


_ScalarError = ConfigValueError


@attrs.frozen
class StorageSettings:
    """Where the bot records everything (any SQLAlchemy URL)."""

    url: str = "sqlite:///tradekit.db"


@attrs.frozen
class ApiSettings:
    """The control API."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=check_range(1, 65535))
    token: str | None = secret_field()


@attrs.frozen
class AccountSettings:
    """A simulated account: starting cash and the bar fill model's costs.

    See ``docs/backtests.md#fill-rules``.
    """

    initial_cash: float = attrs.field(default=10_000_000.0, validator=check_range(0, low_open=True))
    fee_rate: float = attrs.field(default=0.0025, validator=check_range(0, 1, high_open=True))
    min_order_krw: float = attrs.field(default=5000.0, validator=check_range(0))
    slippage: float = attrs.field(default=0.0, validator=check_range(0, 1, high_open=True))
    #: Sizes are multiples of this (Bithumb: 0.0001); 0.00000001 gives the unrounded fill rules.
    quantity_step: float = attrs.field(default=0.0001)
    #: ``krw``: stops and take-profits on Bithumb's KRW price grid; ``none``: not rounded.
    price_ticks: Literal["krw", "none"] = "krw"

    @quantity_step.validator
    def _power_of_ten(self, attribute: attrs.Attribute[float], value: float) -> None:
        decimals = -math.log10(value) if value > 0 else math.nan
        if not (0 <= decimals <= 12 and abs(decimals - round(decimals)) < 1e-9):
            raise ConfigValueError(
                "a power of ten such as 0.0001 or 0.00000001", value, attribute.name
            )

    def engine_params(self, *, check_cash: bool = True) -> EngineParams:
        """The engine's parameters for this account (its simulated venue's rules included)."""
        from tradekit.engine.core import EngineParams
        from tradekit.engine.rules import KRW_TICKS

        return EngineParams(
            self.initial_cash,
            self.fee_rate,
            self.min_order_krw,
            self.slippage,
            quantity_decimals=round(-math.log10(self.quantity_step)),
            price_ticks=KRW_TICKS if self.price_ticks == "krw" else None,
            check_cash=check_cash,
        )


@attrs.frozen
class PaperSettings(AccountSettings):
    """The simulated account of paper trading.

    With ``resume`` (the default) a restarted bot continues from the account stored by the
    previous paper run in the same database: cash and open positions with their stops.
    """

    resume: bool = True


@attrs.frozen
class BacktestSettings(AccountSettings):
    """Backtest inputs and the simulated venue's parameters (``docs/backtests.md#parameters``)."""

    data: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Settings:
    """The whole, validated configuration."""

    markets: list[str]
    strategy: Component[Strategy]
    risk: list[Component[RiskRule]]
    mode: Literal["backtest", "paper", "live"] = "backtest"
    timeframe: Timeframe = Timeframe("1h")
    exchange: Component[Exchange] | None = None
    notifiers: list[Component[Notifier]] = attrs.field(factory=list)
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    backtest: BacktestSettings = BacktestSettings()
    paper: PaperSettings = PaperSettings()
    #: The ``optimize:`` block as written; ``tradekit optimize`` validates it
    #: (:mod:`tradekit.optimize.spec`), other commands ignore it.
    optimize: dict[str, Any] | None = None
    source: str = ""  # the file it was read from, for messages


@attrs.frozen
class _RawSettings:
    """Top-level shape before the component blocks are structured by their plugins."""

    markets: list[str]
    strategy: Any
    mode: Literal["backtest", "paper", "live"] = "backtest"
    timeframe: Timeframe = Timeframe("1h")
    risk: Any = None
    exchange: Any = None
    notifiers: Any = attrs.field(factory=list)
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    backtest: BacktestSettings = BacktestSettings()
    paper: PaperSettings = PaperSettings()
    optimize: dict[str, Any] | None = None


DEFAULT_RISK: list[dict[str, Any]] = [
    {"use": "daily_loss_limit", "limit": 0.05},
    {"use": "position_size", "fraction": 0.05},
]

# -- strict scalar conversion --------------------------------------------------------------


def _to_int(value: object, _t: object) -> int:
    if isinstance(value, bool):
        raise _ScalarError("int", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
        return int(value.strip())
    raise _ScalarError("int", value)


def _to_float(value: object, _t: object) -> float:
    if isinstance(value, bool):
        raise _ScalarError("number", value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _ScalarError("number", value)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _to_bool(value: object, _t: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _ScalarError("true or false", value)


def _to_str(value: object, _t: object) -> str:
    if isinstance(value, str):
        return value
    raise _ScalarError("a string (quote it in YAML)", value)


def _to_timeframe(value: object, _t: object) -> Timeframe:
    if not isinstance(value, str) or not Timeframe.is_valid(value):
        raise _ScalarError("a timeframe such as '1m', '15m', '1h' or '1d'", value)
    return Timeframe(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def is_list(t: Any) -> bool:
        return typing.get_origin(t) is list

    def structure_list(value: object, t: Any) -> list[Any]:
        # A bare string would otherwise become a list of characters.
        if not isinstance(value, list | tuple):
            raise _ScalarError("a list", value)
        (item_type,) = typing.get_args(t) or (Any,)
        if item_type is Any:
            return list(value)
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(conv.structure(item, item_type))
            except Exception as exc:
                exc.__notes__ = [IterableValidationNote(f"item {index}", index, item_type)]
                errors.append(exc)
        if errors:
            raise IterableValidationError("while structuring a list", errors, t)
        return items

    def is_dict(t: Any) -> bool:
        return typing.get_origin(t) is dict

    def structure_dict(value: object, t: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise _ScalarError("a mapping", value)
        key_type, value_type = typing.get_args(t) or (Any, Any)
        if value_type is Any:
            return dict(value)
        return {
            conv.structure(k, key_type): conv.structure(v, value_type) for k, v in value.items()
        }

    def attrs_factory(cls: type[Any]) -> Any:
        base = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )

        def structure_attrs(data: Any, _t: Any) -> Any:
            # Build without validators, then run every validator, so all bad values are
            # reported at once (attrs would stop at the first one).
            previous = attrs.validators.get_disabled()
            attrs.validators.set_disabled(True)
            try:
                value = base(data, cls)
            except cattrs.ClassValidationError as exc:
                # Some values could not be built: still check the ones that could, so a
                # wrong type in one place does not hide a bad range in another.
                errors = list(exc.exceptions) + _validate_fields(cls, data, exc)
                raise cattrs.ClassValidationError(exc.message, errors, cls) from None
            finally:
                attrs.validators.set_disabled(previous)
            errors = _validate_fields(
                cls, {f.name: getattr(value, f.name) for f in attrs.fields(cls)}, None, value
            )
            if errors:
                raise cattrs.ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
            return value

        def _validate_fields(
            cls: type[Any],
            values: Mapping[str, Any],
            failed: cattrs.ClassValidationError | None,
            instance: Any = None,
        ) -> list[Exception]:
            """Run each field's validator; with ``failed``, only on raw values that structure."""
            bad = set()
            if failed is not None:
                bad = {note.name for _sub, note in failed.group_exceptions()[0]}
            errors: list[Exception] = []
            for field in attrs.fields(cls):
                if field.validator is None or field.name in bad:
                    continue
                if field.name not in values:
                    continue
                value = values[field.name]
                if failed is not None:
                    try:
                        value = conv.structure(value, field.type)
                    except Exception:
                        continue
                try:
                    field.validator(instance, field, value)
                except (ValueError, TypeError) as exc:
                    note = f"Structuring class {cls.__qualname__} @ attribute {field.name}"
                    exc.__notes__ = [AttributeValidationNote(note, field.name, field.type)]
                    errors.append(exc)
                except Exception:  # a validator that needs the whole instance: skipped here
                    if failed is None:
                        raise
            return errors

        return structure_attrs

    conv.register_structure_hook_factory(attrs.has, attrs_factory)
    conv.register_structure_hook_func(is_list, structure_list)
    conv.register_structure_hook_func(is_dict, structure_dict)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(float, _to_float)
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(Timeframe, _to_timeframe)
    return conv


_CONVERTER = _make_converter()


def structure_config(data: Any, cls: type[Any], path: str = "") -> Any:
    """Structure ``data`` into ``cls`` with tradekit's strict rules.

    Raises:
        ConfigError: listing every problem with its path and value.
    """
    if data is None:
        data = {}
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ConfigError([f"{path or '<top>'}: expected a mapping, got {data!r}"])
    try:
        return _CONVERTER.structure(data, cls)
    except Exception as exc:
        raise ConfigError(_problems(exc, path, data, cls)) from None


# -- error formatting ----------------------------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _lookup(data: Any, key: str | int) -> Any:
    try:
        return data[key]
    except (KeyError, IndexError, TypeError):
        return None


def _problems(exc: BaseException, path: str, data: Any, cls: Any) -> list[str]:
    where = path or "<top>"
    if isinstance(exc, ForbiddenExtraKeysError):
        fields = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        out = []
        for key in sorted(exc.extra_fields):
            hint = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
            msg = f"{_join(path, key)}: unknown key"
            msg += (
                f" (did you mean {hint[0]!r}?)" if hint else f" (known keys: {', '.join(fields)})"
            )
            out.append(msg)
        return out
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        out = []
        for sub, note in with_notes:
            out += _problems(sub, _join(path, note.index), _lookup(data, note.index), note.type)
        for sub in without:
            out += _problems(sub, path, data, cls)
        return out
    if isinstance(exc, cattrs.ClassValidationError):
        attr_notes, others = exc.group_exceptions()
        out = []
        for sub, attr_note in attr_notes:
            sub_path = _join(path, attr_note.name)
            missing = isinstance(data, Mapping) and attr_note.name not in data
            if isinstance(sub, KeyError) and missing:
                out.append(f"{sub_path}: required key is missing")
            else:
                out += _problems(sub, sub_path, _lookup(data, attr_note.name), attr_note.type)
        for sub in others:
            out += _problems(sub, path, data, cls)
        return out
    if isinstance(exc, BaseExceptionGroup):
        return [p for sub in exc.exceptions for p in _problems(sub, path, data, cls)]
    if isinstance(exc, _ScalarError):
        return [f"{where}: {exc}"]
    if typing.get_origin(cls) is Literal:
        choices = ", ".join(repr(c) for c in typing.get_args(cls))
        return [f"{where}: expected one of {choices}, got {data!r}"]
    if isinstance(exc, TypeError | AttributeError) and data is not None:
        return [f"{where}: expected {_type_name(cls)}, got {data!r}"]
    return [f"{where}: {exc} (got {data!r})"]


def _type_name(cls: Any) -> str:
    origin = typing.get_origin(cls)
    if origin in (list, tuple):
        return "a list"
    if origin is dict or (attrs.has(cls) if isinstance(cls, type) else False):
        return "a mapping"
    return getattr(cls, "__name__", str(cls))


# -- environment substitution --------------------------------------------------------------


def substitute_env(
    data: Any, env: Mapping[str, str], path: str = "", problems: list[str] | None = None
) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string value.

    Missing variables without a default are appended to ``problems`` (naming the variable).
    """
    problems = [] if problems is None else problems
    if isinstance(data, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is not None:
                    return default
                problems.append(
                    f"{path or '<top>'}: environment variable {name} is not set "
                    f"(set it, or write ${{{name}:-default}})"
                )
                return ""
            return value

        return _ENV_RE.sub(repl, data)
    if isinstance(data, dict):
        return {k: substitute_env(v, env, _join(path, str(k)), problems) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute_env(v, env, _join(path, i), problems) for i, v in enumerate(data)]
    return data


# -- loading -------------------------------------------------------------------------------


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
    raw: _RawSettings | None = None
    try:
        raw = structure_config(data, _RawSettings)
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


def _run_problems(
    raw: _RawSettings, risk: list[Component[RiskRule]], risk_blocks: Any
) -> list[str]:
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


# user:password@ in a URL that does not even parse; greedy up to the last "@" (a password with
# an unescaped "@" or "/" is one reason a URL does not parse).
_URL_PASSWORD = re.compile(r"^([^:/?#]*://[^:/@]*:).*@", re.DOTALL)


def _hide_password(url: str) -> str:
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", url)


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
        return f"not a database URL: {_hide_password(url)!r} ({example})"
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


# -- display -------------------------------------------------------------------------------


def _unstructure(value: Any) -> Any:
    if isinstance(value, Component):
        return {"use": value.use, **_unstructure(value.config)}
    if isinstance(value, Timeframe):
        return value.value
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if is_secret(field):
                out[field.name] = MASK if item else item
            else:
                out[field.name] = _unstructure(item)
        return out
    if isinstance(value, dict):
        return {k: _unstructure(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unstructure(v) for v in value]
    return value


def masked(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, every secret replaced by ``***``."""
    data = _unstructure(settings)
    data.pop("source", None)
    if data.get("optimize") is None:
        data.pop("optimize", None)
    return typing.cast(dict[str, Any], data)


def secret_values(settings: Settings) -> list[str]:
    """Every non-empty secret in the settings (for the log masker)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Component):
            walk(value.config)
        elif attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                if is_secret(field) and isinstance(item, str) and item:
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(settings)
    return found
