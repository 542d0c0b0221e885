"""The bot runner: ``tradekit run CONFIG`` (paper trading), its control API and metrics."""
