"""The ``exchange: {use: bithumb, ...}`` config block."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from tradekit.errors import ConfigError
from tradekit.params import ConfigValueError, check_range, secret_field
from tradekit_bithumb import DEFAULT_BASE_URL, DEFAULT_WS_URL

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_WS_URL", "BithumbConfig", "RateLimits"]


def _url(*schemes: str) -> Any:
    def validate(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
        if not value.startswith(schemes):
            raise ConfigValueError(f"a URL starting with {' or '.join(schemes)}", value)

    return validate


@attrs.frozen
class RateLimits:
    """Client-side request budgets in requests per second, per API category.

    Bithumb allows 150/s per public category and 140/s per private one, and may lower them
    without notice; an account sending more than 20 orders or cancels a second on one asset
    risks a restriction. The defaults stay well below all of that.
    """

    public: float = attrs.field(default=100.0, validator=check_range(0, None, low_open=True))
    private: float = attrs.field(default=100.0, validator=check_range(0, None, low_open=True))
    order: float = attrs.field(default=8.0, validator=check_range(0, None, low_open=True))


@attrs.frozen
class BithumbConfig:
    """Settings of the Bithumb connector.

    ``api_key``/``api_secret`` may be left out for public-only use (market data, candle
    downloads, paper trading); private calls then fail with a clear error.

    Attributes:
        api_key: The API (access) key.
        api_secret: The secret key that signs each request's JWT.
        base_url: REST host (override for tests or a proxy).
        ws_url: Public WebSocket URL.
        timeout: Seconds before a request counts as timed out.
        max_retries: Retries of a temporary failure of a read or cancel (at most 3); an order
            is sent once, never retried by the connector.
        backoff_base_s: First retry delay; it doubles on each retry (with jitter).
        backoff_max_s: Upper bound of one retry delay.
        max_retry_after_s: A longer ``Retry-After`` is not waited out; RateLimited is raised.
        rate_limits: Client-side request budgets per API category.
        order_endpoint: ``v2`` (``POST /v2/orders`` with ``client_order_id``, the default) or
            ``v1`` (classic ``POST /v1/orders``, no idempotency key: an order of unknown fate
            can be looked up only by the exchange id its answer carried).
        min_order_krw: Minimum order value used when ``/v1/orders/chance`` cannot be asked.
        quantity_decimals: Quantities are truncated to this many decimals (4 is safe on both
            API generations; v2 may accept 8).
        tick_table: ``[[lower_bound, tick], ...]`` replacing the built-in KRW tick table
            (Bithumb changes it from time to time); empty means built-in.
        stale_after_s: A trade stream that is silent this long is reconnected.
        candle_grace_s: Seconds after a candle's end before it is treated as closed.
    """

    api_key: str | None = secret_field()
    api_secret: str | None = secret_field()
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, validator=_url("https://", "http://"))
    ws_url: str = attrs.field(default=DEFAULT_WS_URL, validator=_url("wss://", "ws://"))
    timeout: float = attrs.field(default=10.0, validator=check_range(0, None, low_open=True))
    max_retries: int = attrs.field(default=3, validator=check_range(0, 3))
    backoff_base_s: float = attrs.field(default=0.5, validator=check_range(0, None))
    backoff_max_s: float = attrs.field(default=8.0, validator=check_range(0, None))
    max_retry_after_s: float = attrs.field(default=30.0, validator=check_range(0, None))
    rate_limits: RateLimits = RateLimits()
    order_endpoint: Literal["v2", "v1"] = "v2"
    min_order_krw: float = attrs.field(default=5000.0, validator=check_range(0, None))
    quantity_decimals: int = attrs.field(default=4, validator=check_range(0, 8))
    tick_table: list[list[float]] = attrs.field(factory=list)
    stale_after_s: float = attrs.field(default=30.0, validator=check_range(0, None, low_open=True))
    candle_grace_s: float = attrs.field(default=2.0, validator=check_range(0, None))

    @tick_table.validator
    def _tick_table(self, _attr: object, value: list[list[float]]) -> None:
        for row in value:
            if len(row) != 2 or row[0] < 0 or row[1] <= 0:
                raise ConfigValueError("[lower_bound >= 0, tick > 0] pairs", row, "tick_table")

    def require_credentials(self, what: str) -> tuple[str, str]:
        """The key pair, or a ConfigError naming the call that needs it."""
        if not self.api_key or not self.api_secret:
            raise ConfigError(
                f"exchange.api_key and exchange.api_secret are required for {what} "
                "(Bithumb private API); set them, e.g. from ${BITHUMB_API_KEY}"
            )
        return self.api_key, self.api_secret
