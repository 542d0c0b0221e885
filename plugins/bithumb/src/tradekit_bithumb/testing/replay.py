"""Replay mode for the fake Bithumb: play a bar series as trades, tick by tick.

A backtest fills by the fill rules (``docs/backtests.md#fill-rules``): an entry
decided on bar *i* fills at ``open[i+1]``; within a bar a gap through the stop sells at the
open, a touched stop at the stop price, a take-profit at ``max(open, tp)``; the stop is checked
before the take-profit. Live trading instead watches every trade and sends market orders, which
the fake fills at its current price. Playing each bar as the path open -> low -> high -> close
in steps of one price tick (:func:`bar_path`) makes the two agree within one tick: the first
trade at or below a stop lies within one tick of it, and so does the first trade at or above a
take-profit; a market order sent right after that trade fills at its price.

:class:`BarReplay` drives a :class:`~tradekit_bithumb.testing.FakeBithumb`: it loads the bars as
REST candles (so warm-up history agrees), yields each bar's steps with timestamps inside the
bar, plays a step (moves the price, records the public trade and streams it on the WebSocket)
and, when a bar ends, moves the price to the next bar's open without a trade, so that a market
buy sent on the bar's close fills at ``open[i+1]``.

Example:
    >>> replay = BarReplay(server, "KRW-BTC", bars, interval_ms=3_600_000)  # doctest: +SKIP
    >>> for i in range(len(replay.bars)):  # doctest: +SKIP
    ...     for step in replay.bar_steps(i):
    ...         replay.play(step)  # then let the trader react before the next step
    ...     replay.end_bar(i)  # the price is now open[i+1]; the trader decides on bar i
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_DOWN, Decimal
from itertools import pairwise
from typing import Literal, Protocol

import attrs

from tradekit.bar_path import Number, TickFor, check_bar, to_decimal
from tradekit.bar_path import bar_path as _core_bar_path
from tradekit_bithumb.testing.exchange import DAY_MS, MINUTE_UNITS, CandleUnit
from tradekit_bithumb.testing.rules import VOLUME_PLACES, krw_tick
from tradekit_bithumb.testing.server import FakeBithumb

__all__ = ["BarLike", "BarReplay", "ReplayBar", "ReplayStep", "TickFor", "bar_path"]


def bar_path(
    open: Number,
    high: Number,
    low: Number,
    close: Number,
    tick_for: TickFor = krw_tick,
    *,
    max_steps_per_leg: int | None = None,
) -> list[Decimal]:
    """:func:`tradekit.bar_path.bar_path` with Bithumb's KRW tick table by default."""
    return _core_bar_path(open, high, low, close, tick_for, max_steps_per_leg=max_steps_per_leg)


class BarLike(Protocol):
    """A bar with attributes, such as :class:`tradekit.models.Bar`."""

    @property
    def time_ms(self) -> int: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


@attrs.frozen
class ReplayBar:
    """One bar to replay, as decimals; ``time_ms`` is its UTC open time in milliseconds."""

    time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def of(cls, bar: BarLike | Sequence[Number]) -> ReplayBar:
        """From ``(time_ms, open, high, low, close, volume)`` or an object with those fields."""
        if isinstance(bar, Sequence):
            if len(bar) != 6:
                raise ValueError(f"a bar row is (time_ms, o, h, l, c, volume), got {bar!r}")
            time_ms, o, h, lo, c, v = bar
        else:
            time_ms, o, h, lo, c, v = (
                bar.time_ms,
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume,
            )
        return cls(
            int(time_ms), to_decimal(o), to_decimal(h), to_decimal(lo), to_decimal(c), to_decimal(v)
        )


@attrs.frozen
class ReplayStep:
    """One trade of a replayed bar.

    Attributes:
        bar_index: Index of its bar in :attr:`BarReplay.bars`.
        index: Position in the bar's path (0 is the open).
        time_ms: Trade time, strictly increasing within the bar and inside its interval.
        price: Trade price (a step of :func:`bar_path`).
        volume: Trade volume; a bar's steps add up to its volume.
        ask_bid: ``BID`` when the price rose from the previous step (or it is the first),
            ``ASK`` when it fell.
        last: Whether this is the bar's last step (its close).
    """

    bar_index: int
    index: int
    time_ms: int
    price: Decimal
    volume: Decimal
    ask_bid: Literal["ASK", "BID"]
    last: bool


def _candle_unit(interval_ms: int) -> CandleUnit | None:
    if interval_ms == DAY_MS:
        return "days"
    minutes, rest = divmod(interval_ms, 60_000)
    return minutes if rest == 0 and minutes in MINUTE_UNITS else None


class BarReplay:
    """Plays a bar series of one market on a fake Bithumb as trades.

    Creating it turns the fake into replay mode: trades the fake prints without a time of
    their own carry the replay clock (:attr:`now_ms`) instead of the wall clock, and unless
    ``print_own_fills`` is True the account's own market fills print no public trade (the
    bars already hold the market's whole volume, and a print of its own would add to the live
    bar's volume). Orders still fill at the fake's current price with its normal fee; a market
    buy by KRW amount (``ord_type=price``) gets ``amount / price`` truncated to 8 decimals.

    Args:
        server: A started (or not yet started) fake.
        market: The market to replay, e.g. ``"KRW-BTC"`` (must be listed on the fake).
        bars: ``(time_ms, open, high, low, close, volume)`` rows or bar objects (such as
            :class:`tradekit.models.Bar`), oldest first; gaps between bars are allowed.
        interval_ms: The bar interval in milliseconds (3,600,000 for 1h).
        tick_for: Price unit at a price, default Bithumb's KRW table.
        max_steps_per_leg: Passed to :func:`bar_path` (None: always one tick per step).
        candles: ``"all"`` loads every bar as a REST candle now; ``"closed"`` loads a bar when
            :meth:`end_bar` ends it (call :meth:`load_candles` for warm-up bars); ``"none"``
            loads nothing. Loading needs an interval REST serves (1-240 minutes or a day).
        print_own_fills: Keep printing the account's own market fills as public trades.

    Raises:
        ValueError: a bar is not valid, a bar starts before the previous one ends, the
            market is not listed, or candles cannot be loaded for this interval.
    """

    def __init__(
        self,
        server: FakeBithumb,
        market: str,
        bars: Sequence[BarLike | Sequence[Number]],
        interval_ms: int,
        *,
        tick_for: TickFor = krw_tick,
        max_steps_per_leg: int | None = None,
        candles: Literal["all", "closed", "none"] = "all",
        print_own_fills: bool = False,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self.server = server
        self.market = market
        self.interval_ms = interval_ms
        self.tick_for = tick_for
        self.max_steps_per_leg = max_steps_per_leg
        self.candles = candles
        self.bars: tuple[ReplayBar, ...] = tuple(ReplayBar.of(bar) for bar in bars)
        for earlier, later in pairwise(self.bars):
            if later.time_ms < earlier.time_ms + interval_ms:
                raise ValueError(
                    f"bar at {later.time_ms} starts before the bar at {earlier.time_ms} ends"
                )
        for bar in self.bars:
            check_bar(bar.open, bar.high, bar.low, bar.close)
            if bar.volume < 0:
                raise ValueError(f"bar {bar.time_ms}: negative volume {bar.volume}")
        self._unit = _candle_unit(interval_ms)
        if candles != "none" and self._unit is None:
            raise ValueError(
                f"REST serves no {interval_ms} ms candles; use candles='none' for this interval"
            )
        exchange = server.exchange
        with exchange.lock:
            if market not in exchange.markets:
                raise ValueError(f"market {market!r} is not listed on the fake")
            exchange.paths.pop(market, None)  # market orders must fill at the replayed price
            exchange.print_own_fills = print_own_fills
        self.now_ms: int | None = None
        if candles == "all":
            self.load_candles()

    def load_candles(self, stop: int | None = None) -> None:
        """Serve ``bars[:stop]`` (all by default) as the fake's REST candles."""
        if self._unit is None:
            raise ValueError(f"REST serves no {self.interval_ms} ms candles")
        rows = [
            (bar.time_ms, bar.open, bar.high, bar.low, bar.close, bar.volume)
            for bar in self.bars[:stop]
        ]
        self.server.load_candles(self.market, self._unit, rows)

    def path(self, bar_index: int) -> list[Decimal]:
        """The bar's trade prices (:func:`bar_path`)."""
        bar = self.bars[bar_index]
        return bar_path(
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            self.tick_for,
            max_steps_per_leg=self.max_steps_per_leg,
        )

    def bar_steps(self, bar_index: int) -> list[ReplayStep]:
        """The bar's steps: one per path price, times spread evenly over its interval.

        Step *j* of *n* trades at ``time_ms + j * interval_ms // n``, so the times are strictly
        increasing and inside ``[time_ms, time_ms + interval_ms)``. The bar's volume is split
        evenly at 8 decimals and the last step takes the remainder, so the volumes add up to
        the bar's volume exactly (the 8-decimal volumes survive the WebSocket's float numbers).

        Raises:
            ValueError: the path has more prices than the interval has milliseconds (set
                ``max_steps_per_leg``).
        """
        bar = self.bars[bar_index]
        prices = self.path(bar_index)
        count = len(prices)
        if count > self.interval_ms:
            raise ValueError(
                f"bar {bar.time_ms}: {count} steps do not fit in {self.interval_ms} ms with "
                "increasing times; set max_steps_per_leg"
            )
        share = (bar.volume / count).quantize(VOLUME_PLACES, ROUND_DOWN)
        steps: list[ReplayStep] = []
        previous: Decimal | None = None
        for j, price in enumerate(prices):
            last = j == count - 1
            steps.append(
                ReplayStep(
                    bar_index=bar_index,
                    index=j,
                    time_ms=bar.time_ms + j * self.interval_ms // count,
                    price=price,
                    volume=bar.volume - share * (count - 1) if last else share,
                    ask_bid="ASK" if previous is not None and price < previous else "BID",
                    last=last,
                )
            )
            previous = price
        return steps

    def steps(self) -> Iterator[ReplayStep]:
        """Every bar's steps, bar after bar (paths are computed one bar at a time)."""
        for i in range(len(self.bars)):
            yield from self.bar_steps(i)

    def play(self, step: ReplayStep) -> None:
        """Print the step's trade: the fake's price becomes ``step.price`` (market orders fill
        there), the trade shows up in ``/v1/trades/ticks`` and is streamed on the WebSocket
        before this returns. The replay clock becomes the step's time.
        """
        self._set_clock(step.time_ms)
        self.server.push_trade(
            self.market, step.price, step.volume, time_ms=step.time_ms, ask_bid=step.ask_bid
        )

    def end_bar(self, bar_index: int) -> Decimal | None:
        """The bar's interval is over: the clock moves to its end and the price to the next
        bar's open, without a trade, so a market buy decided on this bar fills at
        ``open[i+1]`` as in the backtest. With ``candles="closed"`` the bar becomes a REST
        candle.

        Returns:
            The next bar's open, or None after the last bar (the price stays at the close).
        """
        bar = self.bars[bar_index]
        self._set_clock(bar.time_ms + self.interval_ms)
        if self.candles == "closed":
            assert self._unit is not None
            row = (bar.time_ms, bar.open, bar.high, bar.low, bar.close, bar.volume)
            self.server.load_candles(self.market, self._unit, [row])
        if bar_index + 1 >= len(self.bars):
            return None
        following = self.bars[bar_index + 1].open
        self.server.set_price(self.market, following)
        return following

    def play_bar(
        self, bar_index: int, after_step: Callable[[ReplayStep], object] | None = None
    ) -> Decimal | None:
        """Play every step of a bar (calling ``after_step`` after each), then :meth:`end_bar`."""
        for step in self.bar_steps(bar_index):
            self.play(step)
            if after_step is not None:
                after_step(step)
        return self.end_bar(bar_index)

    def _set_clock(self, time_ms: int) -> None:
        exchange = self.server.exchange
        with exchange.lock:
            exchange.clock_ms = time_ms
        self.now_ms = time_ms
