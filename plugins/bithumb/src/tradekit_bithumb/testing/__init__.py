"""A fake Bithumb API 2.0 server (REST + public WebSocket on 127.0.0.1) for tests.

Use :class:`FakeBithumb` directly, or the ``fake_bithumb`` pytest fixture that this package
registers as a pytest plugin. :class:`BarReplay` plays a bar series on it as trades, tick by
tick along :func:`bar_path`.
"""

from tradekit_bithumb.testing.exchange import ApiError, Balance, Order, OrderFill
from tradekit_bithumb.testing.faults import Faults, FiredFault
from tradekit_bithumb.testing.replay import BarReplay, ReplayBar, ReplayStep, bar_path
from tradekit_bithumb.testing.rules import KRW_TICKS, krw_tick
from tradekit_bithumb.testing.server import DEFAULT_MARKETS, FakeBithumb, RecordedRequest
from tradekit_bithumb.testing.ws import Subscription

__all__ = [
    "DEFAULT_MARKETS",
    "KRW_TICKS",
    "ApiError",
    "Balance",
    "BarReplay",
    "FakeBithumb",
    "Faults",
    "FiredFault",
    "Order",
    "OrderFill",
    "RecordedRequest",
    "ReplayBar",
    "ReplayStep",
    "Subscription",
    "bar_path",
    "krw_tick",
]
