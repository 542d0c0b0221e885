"""The window of recent bars behind ``GET /candles/{market}``."""

from __future__ import annotations

import pytest

from tradekit.models import Bar
from tradekit.runner.recent_bars import RecentBars

H = 3_600_000


def bar(market: str, i: int, close: float = 100.0) -> Bar:
    return Bar(market, i * H, close, close + 1, close - 1, close, 1.0)


def test_keeps_the_last_bars_of_each_market_oldest_first() -> None:
    recent = RecentBars(["KRW-BTC", "KRW-ETH"], size=3)
    recent.extend(bar("KRW-BTC", i) for i in range(5))
    recent.add(bar("KRW-ETH", 0))
    assert [b.time_ms for b in recent.last("KRW-BTC", 10)] == [2 * H, 3 * H, 4 * H]
    assert [b.time_ms for b in recent.last("KRW-BTC", 2)] == [3 * H, 4 * H]
    assert [b.market for b in recent.last("KRW-ETH", 10)] == ["KRW-ETH"]


def test_a_late_bar_is_dropped_and_a_corrected_one_replaces_the_last() -> None:
    recent = RecentBars(["KRW-BTC"])
    recent.extend([bar("KRW-BTC", 1), bar("KRW-BTC", 2)])
    recent.add(bar("KRW-BTC", 0))  # older than the window's end: the chart stays in order
    recent.add(bar("KRW-BTC", 2, close=105.0))
    assert [(b.time_ms, b.close) for b in recent.last("KRW-BTC", 10)] == [
        (H, 100.0),
        (2 * H, 105.0),
    ]


def test_other_markets_are_ignored_and_unknown_ones_are_an_error() -> None:
    recent = RecentBars(["KRW-BTC"])
    recent.add(bar("KRW-XRP", 1))
    assert recent.last("KRW-BTC", 5) == []
    with pytest.raises(KeyError):
        recent.last("KRW-XRP", 5)
