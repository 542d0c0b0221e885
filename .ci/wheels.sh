#!/usr/bin/env bash
# The install paths the docs give, tried from scratch:
#  1. the four distributions built as wheels and installed with pip into a clean venv (as from
#     PyPI: our own wheels from the build folder, third-party ones from the index);
#  2. `uv sync --locked --no-dev` (the deploy page's command) into a fresh environment;
#  3. a third-party plugin added to the `plugins` group (a copy of the workspace) stays installed.
# Each must list the three shipped plugins; the wheel install must also run the example backtest.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

expect_plugins() {  # $1: a tradekit script; fails unless the three shipped plugins load
  local listing
  listing=$("$1" plugins)
  printf '%s\n' "$listing"
  for dist in tradekit-bithumb tradekit-breakout tradekit-slack; do
    grep -q " $dist " <<<"$listing" || { echo "missing plugin: $dist" >&2; return 1; }
  done
  if "$1" plugins 2>&1 >/dev/null | grep -q .; then
    echo "plugin load errors (above)" >&2; return 1
  fi
}

echo "-- wheels: uv build, pip install into a clean venv"
uv build --all-packages --wheel --quiet --out-dir "$work/dist"
ls "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$work/dist" \
  tradekit-core tradekit-bithumb tradekit-breakout tradekit-slack
expect_plugins "$work/venv/bin/tradekit"
# From another folder, so nothing of the source tree can be imported by accident.
(cd "$work" && "$work/venv/bin/tradekit" backtest "$repo/examples/backtest.yaml" \
  --output "$work/out" --quiet)
test -s "$work/out/fills.csv" && test -s "$work/out/summary.json"
"$work/venv/bin/python" - "$work/venv" <<'PY'
import sys, tradekit
assert tradekit.__file__.startswith(sys.argv[1]), tradekit.__file__
print("tradekit", tradekit.__version__, "imported from the venv")
PY
"$work/venv/bin/python" - <<'PY'
# The dashboard's files are package data: the wheel must carry every one the page serves.
from importlib import resources
from tradekit.runner.dashboard.page import ASSETS
static = resources.files("tradekit.runner.dashboard") / "static"
for name in ["index.html", "vendor/LICENSE", "vendor/NOTICE", *(f for f, _ in ASSETS.values())]:
    assert (static / name).is_file(), f"the wheel lacks the dashboard's {name}"
print("dashboard files in the wheel:", len(ASSETS) + 3)
PY

echo "-- uv sync --locked --no-dev into a fresh environment"
UV_PROJECT_ENVIRONMENT="$work/nodev" uv sync --locked --no-dev --quiet
expect_plugins "$work/nodev/bin/tradekit"
if "$work/nodev/bin/python" -c "import pytest" 2>/dev/null; then
  echo "uv sync --no-dev installed the dev group (pytest)" >&2; exit 1
fi
echo "-- a third-party plugin added with uv add --group plugins survives later syncs"
mkdir "$work/copy"
git ls-files -z | tar --null -T - -cf - | tar -C "$work/copy" -xf -
(
  cd "$work/copy"
  export UV_PROJECT_ENVIRONMENT="$work/copy-env"
  uv add --quiet --no-sync --group plugins --editable ./examples/plugin-momentum
  uv sync --quiet --no-dev
  uv sync --quiet --no-dev   # the second sync is the one that removed `uv pip install -e` plugins
  "$work/copy-env/bin/tradekit" plugins | grep -E "^momentum +tradekit-momentum "
)
echo "install paths: OK"
