"""tradekit-breakout: the 20-bar high breakout strategy with a volume filter."""
