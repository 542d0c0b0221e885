"""The one engine shared by backtest, paper and live trading."""

from tradekit.engine.core import EngineParams, TradeRecord, TradingCore

__all__ = ["EngineParams", "TradeRecord", "TradingCore"]
