"""The project's modules import one way: no import cycle, and the layers point down.

Every import counts, wherever it stands: at the top of a module, inside a function (the lazy
imports that hide a cycle from Python), under ``if TYPE_CHECKING:``, and relative imports. The
graph is read from the source with ``ast``, so nothing is imported to build it.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [ROOT / "src", *sorted((ROOT / "plugins").glob("*/src"))]
# Top-level packages that are the project's own; imports of anything else are outside the graph.
OWN_PACKAGES = ("tradekit", "tradekit_bithumb", "tradekit_breakout", "tradekit_slack")


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for source_root in SOURCE_ROOTS:
        for path in sorted(source_root.rglob("*.py")):
            parts = list(path.relative_to(source_root).with_suffix("").parts)
            if parts[0] not in OWN_PACKAGES:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, name: str) -> str | None:
    """The project module ``name`` stands for, or None when it is outside the project.

    ``from tradekit.models import Bar`` names the module ``tradekit.models``; ``from tradekit
    import config`` names ``tradekit.config``: the longest prefix that is a module wins.
    """
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """Every project module that ``module`` imports, with the line, wherever the import stands."""
    source = MODULES[module].read_text(encoding="utf-8")
    return _imports_in(source, module, is_package=_is_package(module))


def _imports_in(source: str, module: str, *, is_package: bool) -> Iterator[tuple[str, int]]:
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(module, alias.name)
                if target is not None:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                full = f"{base}.{node.module}" if node.module else base
            else:
                full = node.module or ""
            for alias in node.names:
                # `from pkg import submodule` names the submodule; `from mod import x`, the module.
                target = _resolve(module, f"{full}.{alias.name}")
                if target is not None:
                    yield target, node.lineno


def _graph() -> dict[str, dict[str, int]]:
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES:
        edges: dict[str, int] = {}
        for target, line in _imports(module):
            # A package's __init__ importing its own submodules, or a module importing its parent
            # package, is how Python packages work, not a cycle between concepts.
            if target == module or module.startswith(target + "."):
                continue
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _one_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """A readable path ``a:line -> b:line -> ... -> a`` through one component."""
    members = set(component)
    start = component[0]
    # Breadth-first from start back to start, inside the component.
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target not in members or target in previous:
                    continue
                previous[target] = node
                following.append(target)
        if start in previous:
            break
        frontier = following
    path = [start]
    node = previous[start]
    while node != start:
        path.append(node)
        node = previous[node]
    path.append(start)
    path.reverse()
    steps = [f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(path)]
    return " -> ".join([*steps, path[-1]])


def test_the_reader_sees_every_kind_of_import() -> None:
    """Lazy, TYPE_CHECKING and relative imports are edges, or the cycle test proves little."""
    source = """
from typing import TYPE_CHECKING
import tradekit.models
from tradekit import events
if TYPE_CHECKING:
    from tradekit.config import Settings
def f():
    from tradekit.engine.core import TradingCore
from . import rules
from ..store import Store
from .loop import run_recorded
"""
    found = {target for target, _ in _imports_in(source, "tradekit.engine.x", is_package=False)}
    assert found == {
        "tradekit.models",
        "tradekit.events",
        "tradekit.config",
        "tradekit.engine.core",
        "tradekit.engine.rules",
        "tradekit.store",
        "tradekit.engine.loop",
    }


def test_the_project_has_every_kind_of_import() -> None:
    """The real tree has imports inside functions and under TYPE_CHECKING; the graph holds them."""
    tree_has = {
        kind
        for module in MODULES
        for kind in _import_kinds(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    }
    assert {"top", "function", "type_checking"} <= tree_has
    assert len(MODULES) > 60
    graph = _graph()
    assert "tradekit.builtin.hooks" in graph["tradekit.plugins"]  # inside load_plugins()
    assert "tradekit.store" in graph["tradekit.runner.takeover"]  # only under TYPE_CHECKING


def _import_kinds(tree: ast.Module) -> set[str]:
    kinds: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kinds.add("top")
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            kinds.add("type_checking")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            isinstance(inner, ast.Import | ast.ImportFrom) for inner in ast.walk(node)
        ):
            kinds.add("function")
    return kinds


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = [_one_cycle(graph, component) for component in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _one_cycle(graph, ["a", "b", "c"]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"


# Layers, lowest first. A module may import its own layer or any lower one, never a higher one.
# Modules not named here (plugins' own) are only held to "no cycle".
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "values",
        (
            "tradekit.errors",
            "tradekit.models",
            "tradekit.events",
            "tradekit.markets",
            "tradekit.spacing",
            "tradekit.backoff",
            "tradekit.params",
            "tradekit.trading_day",
            "tradekit.bar_path",
            "tradekit.network",
            "tradekit.event_text",
            "tradekit.interfaces",
            "tradekit.hookspecs",
        ),
    ),
    ("engine", ("tradekit.engine",)),
    ("store", ("tradekit.store",)),
    ("builtin plugins", ("tradekit.builtin",)),
    (
        "composition",
        ("tradekit.config", "tradekit.plugins", "tradekit.log", "tradekit.cli_config"),
    ),
    (
        "backtest",
        (
            "tradekit.backtest",
            "tradekit.backtest_csv",
            "tradekit.analytics",
            "tradekit.report",
            "tradekit.performance",
            "tradekit.numpy_columns",
            "tradekit.optimize",
        ),
    ),
    ("runner", ("tradekit.runner",)),
    # Command groups that live beside the code they drive count as CLI.
    ("cli", ("tradekit.cli", "tradekit.store.cli")),
]


def _layer_of(module: str) -> int | None:
    """The layer of the longest prefix that names ``module`` (``tradekit.store.cli`` is CLI)."""
    matches = [
        (len(prefix), position)
        for position, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


@pytest.mark.parametrize(
    "lower",
    ["tradekit.errors", "tradekit.models", "tradekit.interfaces", "tradekit.hookspecs"],
)
def test_lowest_layer_is_a_leaf(lower: str) -> None:
    """The values plugin authors import pull in nothing above them."""
    graph = _graph()
    upward = [t for t in graph[lower] if (_layer_of(t) or 0) > 0]
    assert not upward, f"{lower} imports {upward}"


def test_layers_point_down() -> None:
    graph = _graph()
    wrong = []
    for module, edges in sorted(graph.items()):
        own = _layer_of(module)
        if own is None:
            continue
        for target, line in sorted(edges.items()):
            theirs = _layer_of(target)
            if theirs is not None and theirs > own:
                wrong.append(
                    f"{module} (layer {LAYERS[own][0]}, line {line}) imports "
                    f"{target} (layer {LAYERS[theirs][0]})"
                )
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_plugins_use_the_core_not_each_other() -> None:
    """A plugin imports tradekit and itself; the core imports no plugin."""
    graph = _graph()
    wrong = []
    for module, edges in sorted(graph.items()):
        own_package = module.split(".")[0]
        for target, line in edges.items():
            target_package = target.split(".")[0]
            if target_package == own_package or target_package == "tradekit":
                continue
            wrong.append(f"{module} (line {line}) imports {target}")
    assert not wrong, "\n".join(wrong)
