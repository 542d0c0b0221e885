"""tradekit-bithumb: the Bithumb (KRW market) connector for tradekit."""
