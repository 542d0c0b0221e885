"""tradekit-slack: posts signals, fills, errors and the daily report to a Slack webhook."""
