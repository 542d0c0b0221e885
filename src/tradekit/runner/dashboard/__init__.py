"""The dashboard of a running bot, served by the control API at ``GET /``.

:mod:`~tradekit.runner.dashboard.page` serves the page and its assets (all inside the package,
the chart library vendored with its licence); :mod:`~tradekit.runner.dashboard.data` adds the
JSON routes the page needs beyond the core API (recent candles, today against the loss limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.handlers import HTTPRouteHandler

from tradekit.runner.control import BotControl
from tradekit.runner.dashboard.data import data_routes
from tradekit.runner.dashboard.page import page_routes

__all__ = ["dashboard_routes"]


def dashboard_routes(
    bot: BotControl,
    *,
    token_required: bool,
    secured: Mapping[str, Any],
    public: Mapping[str, Any],
) -> list[HTTPRouteHandler]:
    """The page, its assets and its data routes, for :func:`tradekit.runner.api.create_app`.

    Args:
        bot: the running bot.
        token_required: the API has a token: the page asks for it and is itself public.
        secured: the options of the API's protected routes (refusals, security scheme).
        public: the route options that make a route public in the API's guard.
    """
    return [
        *page_routes(token_required=token_required, opt=public if token_required else {}),
        *data_routes(bot, secured=secured),
    ]
