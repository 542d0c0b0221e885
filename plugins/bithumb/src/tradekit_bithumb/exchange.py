"""``BithumbExchange``: tradekit's :class:`~tradekit.interfaces.Exchange` for Bithumb."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from loguru import logger

from tradekit.errors import ExchangeError, OrderStateUnknown
from tradekit.models import Balance, Bar, MarketRules, Order, Side, Timeframe, Trade
from tradekit_bithumb.client import BithumbClient
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.parse import OrderChance
from tradekit_bithumb.rules import build_market_rules, order_numbers

if TYPE_CHECKING:
    from tradekit_bithumb.bar_feed import LiveBarFeed

__all__ = ["BithumbExchange"]

# Fees and minimums change rarely; re-read them now and then rather than on every order.
_RULES_TTL_S = 3600.0


class BithumbExchange:
    """Bithumb (KRW market) for tradekit: candles, balances, orders and the trade stream.

    Args:
        config: The ``exchange`` config block.
        client: A REST client to use instead of one built from ``config`` (tests).
        clock: Current Unix time in milliseconds (tests).
    """

    name: ClassVar[str] = "bithumb"
    Config: ClassVar[type[BithumbConfig]] = BithumbConfig

    def __init__(
        self,
        config: BithumbConfig,
        *,
        client: BithumbClient | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        from tradekit.log import add_secrets

        # Masked in every log line, whoever built this exchange.
        add_secrets([config.api_key, config.api_secret])
        self.config = config
        self.client = client or BithumbClient.from_config(config)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._rules: dict[str, tuple[float, MarketRules]] = {}
        # v1 orders carry no client_order_id on Bithumb's side: remember the ids we sent.
        self._exchange_ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"BithumbExchange({self.config.base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.aclose()

    # ---- market data -------------------------------------------------------------------

    async def market_rules(self, market: str) -> MarketRules:
        """Tick table, quantity precision, minimum order value and fees of ``market``.

        Fees and minimums come from ``/v1/orders/chance`` when API keys are configured (cached
        for an hour); without keys, from the config's ``min_order_krw`` and the default fee.
        """
        cached = self._rules.get(market)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _RULES_TTL_S:
            return cached[1]
        chance: OrderChance | None = None
        if self.config.api_key and self.config.api_secret:
            chance = await self.client.order_chance(market)
        else:
            logger.info(
                "no Bithumb API keys: rules of {} use min_order_krw={} and the default fee",
                market,
                self.config.min_order_krw,
            )
        rules = build_market_rules(
            market,
            chance=chance,
            min_order_fallback=Decimal(str(self.config.min_order_krw)),
            quantity_decimals=self.config.quantity_decimals,
            tick_table=self.config.tick_table,
        )
        self._rules[market] = (now, rules)
        return rules

    def _offline_rules(self, market: str) -> MarketRules:
        """Rules without a network call: enough for ticks and precision (not for fees)."""
        cached = self._rules.get(market)
        if cached is not None:
            return cached[1]
        return build_market_rules(
            market,
            chance=None,
            min_order_fallback=Decimal(str(self.config.min_order_krw)),
            quantity_decimals=self.config.quantity_decimals,
            tick_table=self.config.tick_table,
        )

    async def fetch_candles(
        self,
        market: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        *,
        on_page: Callable[[int], None] | None = None,
    ) -> Sequence[Bar]:
        """Closed candles with ``since_ms <= time_ms < until_ms``, oldest first.

        A candle counts as closed ``candle_grace_s`` after its end, which gives Bithumb time
        to include the interval's last trades. Intervals without trades have no candle.
        """
        bars = await self.client.candles_between(
            market, timeframe, since_ms, until_ms, on_page=on_page
        )
        closed_before = self._clock() - int(self.config.candle_grace_s * 1000)
        step = timeframe.milliseconds
        return [bar for bar in bars if bar.time_ms + step <= closed_before]

    def stream_trades(self, markets: Sequence[str]) -> AsyncIterator[Trade]:
        """Live public trades of ``markets`` from the WebSocket (reconnects when stale)."""
        from tradekit_bithumb.stream import TradeStream

        return TradeStream(self.config.ws_url, markets, stale_after=self.config.stale_after_s)

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Callable[[Trade], None] | None = None,
    ) -> LiveBarFeed:
        """Closed bars of ``markets`` with no gaps: built from live trades, REST where missed.

        Bars come from the interval holding ``start_ms`` on (default: now), so a start in the
        past loads warm-up history from REST first. ``on_trade`` sees each live trade as it
        arrives. Close it (``async with``) when done.
        """
        from tradekit_bithumb.bar_feed import LiveBarFeed
        from tradekit_bithumb.candle_builder import CandleBuilder
        from tradekit_bithumb.stream import TradeStream

        stream = TradeStream(self.config.ws_url, markets, stale_after=self.config.stale_after_s)
        builder = CandleBuilder(timeframe, self.config.candle_grace_s)
        return LiveBarFeed(
            stream, builder, self.fetch_candles, start_ms=start_ms, on_trade=on_trade
        )

    # ---- account -----------------------------------------------------------------------

    async def balances(self) -> Mapping[str, Balance]:
        """Balances by currency (``free`` available, ``locked`` held by open orders)."""
        self.config.require_credentials("balances")
        return await self.client.accounts()

    # ---- orders ------------------------------------------------------------------------

    async def place_order(self, order: Order) -> Order:
        """Send ``order`` with its ``client_order_id``, once.

        One attempt, whatever the order's status: this connector never retries an order nor
        looks it up first (the caller, tradekit's ``OrderExecutor``, owns both). Prices and
        quantities are put on Bithumb's grid (limit prices to a tick in the safe direction,
        quantities truncated) and sent as plain decimal strings.

        Returns:
            The order with ``exchange_order_id`` and the status Bithumb's answer gives
            (``OPEN`` on the v2 endpoint, whose answer carries no state).

        Raises:
            OrderRejected: refused, by Bithumb or before sending (a number rounds to zero).
            OrderNotSent: provably never reached Bithumb (no connection, 429); safe to send
                again with the same ``client_order_id``.
            OrderStateUnknown: it may or may not exist (timeout or dropped connection after
                sending, 5xx, id already taken, unreadable answer); look it up, never re-send.
            AuthenticationError: the API key was refused.
        """
        self.config.require_credentials("placing orders")
        numbers = order_numbers(order, self._offline_rules(order.market))
        placed = await self.client.place_order(
            order.market,
            "bid" if order.side is Side.BUY else "ask",
            numbers.order_type,
            price=numbers.price,
            volume=numbers.volume,
            client_order_id=order.client_order_id,
        )
        if placed.exchange_order_id:
            self._exchange_ids[order.client_order_id] = placed.exchange_order_id
        return _keep_reason(placed, order)

    async def _lookup(self, client_order_id: str, exchange_id: str | None) -> Order | None:
        exchange_id = exchange_id or self._exchange_ids.get(client_order_id)
        if exchange_id is not None:
            found = await self.client.get_order(uuid=exchange_id)
        elif self.config.order_endpoint == "v2":
            found = await self.client.get_order(client_order_id=client_order_id)
        else:
            # v1 orders cannot be found by client_order_id, and this process never learnt
            # the exchange id: "not found" would be a guess, and a caller could buy twice.
            raise OrderStateUnknown(
                f"order {client_order_id} cannot be looked up: v1 orders are found only by "
                "their exchange id, which is not known here; check the account by hand"
            )
        if found is not None and not found.client_order_id:
            found = attrs.evolve(found, client_order_id=client_order_id)
        return found

    async def get_order(self, client_order_id: str) -> Order | None:
        """The order carrying ``client_order_id``, or None if Bithumb has none.

        Raises:
            OrderStateUnknown: with ``order_endpoint: v1`` when the order's exchange id is not
                known here (v1 cannot search by client id).
        """
        self.config.require_credentials("looking up orders")
        return await self._lookup(client_order_id, None)

    async def cancel_order(self, order: Order) -> Order:
        """Cancel a resting order and return it as it ended.

        An order that already finished (Bithumb answers ``order_not_found``) is returned as
        it is now, filled or cancelled; an order Bithumb does not know raises ExchangeError.
        """
        self.config.require_credentials("cancelling orders")
        exchange_id = order.exchange_order_id or self._exchange_ids.get(order.client_order_id)
        if exchange_id is None:
            found = await self._lookup(order.client_order_id, None)
            if found is None:
                raise ExchangeError(
                    f"cannot cancel {order.client_order_id}: Bithumb has no such order",
                    code="order_not_found",
                )
            exchange_id = found.exchange_order_id
        try:
            await self.client.cancel_order(uuid=exchange_id)
        except ExchangeError as exc:
            if exc.code != "order_not_found":
                raise
        final = await self._lookup(order.client_order_id, exchange_id)
        if final is None:
            raise ExchangeError(
                f"cannot cancel {order.client_order_id}: Bithumb has no order {exchange_id}",
                code="order_not_found",
            )
        return _keep_reason(final, order)


def _keep_reason(found: Order, sent: Order) -> Order:
    """Carry tradekit's own fields (which Bithumb does not store) over to a fetched order."""
    changes: dict[str, Any] = {}
    if sent.reason and not found.reason:
        changes["reason"] = sent.reason
    if not found.client_order_id:
        changes["client_order_id"] = sent.client_order_id
    return attrs.evolve(found, **changes) if changes else found
