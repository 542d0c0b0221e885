"""The validated settings: one frozen attrs class per block of the YAML file.

What each block means is documented in ``docs/configuration.md``; the account blocks follow
``docs/backtests.md#parameters``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs

from tradekit.models import Timeframe
from tradekit.params import ConfigValueError, check_range, secret_field

if TYPE_CHECKING:
    from tradekit.engine.core import EngineParams
    from tradekit.interfaces import Exchange, Notifier, RiskRule, Strategy

__all__ = [
    "DEFAULT_RISK",
    "AccountSettings",
    "ApiSettings",
    "BacktestSettings",
    "Component",
    "PaperSettings",
    "RawSettings",
    "Settings",
    "StorageSettings",
]


#: The kind of component a :class:`Component` builds (a Strategy, a RiskRule ...).
C = TypeVar("C")


@attrs.frozen
class Component(Generic[C]):
    """A configured component: the registered class and its structured ``Config``."""

    use: str
    cls: type[C]
    config: Any  # an instance of ``cls.Config``, whose type each plugin defines
    distribution: str = ""

    def build(self) -> C:
        """Create the component from its config."""
        return self.cls(self.config)  # type: ignore[call-arg]  # protocols declare no __init__


@attrs.frozen
class StorageSettings:
    """Where the bot records everything (any SQLAlchemy URL)."""

    url: str = "sqlite:///tradekit.db"


@attrs.frozen
class ApiSettings:
    """The control API."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=check_range(1, 65535))
    token: str | None = secret_field()


@attrs.frozen
class AccountSettings:
    """A simulated account: starting cash and the bar fill model's costs.

    See ``docs/backtests.md#fill-rules``.
    """

    initial_cash: float = attrs.field(default=10_000_000.0, validator=check_range(0, low_open=True))
    fee_rate: float = attrs.field(default=0.0025, validator=check_range(0, 1, high_open=True))
    min_order_krw: float = attrs.field(default=5000.0, validator=check_range(0))
    slippage: float = attrs.field(default=0.0, validator=check_range(0, 1, high_open=True))
    #: Sizes are multiples of this (Bithumb: 0.0001); 0.00000001 gives the unrounded fill rules.
    quantity_step: float = attrs.field(default=0.0001)
    #: ``krw``: stops and take-profits on Bithumb's KRW price grid; ``none``: not rounded.
    price_ticks: Literal["krw", "none"] = "krw"

    @quantity_step.validator
    def _power_of_ten(self, attribute: attrs.Attribute[float], value: float) -> None:
        decimals = -math.log10(value) if value > 0 else math.nan
        if not (0 <= decimals <= 12 and abs(decimals - round(decimals)) < 1e-9):
            raise ConfigValueError(
                "a power of ten such as 0.0001 or 0.00000001", value, attribute.name
            )

    def engine_params(self, *, check_cash: bool = True) -> EngineParams:
        """The engine's parameters for this account (its simulated venue's rules included)."""
        from tradekit.engine.core import EngineParams
        from tradekit.engine.rules import KRW_TICKS

        return EngineParams(
            self.initial_cash,
            self.fee_rate,
            self.min_order_krw,
            self.slippage,
            quantity_decimals=round(-math.log10(self.quantity_step)),
            price_ticks=KRW_TICKS if self.price_ticks == "krw" else None,
            check_cash=check_cash,
        )


@attrs.frozen
class PaperSettings(AccountSettings):
    """The simulated account of paper trading.

    With ``resume`` (the default) a restarted bot continues from the account stored by the
    previous paper run in the same database: cash and open positions with their stops.
    """

    resume: bool = True


@attrs.frozen
class BacktestSettings(AccountSettings):
    """Backtest inputs and the simulated venue's parameters (``docs/backtests.md#parameters``)."""

    data: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Settings:
    """The whole, validated configuration."""

    markets: list[str]
    strategy: Component[Strategy]
    risk: list[Component[RiskRule]]
    mode: Literal["backtest", "paper", "live"] = "backtest"
    timeframe: Timeframe = Timeframe("1h")
    exchange: Component[Exchange] | None = None
    notifiers: list[Component[Notifier]] = attrs.field(factory=list)
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    backtest: BacktestSettings = BacktestSettings()
    paper: PaperSettings = PaperSettings()
    #: The ``optimize:`` block as written; ``tradekit optimize`` validates it
    #: (:mod:`tradekit.optimize.spec`), other commands ignore it.
    optimize: dict[str, Any] | None = None
    source: str = ""  # the file it was read from, for messages


@attrs.frozen
class RawSettings:
    """Top-level shape before the component blocks are structured by their plugins."""

    markets: list[str]
    strategy: Any
    mode: Literal["backtest", "paper", "live"] = "backtest"
    timeframe: Timeframe = Timeframe("1h")
    risk: Any = None
    exchange: Any = None
    notifiers: Any = attrs.field(factory=list)
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    backtest: BacktestSettings = BacktestSettings()
    paper: PaperSettings = PaperSettings()
    optimize: dict[str, Any] | None = None


DEFAULT_RISK: list[dict[str, Any]] = [
    {"use": "daily_loss_limit", "limit": 0.05},
    {"use": "position_size", "fraction": 0.05},
]
