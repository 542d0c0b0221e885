"""The tradekit exception tree.

``TradekitError`` is the root; the CLI prints one line for it (a traceback for anything else).
Temporary exchange errors are retried with bounded backoff; rejections never are.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DataError",
    "ExchangeError",
    "OrderNotSent",
    "OrderRejected",
    "OrderStateUnknown",
    "PluginError",
    "RateLimited",
    "StorageError",
    "StrategyError",
    "TemporaryExchangeError",
    "TradekitError",
]


class TradekitError(Exception):
    """Base class of every error tradekit raises on purpose."""


class ConfigError(TradekitError):
    """The configuration is invalid; ``problems`` lists every one as ``path: message``.

    The CLI exits with status 2 on this error.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"invalid configuration: {self.problems[0]}"
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"invalid configuration ({len(self.problems)} problems):\n{lines}"


class PluginError(TradekitError):
    """A plugin could not be loaded or registers something invalid."""


class StorageError(TradekitError):
    """The store is unreachable, locked past the retry budget, or at the wrong schema revision."""


class ExchangeError(TradekitError):
    """An exchange call failed.

    Attributes:
        code: the exchange's own error name or code, when it gave one.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class TemporaryExchangeError(ExchangeError):
    """Network errors, timeouts, 5xx, "order not ready": worth retrying with backoff."""


class RateLimited(TemporaryExchangeError):
    """The exchange said 429; ``retry_after`` is its hint in seconds, when it gave one."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code)


class OrderRejected(ExchangeError):
    """The exchange refused the order (invalid price or volume, insufficient funds...)."""


class OrderNotSent(TemporaryExchangeError):
    """The order provably did not reach the exchange (no connection, 429 before processing).

    Sending the same order again, with the same ``client_order_id``, is safe. ``retry_after``
    is the exchange's hint in seconds (a 429's ``Retry-After``), when it gave one.
    """

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code)


class OrderStateUnknown(ExchangeError):
    """The order may or may not exist on the exchange (timeout after sending, 5xx, garbled
    answer): it must be looked up by ``client_order_id``, never sent again blindly."""

    def __init__(self, message: str, *, code: str | None = "order_state_unknown") -> None:
        super().__init__(message, code=code)


class AuthenticationError(ExchangeError):
    """The API key, secret or JWT was refused."""


class StrategyError(TradekitError):
    """A strategy raised while deciding; the engine stops after emitting an event."""


class DataError(TradekitError):
    """Input data (a candle file, a stored series) is malformed; the message says where."""
