"""The built-in ``replay`` exchange: a recorded candle file played as a live market.

``exchange: {use: replay, data: candles.csv, speed: 3600}`` runs a paper or live bot with no
network and no keys (the offline demo, ``examples/demo.yaml``).
"""

from tradekit.builtin.replay.config import ReplayConfig
from tradekit.builtin.replay.exchange import ReplayExchange, ReplayFeed

__all__ = ["ReplayConfig", "ReplayExchange", "ReplayFeed"]
