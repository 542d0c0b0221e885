"""The JSON routes the dashboard needs beyond the core API: recent candles and today's risk.

``GET /candles/{market}`` answers the last closed bars the bot has seen in a market (warm-up
included, at most :data:`~tradekit.runner.recent_bars.DEFAULT_SIZE`), for the price chart.
``GET /today`` answers the trading day so far (Asia/Seoul) against the daily loss limit, and in
words why new entries are not taken (paused, halted, the store failing, a blocked market).
Both follow the rest of the API: the same token, 4xx with a reason, listed in the OpenAPI
document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from tradekit.markets import MARKET_ID_PATTERN
from tradekit.models import Bar, Timeframe
from tradekit.runner.control import BotControl, TodayStatus, UnknownMarket
from tradekit.runner.recent_bars import DEFAULT_SIZE

__all__ = ["DEFAULT_CANDLES", "candle_to_dict", "data_routes"]

#: Candles ``GET /candles/{market}`` returns when no ``limit`` is given.
DEFAULT_CANDLES = 300


class CandleOut(TypedDict):
    """One closed bar; ``time_ms`` is its open time (UTC ms)."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesOut(TypedDict):
    """``GET /candles/{market}``: the most recent closed bars, oldest first."""

    market: str
    timeframe: str
    timeframe_ms: int
    candles: list[CandleOut]


def candle_to_dict(bar: Bar) -> CandleOut:
    """The JSON form of a bar (its market is the route's)."""
    return {
        "time_ms": bar.time_ms,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
    }


CandleLimit = Annotated[
    int,
    QueryParameter(
        ge=1, le=DEFAULT_SIZE, description=f"at most this many candles (1 to {DEFAULT_SIZE})"
    ),
]
MarketPath = Annotated[
    str, PathParameter(pattern=MARKET_ID_PATTERN, description="a market id, e.g. KRW-BTC")
]


def data_routes(bot: BotControl, *, secured: Mapping[str, Any]) -> list[HTTPRouteHandler]:
    """``GET /today`` and ``GET /candles/{market}`` over ``bot``.

    Args:
        bot: the running bot.
        secured: the route options every protected route of the API takes (its guard's
            refusal in ``raises``, the security scheme when a token is set).
    """
    with_404 = {**secured, "raises": [*secured.get("raises", []), NotFoundException]}

    @get("/today", summary="Today against the daily loss limit", **secured)
    async def today() -> TodayStatus:
        """The trading day so far (Asia/Seoul): profit, drawdown and trades, the daily loss
        limit's threshold, and why new entries are not taken, if they are not."""
        return bot.today()

    @get("/candles/{market:str}", summary="Recent candles", **with_404)
    async def candles(market: MarketPath, limit: CandleLimit = DEFAULT_CANDLES) -> CandlesOut:
        """The last ``limit`` closed bars the bot has seen in ``market``, oldest first.

        404 when the bot does not trade the market.
        """
        try:
            bars = bot.candles(market, limit)
        except UnknownMarket:
            raise NotFoundException(
                detail=f"unknown market {market!r}: this bot trades "
                + ", ".join(bot.status().markets)
            ) from None
        timeframe = bot.status().timeframe
        return {
            "market": market,
            "timeframe": timeframe,
            "timeframe_ms": Timeframe(timeframe).milliseconds,
            "candles": [candle_to_dict(b) for b in bars],
        }

    return [today, candles]
