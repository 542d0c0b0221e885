"""Example tradekit strategy plugin."""
