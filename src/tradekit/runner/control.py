"""What the control API and the metrics see of a running bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from tradekit.models import Bar, Position
    from tradekit.store import AsyncStore

__all__ = ["BotControl", "BotStatus", "NoPosition", "TodayStatus", "UnknownMarket"]


@attrs.frozen
class BotStatus:
    """A snapshot of the bot for ``GET /status`` (no secrets, ever)."""

    mode: str  # paper or live
    version: str
    markets: list[str]
    timeframe: str
    strategy: str
    paused: bool  # by the operator (POST /pause): no new entries, exits keep working
    halted: bool  # by a risk rule (daily loss limit) until the next trading day
    #: Cash plus every position and carried remainder at the latest known price (the last
    #: trade seen, else the last close): current right after a fill.
    equity: float
    #: Equity at the last bar close: what sizing and the daily loss limit use.
    equity_at_close: float
    cash: float
    started_ms: int
    last_bar_ms: dict[str, int]  # open time of the last closed bar processed, per market
    bars_processed: int
    fills: int
    open_positions: int
    #: Quantities held below the exchange's step, per market (sold with the next sale).
    remainders: dict[str, float] = attrs.field(factory=dict)
    #: Markets taking no new entries until a human has looked, and why (exits still work).
    blocked: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class TodayStatus:
    """The current trading day (Asia/Seoul) against the daily loss limit, for ``GET /today``."""

    trading_day: str  # YYYY-MM-DD; empty before the first bar
    start_equity: float  # equity at the close of the previous day's last bar
    equity: float  # at the latest known price, as ``/status`` shows it
    profit: float  # equity - start_equity
    max_drawdown: float  # fraction, from today's peak
    trades: int  # round trips closed today
    win_rate: float | None
    #: The ``daily_loss_limit`` rule's fraction, reference equity and the equity under which
    #: it halts new entries (all None without the rule or before its first bar).
    loss_limit: float | None
    loss_limit_reference: float | None
    loss_limit_equity: float | None
    halted: bool
    #: False while no market may open a position (paused, halted, store failing).
    entries_allowed: bool
    #: Why entries are not taken now, in words; per-market blocks start with the market.
    entry_blocks: list[str] = attrs.field(factory=list)


class UnknownMarket(LookupError):
    """The market is not one the bot trades."""


class NoPosition(LookupError):
    """The bot holds no position in that market."""


class BotControl(Protocol):
    """The running bot as the control API drives it. Every method is cheap and non-blocking."""

    store: AsyncStore | None  # orders, fills and daily performance are read from here

    def status(self) -> BotStatus: ...

    def positions(self) -> list[Position]: ...

    def today(self) -> TodayStatus: ...

    def candles(self, market: str, limit: int) -> list[Bar]:
        """The last ``limit`` closed bars of ``market`` the bot has seen, oldest first.

        Raises:
            UnknownMarket: ``market`` is not traded by this bot.
        """

    def pause(self) -> None:
        """Stop new entries (exits keep working). Idempotent."""

    def resume(self) -> None:
        """Allow new entries again (a risk-rule halt still applies). Idempotent."""

    def request_close(self, market: str) -> None:
        """Close the position in ``market`` (reason ``manual``).

        On paper it is sold at the next bar's open; live, at once with a market order.

        Raises:
            UnknownMarket: ``market`` is not traded by this bot.
            NoPosition: there is nothing to close.
        """
