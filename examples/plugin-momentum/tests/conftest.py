"""The fixtures tradekit gives plugin authors (``random_bars``, ``backtest``), on request."""

pytest_plugins = ["tradekit.testing.pytest_plugin"]
