"""The example third-party plugin in examples/plugin-momentum installs and runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin-momentum"


@pytest.mark.slow
def test_example_plugin_is_discovered_and_its_tests_pass(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: it installs the example plugin into a scratch folder")
    # A throwaway target folder on PYTHONPATH: the project's environment is not changed.
    target = tmp_path / "site"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--python",
            sys.executable,
            "--no-deps",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    env["PYTHONPATH"] = str(target)
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("tradekit")), "plugins"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert any(
        line.startswith("momentum ") and "strategy: momentum" in line
        for line in listing.stdout.splitlines()
    ), listing.stdout
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLE / "tests"),
            "--rootdir",
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
