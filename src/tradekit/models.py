"""Frozen attrs values that flow through tradekit.

Prices and quantities inside the engine are floats (the fill rules of ``docs/backtests.md``
are defined on floats); anything sent to an exchange goes through
:class:`MarketRules`, which works in :class:`~decimal.Decimal` and renders decimal strings.
"""

from __future__ import annotations

import enum
import math
import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

import attrs

__all__ = [
    "Balance",
    "Bar",
    "ExitPlan",
    "Fill",
    "MarketRules",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionState",
    "Rejection",
    "Side",
    "Signal",
    "Timeframe",
    "Trade",
    "decimal_str",
    "floor8",
]

_TIMEFRAME_RE = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@attrs.frozen(slots=True)
class Timeframe:
    """A candle interval such as ``1m``, ``15m``, ``1h`` or ``1d``."""

    value: str = attrs.field()

    @value.validator
    def _check(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not Timeframe.is_valid(value):
            raise ValueError(f"invalid timeframe {value!r}: expected a number and m, h, d or w")

    @staticmethod
    def is_valid(value: str) -> bool:
        """True for strings such as ``1m``, ``15m``, ``1h``, ``1d``, ``1w``."""
        match = _TIMEFRAME_RE.match(value)
        return match is not None and int(match.group(1)) > 0

    @property
    def milliseconds(self) -> int:
        """Length of one interval in milliseconds."""
        match = _TIMEFRAME_RE.match(self.value)
        assert match is not None  # checked by the validator
        return int(match.group(1)) * _UNIT_MS[match.group(2)]

    def __str__(self) -> str:
        return self.value


class Side(enum.StrEnum):
    """Order or fill side."""

    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    """How an order is priced."""

    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(enum.StrEnum):
    """Life cycle of an order; the first state is stored before anything is sent."""

    NEW = "new"  # stored, not yet sent
    SUBMITTED = "submitted"  # sent; the exchange's answer is not known yet
    OPEN = "open"  # accepted, waiting or partly filled
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # fate unknown (timeout): must be looked up, never re-sent blindly

    @property
    def is_final(self) -> bool:
        """True once the order can no longer change."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class ExitReason(enum.StrEnum):
    """Why a position is sold: the reason of its sell orders and fills (as these strings)."""

    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"  # the stop, once the take-profit was reached
    TAKE_PROFIT = "take_profit"
    SIGNAL = "signal"  # the strategy's sell signal
    MANUAL = "manual"  # POST /positions/{market}/close, or a takeover's close
    END_OF_DATA = "end_of_data"  # a backtest's last bar


class PositionStatus(enum.StrEnum):
    """Whether a stored position is still held."""

    OPEN = "open"
    CLOSED = "closed"


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@attrs.frozen(slots=True)
class Bar:
    """One closed candle. ``time_ms`` is the candle's open time in UTC milliseconds.

    Raises:
        ValueError: a number is not finite, a price is not positive, the volume is negative, or
            high/low do not contain open and close.
    """

    market: str
    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def __attrs_post_init__(self) -> None:
        o, h, lo, c, v = self.open, self.high, self.low, self.close, self.volume
        # One combined comparison keeps the common (valid) path cheap; NaN fails every comparison.
        if 0 < lo <= o <= h and lo <= c <= h and v >= 0 and h < math.inf and v < math.inf:
            return
        for name in ("open", "high", "low", "close", "volume"):
            _finite(name, getattr(self, name))
        if lo <= 0:
            raise ValueError(f"bar {self.market} {self.time_ms}: low must be > 0, got {lo!r}")
        if v < 0:
            raise ValueError(f"bar {self.market} {self.time_ms}: volume must be >= 0, got {v!r}")
        raise ValueError(
            f"bar {self.market} {self.time_ms}: high/low must contain open and close "
            f"(open={o!r} high={h!r} low={lo!r} close={c!r})"
        )


_SET_BAR = tuple(
    Bar.__dict__[name].__set__
    for name in ("market", "time_ms", "open", "high", "low", "close", "volume")
)


def trusted_bar(
    market: str, time_ms: int, open_: float, high: float, low: float, close: float, volume: float
) -> Bar:
    """A :class:`Bar` of values checked already (a checked file's row), not checked again.

    The slots are filled through their descriptors, as ``Bar()`` fills them through
    ``object.__setattr__`` (a frozen class), minus the check and the Python-level ``__init__``:
    about 0.5 µs a bar instead of 0.8. The result is an ordinary, frozen ``Bar``.
    """
    bar: Bar = object.__new__(Bar)
    set_market, set_time, set_open, set_high, set_low, set_close, set_volume = _SET_BAR
    set_market(bar, market)
    set_time(bar, time_ms)
    set_open(bar, open_)
    set_high(bar, high)
    set_low(bar, low)
    set_close(bar, close)
    set_volume(bar, volume)
    return bar


def floor8(x: float) -> float:
    """Round down to 8 decimals, absorbing float noise (``docs/backtests.md#signal``)."""
    return math.floor(x * 1e8 + 1e-6) / 1e8


@attrs.frozen(slots=True)
class ExitPlan:
    """How a position is protected; fractions are relative to the entry price.

    Attributes:
        stop_loss: initial stop, fraction below the entry price (None: no stop).
        take_profit: first take-profit, fraction above the entry price (None: none).
        take_profit_fraction: share of the position sold at the first take-profit.
        trailing_stop: trailing distance below the highest high once the take-profit was reached.
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    take_profit_fraction: float = 0.5
    trailing_stop: float | None = None


@attrs.frozen(slots=True)
class Signal:
    """A strategy's wish to enter (``buy``) or leave (``sell``) a market, made on a closed bar."""

    market: str
    time_ms: int
    action: str  # "buy" enters; "sell" closes the market's position; anything else is an error
    price: float  # the closing price the decision was made on
    exit_plan: ExitPlan
    confidence: float = 1.0
    reason: str = ""
    strategy: str = ""

    @property
    def stop_loss_price(self) -> float | None:
        """Stop price implied by the exit plan at the signal price."""
        sl = self.exit_plan.stop_loss
        return None if sl is None else self.price * (1 - sl)

    @property
    def take_profit_price(self) -> float | None:
        """Take-profit price implied by the exit plan at the signal price."""
        tp = self.exit_plan.take_profit
        return None if tp is None else self.price * (1 + tp)


@attrs.frozen(slots=True)
class OrderIntent:
    """An order the engine wants; risk rules may resize (``attrs.evolve``) or reject it."""

    market: str
    side: Side
    price: float  # reference price (the signal's close); market orders are not limited by it
    quantity: float | None  # None until a sizing rule sets it
    reason: str
    time_ms: int
    signal: Signal | None = None


@attrs.frozen(slots=True)
class Order:
    """An order as tradekit tracks it; stored before it is sent and updated as it changes."""

    client_order_id: str
    market: str
    side: Side
    type: OrderType
    volume: float | None  # base quantity (None for a market buy by KRW amount)
    price: float | None  # limit price, or KRW amount of a market buy
    status: OrderStatus
    created_ms: int
    updated_ms: int
    exchange_order_id: str | None = None
    executed_volume: float = 0.0
    average_price: float | None = None
    fee: float = 0.0
    reason: str = ""
    #: An entry's exit plan, stored with the order so a restart can protect what it bought.
    exit_plan: ExitPlan | None = None


@attrs.frozen(slots=True)
class Fill:
    """One execution. ``time_ms`` is the open time of the bar it happened in (backtest)."""

    time_ms: int
    market: str
    side: Side
    price: float
    quantity: float
    fee: float
    reason: str  # "entry", or an ExitReason value
    client_order_id: str | None = None


@attrs.frozen(slots=True)
class Position:
    """An open (or closed) position with its exit state."""

    market: str
    quantity: float
    entry_price: float
    entry_time_ms: int
    stop: float | None
    take_profit_price: float | None
    take_profit_reached: bool = False
    highest: float | None = None
    last_price: float | None = None
    status: PositionStatus = attrs.field(default=PositionStatus.OPEN, converter=PositionStatus)
    #: Also held in the market but below the exchange's quantity step, so it cannot be sold
    #: on its own: it goes with the next sale.
    remainder: float = 0.0
    #: Trailing distance below the highest high, armed once the take-profit was reached.
    trailing_stop: float | None = None

    @property
    def unrealized_pnl(self) -> float:
        """Profit at ``last_price`` before fees (0 when no price is known)."""
        if self.last_price is None:
            return 0.0
        return (self.last_price - self.entry_price) * self.quantity


def decimal_str(value: Decimal | float | int | str) -> str:
    """Render a number as a plain decimal string: never ``1e-05`` or ``400000.0``."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@attrs.frozen(slots=True)
class MarketRules:
    """A market's trading rules: price ticks, quantity precision, minimum order value, fees.

    Attributes:
        market: market id, e.g. ``KRW-BTC``.
        tick_table: ``(lower_bound, tick)`` pairs sorted by lower bound descending; the first
            pair whose bound is <= the price gives its tick.
        quantity_decimals: quantities are truncated to this many decimals.
        min_order_value: smallest notional (quote currency) the exchange accepts.
        taker_fee: fee rate for market orders.
        maker_fee: fee rate for resting limit orders.
    """

    market: str
    tick_table: tuple[tuple[Decimal, Decimal], ...]
    quantity_decimals: int = 8
    min_order_value: Decimal = Decimal(5000)
    taker_fee: Decimal = Decimal("0.0025")
    maker_fee: Decimal = Decimal("0.0025")

    def tick_for(self, price: Decimal | float) -> Decimal:
        """The price tick that applies at ``price``."""
        p = price if isinstance(price, Decimal) else Decimal(str(price))
        for bound, tick in self.tick_table:
            if p >= bound:
                return tick
        return self.tick_table[-1][1]

    def round_price(self, price: Decimal | float, side: Side) -> Decimal:
        """Round to a valid tick in the safe direction: buys down, sells up.

        A buy limit never pays more than asked and a sell limit never sells for less.
        """
        p = price if isinstance(price, Decimal) else Decimal(str(price))
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        tick = self.tick_for(p)
        rounded = (p / tick).to_integral_value(rounding=rounding) * tick
        # Rounding can cross into a band with a coarser tick (e.g. 999,999.5 -> 1,000,000).
        coarser = self.tick_for(rounded)
        if coarser != tick:
            rounded = (rounded / coarser).to_integral_value(rounding=rounding) * coarser
        return rounded.quantize(tick) if tick < 1 else rounded.quantize(Decimal(1))

    def round_quantity(self, quantity: Decimal | float) -> Decimal:
        """Truncate a quantity to the market's precision (always down)."""
        q = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
        return q.quantize(Decimal(1).scaleb(-self.quantity_decimals), rounding=ROUND_DOWN)

    def meets_minimum(self, quantity: Decimal | float, price: Decimal | float) -> bool:
        """True when ``quantity * price`` reaches the minimum order value."""
        q = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
        p = price if isinstance(price, Decimal) else Decimal(str(price))
        return q * p >= self.min_order_value


@attrs.frozen(slots=True)
class Rejection:
    """A risk rule's or the market rules' refusal of an :class:`OrderIntent`."""

    rule: str
    reason: str


@attrs.frozen(slots=True)
class Trade:
    """One public trade (tick) from an exchange stream."""

    market: str
    time_ms: int
    price: float
    volume: float
    side: Side | None = None
    trade_id: str | None = None


@attrs.frozen(slots=True)
class PositionState:
    """Everything the engine needs to carry an open position across a restart."""

    market: str
    quantity: float
    entry_price: float
    opened_ms: int
    cost: float  # cash paid for the entry, fee included
    proceeds: float  # cash received from partial sales so far, fees deducted
    stop: float | None
    take_profit_price: float | None
    take_profit_fraction: float
    trailing_stop: float | None
    take_profit_reached: bool
    highest: float | None


@attrs.frozen(slots=True)
class Balance:
    """One currency's balance on the exchange."""

    currency: str
    free: Decimal
    locked: Decimal = Decimal(0)
    average_buy_price: Decimal | None = None
