"""Protocols every plugin component implements.

Each component class has a ``name`` (what ``use:`` in the config refers to) and an attrs
``Config`` class; the host structures the config block into ``Config`` (unknown keys are
errors) and calls ``cls(config)``. Decision code (strategies, risk rules) is sync and does no
I/O; exchanges, notifiers and candle sources talk to the outside world.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from tradekit.events import Event
from tradekit.models import (
    Balance,
    Bar,
    ExitPlan,
    MarketRules,
    Order,
    OrderIntent,
    Position,
    Rejection,
    Signal,
    Timeframe,
    Trade,
)

__all__ = [
    "AccountView",
    "CandleArrays",
    "CandleSource",
    "Component",
    "Exchange",
    "ExplainsHalt",
    "LiveBars",
    "Notifier",
    "OwnClock",
    "PlansExits",
    "RiskRule",
    "ScansCandles",
    "SkipsBars",
    "SkipsIdleBars",
    "Strategy",
]


class Component(Protocol):
    """What every registered class has."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]


@runtime_checkable
class Strategy(Protocol):
    """Decides entries from closed bars. One instance per market; sync and deterministic.

    ``on_bar`` is called once for every closed bar of its market, in time order, whether or
    not a position is open (so indicators stay current). It returns a :class:`Signal` to ask
    for an entry; the engine ignores it while a position or pending entry exists in that market.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]]

    @property
    def warmup_bars(self) -> int:
        """Closed bars the strategy needs before it can signal (for live backfill)."""
        ...

    def on_bar(self, bar: Bar) -> Signal | None:
        """Update with a closed bar; return a signal to enter, or None."""
        ...


@runtime_checkable
class PlansExits(Protocol):
    """A strategy that also says, outside any signal, how its positions are protected.

    Optional: a live bot that takes over a position whose entry order is unknown protects it
    with this plan (or with a 1.5 % stop when the strategy has none).
    """

    @property
    def exit_plan(self) -> ExitPlan: ...


class CandleArrays(Protocol):
    """One market's recorded candles as columns, oldest first (row ``i`` is its ``i``-th bar).

    Every row is a valid, closed :class:`Bar`; the times are unique and ascending.
    """

    @property
    def market(self) -> str: ...

    @property
    def times(self) -> Sequence[int]:
        """Open times, UTC milliseconds."""
        ...

    @property
    def open(self) -> Sequence[float]: ...

    @property
    def high(self) -> Sequence[float]: ...

    @property
    def low(self) -> Sequence[float]: ...

    @property
    def close(self) -> Sequence[float]: ...

    @property
    def volume(self) -> Sequence[float]: ...

    def __len__(self) -> int: ...


@runtime_checkable
class ScansCandles(Protocol):
    """A strategy that finds its signals in a market's whole recorded history at once.

    Optional, for backtests. The answers must be exactly those of ``on_bar`` fed every bar
    from the first row on, which lets a backtest step the decision core only on the bars that
    can change something: the rows with a signal, and every bar while an order or a position
    is open. Every other bar only extends the equity curve, and is booked in bulk.
    """

    def signal_rows(self, candles: CandleArrays) -> Sequence[int]:
        """The rows, ascending, on which ``on_bar`` would return a signal."""
        ...

    def signal_at(self, candles: CandleArrays, row: int) -> Signal:
        """The signal ``on_bar`` would return on ``row`` (one of :meth:`signal_rows`)."""
        ...


class AccountView(Protocol):
    """Read-only view of the account that risk rules see."""

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float:
        """Cash plus every position marked at its market's last close."""
        ...

    def position(self, market: str) -> Position | None: ...


@runtime_checkable
class RiskRule(Protocol):
    """Reviews entries in the order the config lists the rules. Sync; no I/O.

    ``on_bar_close`` runs after every bar's fills and before its signal (it can halt trading);
    ``check`` returns the intent (possibly resized with ``attrs.evolve``) or a Rejection.
    A rule may also declare the optional :class:`SkipsBars` and :class:`ExplainsHalt`.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]]
    #: True for a rule that sets the entry's quantity; a risk chain needs at least one.
    sizes_entries: ClassVar[bool]

    @property
    def halted(self) -> bool:
        """True while the rule refuses every entry (shown in ``/status`` and the metrics)."""
        ...

    def reset(self, equity: float, time_ms: int | None = None) -> None:
        """Start over from ``equity`` (before the first bar, or when a runner restarts)."""
        ...

    def on_bar_close(self, time_ms: int, equity: float) -> Event | None:
        """Track the account after a bar's fills; may return an event (e.g. a halt)."""
        ...

    def check(self, intent: OrderIntent, account: AccountView) -> OrderIntent | Rejection: ...


@runtime_checkable
class SkipsBars(Protocol):
    """A risk rule whose ``on_bar_close`` may do nothing: the core then never calls it per bar.

    Optional; without ``watches_bars`` the rule is called after every bar.
    """

    #: False: ``on_bar_close`` does nothing, so the per-bar call is skipped.
    watches_bars: ClassVar[bool]


@runtime_checkable
class SkipsIdleBars(Protocol):
    """A risk rule that can take a run of bars with unchanging equity in one call. Optional.

    A backtest calls it for bars on which nothing is held, pending or signalled, so the
    equity stays the cash; without it, ``on_bar_close`` is called for each of those bars.
    """

    def on_idle_bars(self, times_ms: Sequence[int], equity: float) -> list[Event]:
        """Exactly what ``on_bar_close(t, equity)`` for each of ``times_ms`` would do and
        return (the events that are not None, in order)."""
        ...


@runtime_checkable
class ExplainsHalt(Protocol):
    """A risk rule that says why it halted entries (the dashboard shows it). Optional."""

    @property
    def halt_reason(self) -> str | None:
        """Why entries are halted, in words; None while they are not."""
        ...


@runtime_checkable
class Exchange(Protocol):
    """An async exchange connector."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]

    async def aclose(self) -> None: ...

    async def market_rules(self, market: str) -> MarketRules: ...

    async def fetch_candles(
        self, market: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None
    ) -> Sequence[Bar]:
        """Closed candles with ``since_ms <= time_ms < until_ms``, oldest first."""
        ...

    def stream_trades(self, markets: Sequence[str]) -> AsyncIterator[Trade]: ...

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Callable[[Trade], None] | None = None,
    ) -> LiveBars:
        """Closed bars from the interval holding ``start_ms`` (default: now) on, with no gaps.

        ``on_trade`` sees every live trade as it arrives (live trading watches stops on it).
        """
        ...

    async def balances(self) -> Mapping[str, Balance]: ...

    async def place_order(self, order: Order) -> Order:
        """Send an order carrying ``client_order_id``: exactly one attempt, never retried here.

        The connector neither retries nor looks the order up; the caller (``OrderExecutor``)
        alone does both, so the rule that no order is sent twice lives in one place.

        Returns:
            The order as the exchange accepted it (``exchange_order_id`` set, status from
            the answer).

        Raises:
            OrderRejected: the exchange refused it; never send it again.
            OrderNotSent: it provably never reached the exchange (no connection, 429);
                sending it again with the same ``client_order_id`` is safe.
            OrderStateUnknown: it may or may not exist (timeout after sending, 5xx, garbled
                answer); look it up by ``client_order_id``, never send it again blindly.
        """
        ...

    async def get_order(self, client_order_id: str) -> Order | None: ...

    async def cancel_order(self, order: Order) -> Order: ...


@runtime_checkable
class OwnClock(Protocol):
    """An exchange whose market runs on a clock of its own (a replay of recorded candles).

    The bot then takes its time from the exchange: fills, reports and trading days follow
    the market's time, which a replay can run faster than the wall clock; and live, the
    market waits for the bot's orders.
    """

    def clock_for(self, markets: Sequence[str], timeframe: Timeframe) -> Callable[[], int]:
        """Prepare ``markets`` in ``timeframe`` and return the market's clock (UTC ms)."""
        ...

    def wait_for_orders(self, idle: Callable[[], Awaitable[None]]) -> None:
        """Await ``idle()`` before the market moves on (live: the bot's orders are out and
        booked), so an order costs no market time, however fast the market runs."""
        ...


class LiveBars(Protocol):
    """An async iterator of closed bars that holds connections: close it when done."""

    def __aiter__(self) -> AsyncIterator[Bar]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Receives events; it must never stop trading (the runner isolates its failures)."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]

    async def notify(self, event: Event) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class CandleSource(Protocol):
    """Historical candles for backtests, returned by the ``open_candle_source`` hook."""

    def bars(self, market: str, timeframe: Timeframe) -> Iterator[Bar]:
        """Bars of ``market``, oldest first, each validated."""
        ...
