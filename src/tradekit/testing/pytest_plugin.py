"""pytest fixtures for plugin authors, loaded on request.

Ask for them in your project's top-level ``conftest.py``:
``pytest_plugins = ["tradekit.testing.pytest_plugin"]``.


* ``tradekit_plugins``: a fresh :class:`~tradekit.plugins.PluginHost` with every installed
  plugin loaded.
* ``random_bars``: :func:`tradekit.testing.random_walk_bars`.
* ``backtest``: :func:`tradekit.testing.backtest_strategy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tradekit.testing import backtest_strategy, random_walk_bars


@pytest.fixture
def tradekit_plugins() -> Any:
    """A freshly loaded plugin host (no global state is shared between tests)."""
    from tradekit.plugins import load_plugins

    return load_plugins()


@pytest.fixture
def random_bars() -> Callable[..., Any]:
    """Factory of reproducible random-walk bars."""
    return random_walk_bars


@pytest.fixture
def backtest() -> Callable[..., Any]:
    """Run a strategy over bars with the default risk chain."""
    return backtest_strategy
