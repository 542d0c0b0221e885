"""tradekit: rule-based trading on Korean crypto exchanges.

One engine runs a strategy in a backtest, in paper trading and in live trading; exchanges,
strategies, risk rules and notifiers are pluggy plugins discovered through the ``tradekit``
entry-point group.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tradekit-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
