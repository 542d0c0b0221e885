"""The bot runner: ``tradekit run CONFIG`` (paper and live trading), its control API and metrics."""
