"""Mistakes in the ``optimize:`` block: every one names its key and value; the CLI exits 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from optimize_helpers import DEFAULT_OPTIMIZE, ROOT, tradekit

from tradekit.errors import ConfigError
from tradekit.optimize.search import Search

ConfigWriter = Callable[..., Path]


def problems(write_config: ConfigWriter, block: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Search.load(write_config(block))
    return caught.value.problems


def space(**entries: Any) -> dict[str, Any]:
    return {"objective": "sharpe", "space": {k.replace("__", "."): v for k, v in entries.items()}}


def test_unknown_keys_and_values_of_the_block(write_config: ConfigWriter) -> None:
    found = problems(
        write_config,
        {
            "objective": "sharp",
            "min_trades": -1,
            "train_fraction": 1.5,
            "samplr": "grid",
            "walk_forward": {"windows": 0},
            "space": DEFAULT_OPTIMIZE["space"],
        },
    )
    assert found == [
        "optimize.objective: expected one of 'sharpe', 'total_return', 'calmar', "
        "'profit_factor', 'win_rate', 'average_trade_return', got 'sharp'",
        "optimize.walk_forward.windows: expected a number in [1, inf], got 0",
        "optimize.min_trades: expected a number in [0, inf], got -1",
        "optimize.train_fraction: expected a number in (0, 1], got 1.5",
        "optimize.samplr: unknown key (did you mean 'sampler'?)",
    ]


def test_space_keys_must_exist_in_the_config(write_config: ConfigWriter) -> None:
    found = problems(
        write_config,
        space(
            strategy__lookbak={"int": [10, 40]},
            risk__5__fraction={"float": [0.01, 0.1]},
            markets={"choice": ["KRW-ETH"]},
            backtest__data__KRW_BTC={"choice": ["x.csv"]},
            strategy={"int": [1, 2]},
        ),
    )
    assert found == [
        "optimize.space.strategy.lookbak: strategy.lookbak is not a setting of this config "
        "(did you mean 'strategy.lookback'?)",
        "optimize.space.risk.5.fraction: risk[5] is not a setting of this config "
        "(it has 2 items, from 0)",
        "optimize.space.markets: cannot be searched (only settings under strategy, risk, "
        "backtest, and not backtest.data)",
        "optimize.space.backtest.data.KRW_BTC: cannot be searched (only settings under "
        "strategy, risk, backtest, and not backtest.data)",
        "optimize.space.strategy: not a single value (it holds {'use': 'breakout', "
        "'lookback': 20, 'volume_factor': 1.5, 'stop_loss': 0.015, 'take_profit': 0.03, "
        "'take_profit_fraction': 0.5, 'trailing_stop': 0.01})",
    ]


def test_settings_left_at_their_default_can_be_searched(write_config: ConfigWriter) -> None:
    search = Search.load(
        write_config(
            {
                "space": {
                    "strategy.trailing_stop": {"float": [0.005, 0.02]},
                    "risk[1].fraction": {"choice": [0.02, 0.1]},
                }
            }
        )
    )
    settings = search.settings_for({"strategy.trailing_stop": 0.007, "risk[1].fraction": 0.1})
    assert settings.strategy.config.trailing_stop == 0.007
    assert settings.risk[1].config.fraction == 0.1
    assert settings.strategy.config.lookback == 20  # the rest as written


def test_values_the_strategy_refuses(write_config: ConfigWriter) -> None:
    found = problems(
        write_config,
        space(
            strategy__lookback={"int": [0, 40]},
            strategy__stop_loss={"choice": [0.01, "tight"]},
        ),
    )
    assert found == [
        "optimize.space.strategy.lookback: 0 is refused: strategy.lookback: "
        "expected a number in [1, inf], got 0",
        "optimize.space.strategy.stop_loss: 'tight' is refused: strategy.stop_loss: "
        "expected number, got 'tight'",
    ]


def test_malformed_ranges(write_config: ConfigWriter) -> None:
    found = problems(
        write_config,
        space(
            strategy__lookback={"int": [40, 10]},
            strategy__stop_loss={"float": 0.02},
            strategy__volume_factor={"choice": []},
            strategy__take_profit={"float": [0.01, 0.05], "int": [1, 2]},
            strategy__trailing_stop=[0.01, 0.02],
        ),
    )
    assert found == [
        "optimize.space.strategy.lookback.int: expected [low, high], two whole numbers with "
        "low <= high, got [40, 10]",
        "optimize.space.strategy.stop_loss.float: expected [low, high], two numbers with "
        "low <= high, got 0.02",
        "optimize.space.strategy.volume_factor.choice: expected a non-empty list of numbers, "
        "strings or true/false, got []",
        "optimize.space.strategy.take_profit: expected exactly one of int, float or choice "
        "(and an optional step), got {'float': [0.01, 0.05], 'int': [1, 2]}",
        "optimize.space.strategy.trailing_stop: expected {int: [low, high]}, "
        "{float: [low, high]} or {choice: [...]}, got [0.01, 0.02]",
    ]


def test_grid_needs_a_step_for_floats(write_config: ConfigWriter) -> None:
    found = problems(
        write_config,
        {"sampler": "grid", "space": {"strategy.stop_loss": {"float": [0.01, 0.03]}}},
    )
    assert found == [
        "optimize.space.strategy.stop_loss: the grid sampler needs a step, "
        "e.g. {float: [0.01, 0.03], step: 0.005}"
    ]


def test_a_config_without_the_block_or_space(write_config: ConfigWriter) -> None:
    assert problems(write_config, {"objective": "sharpe"}) == [
        "optimize.space: at least one setting to search is needed, "
        "e.g. {strategy.lookback: {int: [10, 40]}}"
    ]


def test_cli_exits_2_naming_the_key_and_value(write_config: ConfigWriter, tmp_path: Path) -> None:
    config = write_config(space(strategy__lookback={"int": [0, 40]}))
    done = tradekit("optimize", config, "--trials", "2", "--output", tmp_path / "out")
    assert done.returncode == 2
    assert (
        "error: invalid configuration: optimize.space.strategy.lookback: 0 is refused: "
        "strategy.lookback: expected a number in [1, inf], got 0"
    ) in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_bad_storage_url(write_config: ConfigWriter, tmp_path: Path) -> None:
    done = tradekit(
        "optimize", write_config(), "--trials", "1", "--storage", "mysql+nope://x/y",
        "--output", tmp_path / "out",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--storage: unknown database 'mysql+nope'" in done.stderr


def test_without_optuna_the_command_says_how_to_install_it(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    # Optuna made unimportable, as in an install without the extra.
    code = (
        "import sys; sys.modules['optuna'] = None; "
        "from tradekit.cli import main; main(sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "optimize", str(write_config()), "--trials", "1",
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "tradekit optimize needs Optuna, which is not installed: pip install" in done.stderr
    # The rest of the command line works without it.
    backtest = subprocess.run(
        [sys.executable, "-c", code, "backtest", str(write_config()), "--output",
         str(tmp_path / "bt"), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr


def test_config_check_checks_the_block_too(write_config: ConfigWriter) -> None:
    bad = tradekit("config", "check", write_config(space(strategy__lookbak={"int": [10, 40]})))
    assert bad.returncode == 2
    assert "optimize.space.strategy.lookbak: strategy.lookbak is not a setting" in bad.stderr
    good = tradekit("config", "check", write_config(name="good.yaml"))
    assert good.returncode == 0, good.stderr
    assert "strategy.lookback:" in good.stdout  # the block is shown with the settings
