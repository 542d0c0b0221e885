"""The distributions' metadata: names, the plugins group `uv sync --no-dev` keeps, licenses.

`.ci/wheels.sh` installs the built wheels and `uv sync --no-dev` for real; these checks name the
file and key when the metadata those installs rely on drifts.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ["tradekit-bithumb", "tradekit-breakout", "tradekit-slack"]
PROJECTS = [
    ROOT,
    ROOT / "plugins" / "bithumb",
    ROOT / "plugins" / "breakout",
    ROOT / "plugins" / "slack",
    ROOT / "examples" / "plugin-momentum",
]


def _pyproject(folder: Path) -> dict[str, Any]:
    with (folder / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_core_distribution_is_tradekit_core() -> None:
    # `tradekit` on PyPI is someone else's placeholder; a dependency on it would pull that in.
    data = _pyproject(ROOT)
    assert data["project"]["name"] == "tradekit-core"
    assert data["project"]["scripts"]["tradekit"] == "tradekit.cli:main"
    assert "tradekit-core" in data["tool"]["uv"]["sources"]


@pytest.mark.parametrize("folder", PROJECTS[1:], ids=lambda p: p.name)
def test_plugins_depend_on_tradekit_core_not_tradekit(folder: Path) -> None:
    deps = _pyproject(folder)["project"]["dependencies"]
    names = [d.split(">")[0].split("=")[0].split("[")[0].strip() for d in deps]
    assert "tradekit-core" in names
    assert "tradekit" not in names


def test_shipped_plugins_are_a_default_group_outside_dev() -> None:
    # `uv sync --no-dev` must still install them: a default group other than dev.
    data = _pyproject(ROOT)
    groups = data["dependency-groups"]
    assert sorted(groups["plugins"]) == PLUGINS
    assert "plugins" in data["tool"]["uv"]["default-groups"]
    assert not set(PLUGINS) & set(groups["dev"])


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_license_file_matches_the_license_field(folder: Path) -> None:
    assert _pyproject(folder)["project"]["license"] == {"text": "MIT"}
    text = (folder / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_docs_install_and_depend_on_tradekit_core() -> None:
    # `pip install tradekit` or a dependency on "tradekit" would fetch a stranger's package.
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += [ROOT / "examples" / "plugin-momentum" / "README.md"]
    wrong = re.compile(r"pip install (-U )?[\"']?tradekit(\[|[\"']?(\s|$))|\[\"tradekit\"\]")
    found = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in pages
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if wrong.search(line)
    ]
    assert found == []
