"""What ``tradekit backtest`` does before its first bar stays lean: each check runs the real
command line in a fresh interpreter (what is imported and loaded depends on the process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI as the script does, counting plugin loads, then prints what was loaded.
_PROBE = """
import json, sys
import tradekit.plugins as plugins
loads = []
real = plugins.load_plugins
def counted(*args, **kwargs):
    loads.append(1)
    return real(*args, **kwargs)
plugins.load_plugins = counted
from tradekit.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
modules = ["rich.progress", "urllib.request", "http.client"]
import gc
print(json.dumps({"code": code, "loads": len(loads), "frozen": gc.get_freeze_count(),
                  "imported": [m for m in modules if m in sys.modules]}))
"""


def _probe(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )  # stdout is a pipe: not a terminal
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_backtest_off_a_terminal_loads_plugins_once_and_no_progress_bar(tmp_path: Path) -> None:
    result = _probe("backtest", "examples/backtest.yaml", "--output", str(tmp_path))
    assert result["code"] == 0
    # The config is read with the process's plugins and the run reuses them.
    assert result["loads"] == 1
    # A transient bar on a pipe is never drawn: rich.progress is not even imported; nor is
    # the HTTP client of `tradekit status`.
    assert result["imported"] == []
    assert (tmp_path / "summary.json").is_file()
    # Done: what is alive is kept out of the collection Python runs on its way out.
    assert isinstance(result["frozen"], int)
    assert result["frozen"] > 10_000


def test_the_cli_does_not_import_the_http_client_of_tradekit_status() -> None:
    code = (
        "import sys, tradekit.cli; "
        "print([m for m in ('urllib.request', 'http.client') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
