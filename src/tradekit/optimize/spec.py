"""The ``optimize:`` block of a backtest config: objective, split, sampler and search space.

Every mistake is a :class:`~tradekit.errors.ConfigError` naming its key and value, like the
rest of the config. A ``space`` key addresses a setting of the resolved config
(``strategy.lookback``, ``risk[1].fraction``, ``backtest.slippage``); it must exist there,
and each end of its range (each choice) must be accepted by the component it configures.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from tradekit.config import check_range, structure_config
from tradekit.errors import ConfigError

__all__ = [
    "OBJECTIVES",
    "Choice",
    "FloatRange",
    "IntRange",
    "OptimizeSpec",
    "Param",
    "WalkForward",
    "get_path",
    "parse_optimize",
    "parse_path",
    "set_path",
]

#: What a trial maximises: a figure of the backtest summary (calmar is computed here).
OBJECTIVES = (
    "sharpe",
    "total_return",
    "calmar",
    "profit_factor",
    "win_rate",
    "average_trade_return",
)
Objective = Literal[
    "sharpe", "total_return", "calmar", "profit_factor", "win_rate", "average_trade_return"
]
Sampler = Literal["tpe", "grid", "random"]

# Settings a trial may change: the strategy, the risk chain and the simulated account.
# The data, markets and timeframe fix what is being fitted; the rest does not affect a backtest.
_SEARCHABLE_ROOTS = ("strategy", "risk", "backtest")
_FIXED = ("backtest.data",)
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@attrs.frozen
class WalkForward:
    """Walk-forward: the data cut into ``windows`` consecutive parts, each split and searched."""

    windows: int = attrs.field(default=1, validator=check_range(1, None))


@attrs.frozen
class _RawOptimize:
    objective: Objective = "sharpe"
    min_trades: int = attrs.field(default=1, validator=check_range(0, None))
    train_fraction: float = attrs.field(default=0.7, validator=check_range(0, 1, low_open=True))
    sampler: Sampler = "tpe"
    seed: int = 0
    space: dict[str, Any] = attrs.field(factory=dict)
    walk_forward: WalkForward = WalkForward()


@attrs.frozen
class IntRange:
    """Whole numbers from ``low`` to ``high`` (both included), every ``step``."""

    key: str
    low: int
    high: int
    step: int = 1

    def grid(self) -> list[int]:
        """Every value, for the grid sampler."""
        return list(range(self.low, self.high + 1, self.step))

    def edges(self) -> list[int]:
        """The values checked against the config before searching."""
        return [self.low, self.high]


@attrs.frozen
class FloatRange:
    """Numbers from ``low`` to ``high``; on a grid of ``step`` when one is given."""

    key: str
    low: float
    high: float
    step: float | None = None

    def grid(self) -> list[float]:
        """Every value on the step grid (the grid sampler needs a step)."""
        assert self.step is not None
        count = math.floor((self.high - self.low) / self.step + 1e-9)
        # Rounded so 0.01 + 2 * 0.005 is written 0.02, not 0.020000000000000004.
        return [round(self.low + i * self.step, 12) for i in range(count + 1)]

    def edges(self) -> list[float]:
        """The values checked against the config before searching."""
        return [self.low, self.high]


@attrs.frozen
class Choice:
    """One of a list of values."""

    key: str
    values: tuple[Any, ...]

    def grid(self) -> list[Any]:
        """Every value."""
        return list(self.values)

    def edges(self) -> list[Any]:
        """Every value: each one is checked against the config."""
        return list(self.values)


Param = IntRange | FloatRange | Choice


@attrs.frozen
class OptimizeSpec:
    """The validated ``optimize:`` block."""

    objective: str
    min_trades: int
    train_fraction: float
    sampler: str
    seed: int
    params: tuple[Param, ...]
    windows: int = 1

    def grid_space(self) -> dict[str, list[Any]]:
        """The search space as the grid sampler wants it."""
        return {p.key: p.grid() for p in self.params}

    def grid_size(self) -> int:
        """How many points the grid has."""
        return math.prod(len(p.grid()) for p in self.params)


# -- paths --------------------------------------------------------------------------------


def parse_path(key: str) -> list[str | int]:
    """``risk[1].fraction`` -> ``["risk", 1, "fraction"]`` (``risk.1.fraction`` works too).

    Raises:
        ValueError: the key is not a dotted path.
    """
    parts: list[str | int] = []
    pos = 0
    for match in _PATH_TOKEN.finditer(key):
        if match.start() != pos:
            raise ValueError(key)
        name, index = match.groups()
        if index is not None:
            parts.append(int(index))
        elif name.isdigit():
            parts.append(int(name))
        else:
            parts.append(name)
        pos = match.end()
        if pos < len(key) and key[pos] == ".":
            pos += 1
            if pos == len(key):
                raise ValueError(key)
    if pos != len(key) or not parts or not isinstance(parts[0], str):
        raise ValueError(key)
    return parts


def get_path(data: Any, path: Sequence[str | int]) -> Any:
    """The value at ``path``.

    Raises:
        KeyError: a step of the path does not exist (args: the path up to it).
    """
    node = data
    for depth, step in enumerate(path):
        in_list = isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)
        if in_list or (isinstance(step, str) and isinstance(node, Mapping) and step in node):
            node = node[step]
        else:
            raise KeyError(path[: depth + 1])
    return node


def set_path(doc: dict[str, Any], path: Sequence[str | int], value: Any, resolved: Any) -> None:
    """Set ``path`` in the raw document ``doc``, filling what it leaves out from ``resolved``.

    A setting left at its default is not in the file (``risk`` when the default chain is
    used, ``strategy.trailing_stop``): the resolved config supplies the missing parents.
    """
    node: Any = doc
    for depth, step in enumerate(path[:-1]):
        present = (isinstance(node, list) and isinstance(step, int) and step < len(node)) or (
            isinstance(node, dict) and step in node and node[step] is not None
        )
        if not present:
            node[step] = copy.deepcopy(get_path(resolved, path[: depth + 1]))
        node = node[step]
    node[path[-1]] = value


def _show(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


# -- parsing ------------------------------------------------------------------------------


def parse_optimize(block: Any, resolved: Mapping[str, Any]) -> OptimizeSpec:
    """Validate the ``optimize:`` block against the resolved config ``resolved``.

    ``resolved`` is the config as plain data with every default filled in
    (:func:`tradekit.config.masked`); the space's keys must exist in it.

    Raises:
        ConfigError: every problem, each naming ``optimize.<key>`` and the value.
    """
    if block is None:
        raise ConfigError(["optimize: required key is missing (objective and space of the search)"])
    raw: _RawOptimize = structure_config(block, _RawOptimize, "optimize")
    problems: list[str] = []
    if not raw.space:
        problems.append(
            "optimize.space: at least one setting to search is needed, "
            "e.g. {strategy.lookback: {int: [10, 40]}}"
        )
    params: list[Param] = []
    for key, value in raw.space.items():
        param = _parse_param(key, value, resolved, problems)
        if param is not None:
            params.append(param)
    if raw.sampler == "grid":
        problems += [
            f"optimize.space.{p.key}: the grid sampler needs a step, "
            f"e.g. {{float: [{p.low}, {p.high}], step: {_example_step(p)}}}"
            for p in params
            if isinstance(p, FloatRange) and p.step is None
        ]
    if problems:
        raise ConfigError(problems)
    return OptimizeSpec(
        objective=raw.objective,
        min_trades=raw.min_trades,
        train_fraction=raw.train_fraction,
        sampler=raw.sampler,
        seed=raw.seed,
        params=tuple(params),
        windows=raw.walk_forward.windows,
    )


def _example_step(p: FloatRange) -> float:
    return float(f"{(p.high - p.low) / 4:.2g}")


def _parse_param(
    key: Any, value: Any, resolved: Mapping[str, Any], problems: list[str]
) -> Param | None:
    where = f"optimize.space.{key}"
    try:
        path = parse_path(str(key))
    except ValueError:
        problems.append(f"{where}: not a setting's path such as strategy.lookback")
        return None
    if path[0] not in _SEARCHABLE_ROOTS or any(_show(path).startswith(fixed) for fixed in _FIXED):
        problems.append(
            f"{where}: cannot be searched (only settings under "
            f"{', '.join(_SEARCHABLE_ROOTS)}, and not backtest.data)"
        )
        return None
    try:
        current = get_path(resolved, path)
    except KeyError as exc:
        (reached,) = exc.args
        problems.append(
            f"{where}: {_show(reached)} is not a setting of this config" + _hint(resolved, reached)
        )
        return None
    if path[-1] == "use" or isinstance(current, Mapping | list):
        problems.append(f"{where}: not a single value (it holds {current!r})")
        return None
    if not isinstance(value, Mapping):
        problems.append(
            f"{where}: expected {{int: [low, high]}}, {{float: [low, high]}} or "
            f"{{choice: [...]}}, got {value!r}"
        )
        return None
    kinds = [k for k in ("int", "float", "choice") if k in value]
    extra = sorted(str(k) for k in value if k not in ("int", "float", "choice", "step"))
    if len(kinds) != 1 or extra:
        problems.append(
            f"{where}: expected exactly one of int, float or choice (and an optional step), "
            f"got {dict(value)!r}"
        )
        return None
    kind = kinds[0]
    bounds = value[kind]
    step = value.get("step")
    if kind == "choice":
        if step is not None:
            problems.append(f"{where}.step: a choice has no step, got {step!r}")
            return None
        ok = (
            isinstance(bounds, list)
            and bounds
            and all(v is None or isinstance(v, bool | int | float | str) for v in bounds)
        )
        if not ok:
            problems.append(
                f"{where}.choice: expected a non-empty list of numbers, strings or "
                f"true/false, got {bounds!r}"
            )
            return None
        return Choice(str(key), tuple(bounds))
    number = int if kind == "int" else (int, float)
    good_bounds = (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)
        and bounds[0] <= bounds[1]
        and all(math.isfinite(b) for b in bounds)
    )
    if not good_bounds:
        what = "whole numbers" if kind == "int" else "numbers"
        problems.append(
            f"{where}.{kind}: expected [low, high], two {what} with low <= high, got {bounds!r}"
        )
        return None
    if step is not None and (
        not isinstance(step, number) or isinstance(step, bool) or not step > 0
    ):
        problems.append(f"{where}.step: expected a positive {kind}, got {step!r}")
        return None
    if kind == "int":
        return IntRange(str(key), bounds[0], bounds[1], int(step or 1))
    return FloatRange(
        str(key), float(bounds[0]), float(bounds[1]), None if step is None else float(step)
    )


def _hint(resolved: Mapping[str, Any], reached: Sequence[str | int]) -> str:
    """Did-you-mean for the last step of ``reached`` among its siblings."""
    try:
        parent = get_path(resolved, reached[:-1])
    except KeyError:
        return ""
    last = reached[-1]
    if isinstance(parent, Mapping) and isinstance(last, str):
        known = [str(k) for k in parent if k != "use"]
        close = difflib.get_close_matches(last, known, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {_show([*reached[:-1], close[0]])!r}?)"
        return f" (known: {', '.join(known)})"
    if isinstance(parent, list):
        return f" (it has {len(parent)} items, from 0)"
    return ""
