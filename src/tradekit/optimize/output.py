"""The files a search writes: ``trials.csv``, ``best.yaml`` and ``summary.json``."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["COMPARED", "comparison", "write_best", "write_summary", "write_trials"]

#: The figures shown in-sample against out-of-sample.
COMPARED = (
    "total_return",
    "sharpe",
    "calmar",
    "max_drawdown",
    "profit_factor",
    "win_rate",
    "trades",
    "exposure",
    "benchmark_return",
)


def write_trials(path: Path, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Path:
    """One row per finished trial: window, number, state, value, trades, each parameter."""
    columns = [
        "window", "number", "state", "value", "trades", *keys, "duration_s", "worker", "note"
    ]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def write_best(path: Path, doc: Mapping[str, Any], source: str, trial: Mapping[str, Any]) -> Path:
    """A complete backtest config with the best parameters (no ``optimize`` block)."""
    header = (
        f"# Best parameters of `tradekit optimize {source}`: trial {trial['number']} "
        f"of study {trial['study']!r}, {trial['objective']} {trial['value']!r} in-sample.\n"
        f"# Run it:  tradekit backtest {path.name} --output out/\n"
    )
    body = yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
    return path


def comparison(
    in_sample: Mapping[str, Any] | None, out_of_sample: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """``{figure: {in_sample, out_of_sample}}`` for the figures worth comparing."""
    return {
        key: {
            "in_sample": (in_sample or {}).get(key),
            "out_of_sample": (out_of_sample or {}).get(key),
        }
        for key in COMPARED
    }


def write_summary(path: Path, summary: Mapping[str, Any]) -> Path:
    """``summary.json``; figures that are not finite numbers are written as null."""
    path.write_text(json.dumps(_finite(summary), indent=2) + "\n", encoding="utf-8")
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
