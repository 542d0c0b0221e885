"""The ``optimize:`` block's pieces: setting paths and the grid of each range."""

from __future__ import annotations

import pytest

from tradekit.optimize.spec import FloatRange, IntRange, get_path, parse_path, set_path


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("strategy.lookback", ["strategy", "lookback"]),
        ("risk[1].fraction", ["risk", 1, "fraction"]),
        ("risk.1.fraction", ["risk", 1, "fraction"]),
        ("backtest.slippage", ["backtest", "slippage"]),
    ],
)
def test_paths(key: str, path: list[str | int]) -> None:
    assert parse_path(key) == path


@pytest.mark.parametrize("key", ["", ".lookback", "strategy.", "strategy..x", "[0].x", "a b[c]"])
def test_malformed_paths(key: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_path(key)
    assert caught.value.args == (key,)


def test_set_path_fills_what_the_file_leaves_out_from_the_resolved_config() -> None:
    resolved = {
        "strategy": {"use": "breakout", "lookback": 20, "trailing_stop": 0.01},
        "risk": [
            {"use": "daily_loss_limit", "limit": 0.05},
            {"use": "position_size", "fraction": 0.05},
        ],
    }
    doc = {"strategy": {"use": "breakout"}}
    set_path(doc, parse_path("strategy.trailing_stop"), 0.02, resolved)
    set_path(doc, parse_path("risk[1].fraction"), 0.1, resolved)
    assert doc == {
        "strategy": {"use": "breakout", "trailing_stop": 0.02},
        "risk": [
            {"use": "daily_loss_limit", "limit": 0.05},
            {"use": "position_size", "fraction": 0.1},
        ],
    }
    assert resolved["risk"][1]["fraction"] == 0.05  # copied, not shared
    with pytest.raises(KeyError):
        get_path(resolved, parse_path("risk[2].fraction"))


def test_grids() -> None:
    assert IntRange("k", 10, 30, 10).grid() == [10, 20, 30]
    assert IntRange("k", 10, 35, 10).grid() == [10, 20, 30]
    assert FloatRange("k", 0.01, 0.03, 0.005).grid() == [0.01, 0.015, 0.02, 0.025, 0.03]
    assert FloatRange("k", 0.1, 0.3, 0.1).grid() == [0.1, 0.2, 0.3]
