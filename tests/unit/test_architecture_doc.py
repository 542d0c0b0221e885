"""docs/architecture.md stays a true map: what it names exists, and every module is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGE = ROOT / "src" / "tradekit"


def test_every_path_it_names_exists() -> None:
    named = re.findall(r"`((?:tradekit|plugins)/[\w/.]*)`", PAGE)
    assert len(named) > 30
    missing = [
        path for path in named if not (ROOT / "src" / path).exists() and not (ROOT / path).exists()
    ]
    assert not missing, missing


def test_every_module_and_package_is_on_it() -> None:
    entries = [
        p
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    ]
    assert len(entries) > 20
    absent = [p.name for p in entries if f"tradekit/{p.name}" not in PAGE]
    assert not absent, f"not on docs/architecture.md: {absent}"
