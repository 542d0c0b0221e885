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
from typing import Annotated, Any

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from tradekit.markets import MARKET_ID_PATTERN
from tradekit.models import Timeframe
from tradekit.runner.api_views import CandlesPage, CandleView
from tradekit.runner.control import BotControl, TodayStatus, UnknownMarket
from tradekit.runner.recent_bars import DEFAULT_SIZE

__all__ = ["DEFAULT_CANDLES", "data_routes"]

#: Candles ``GET /candles/{market}`` returns when no ``limit`` is given.
DEFAULT_CANDLES = 300


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
    async def candles(market: MarketPath, limit: CandleLimit = DEFAULT_CANDLES) -> CandlesPage:
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
        return CandlesPage(
            market=market,
            timeframe=timeframe,
            timeframe_ms=Timeframe(timeframe).milliseconds,
            candles=[CandleView.of(b) for b in bars],
        )

    return [today, candles]
