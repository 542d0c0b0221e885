"""tradekit's test fixtures load only where a conftest asks for them, never by installing."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from tradekit.plugins import PluginHost

OUR_MODULES = ("tradekit.testing.pytest_plugin", "tradekit_bithumb.testing.pytest_plugin")


def test_no_distribution_of_ours_auto_loads_a_pytest_plugin() -> None:
    auto_loaded = {ep.value for ep in entry_points(group="pytest11")}
    assert not auto_loaded & set(OUR_MODULES), auto_loaded


def _fixtures(folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", str(folder)],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
    )
    assert "tmp_path" in result.stdout, result.stdout + result.stderr  # it listed fixtures
    return result.stdout


def test_a_users_pytest_run_has_no_tradekit_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    listed = _fixtures(tmp_path)
    assert "fake_bithumb" not in listed
    assert "random_bars" not in listed


def test_a_conftest_line_brings_them(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(f"pytest_plugins = {list(OUR_MODULES)!r}\n", "utf-8")
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    listed = _fixtures(tmp_path)
    assert "fake_bithumb" in listed
    assert "random_bars" in listed


def test_this_project_asks_for_them(tradekit_plugins: PluginHost) -> None:
    assert "breakout" in tradekit_plugins.registry("strategy")
