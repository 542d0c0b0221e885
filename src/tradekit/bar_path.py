"""A bar's trade path: the prices a candle's trades walk through, tick by tick.

A backtest fills by the rules of ``docs/backtests.md#fills-within-a-bar`` (a touched stop at
the stop price, a take-profit at ``max(open, tp)``, the stop first). A market replayed as trades
must let a live bot see the same levels: playing each bar as open -> low -> high -> close in
steps of one price tick puts the first trade at or below a stop within one tick of it, and
likewise for a take-profit, so a market order sent right after that trade fills where the
backtest would.

Shared by the built-in ``replay`` exchange and the fake Bithumb's ``BarReplay``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

__all__ = ["Number", "TickFor", "bar_path", "check_bar", "to_decimal"]

Number = Decimal | int | float | str
TickFor = Callable[[Decimal], Decimal]
"""The price unit for a price (e.g. Bithumb's KRW table)."""


def to_decimal(value: Number) -> Decimal:
    """``value`` as a Decimal (floats through their shortest repr: 0.1 -> 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _tick(tick_for: TickFor, price: Decimal) -> Decimal:
    tick = tick_for(price)
    if not tick > 0:
        raise ValueError(f"tick_for({price}) returned {tick}; a tick must be positive")
    return tick


def _next_up(price: Decimal, tick_for: TickFor) -> Decimal:
    """The lowest grid price above ``price``."""
    tick = _tick(tick_for, price)
    return (price / tick).to_integral_value(ROUND_FLOOR) * tick + tick


def _next_down(price: Decimal, tick_for: TickFor) -> Decimal:
    """The highest grid price below ``price`` (the band below may have a finer tick)."""
    tick = _tick(tick_for, price)
    while True:
        below = (price / tick).to_integral_value(ROUND_CEILING) * tick - tick
        if below <= 0:
            return below
        finer = _tick(tick_for, below)
        if finer >= tick:
            return below
        tick = finer


def _snap(price: Decimal, tick_for: TickFor, rounding: str) -> Decimal:
    tick = _tick(tick_for, price)
    return (price / tick).to_integral_value(rounding) * tick


def _leg(start: Decimal, end: Decimal, tick_for: TickFor, max_steps: int | None) -> list[Decimal]:
    """Grid prices from ``start`` (excluded) to ``end`` (included); empty if they are equal."""
    if start == end:
        return []
    up = end > start
    prices: list[Decimal] = []
    price = start
    while True:
        price = _next_up(price, tick_for) if up else _next_down(price, tick_for)
        if (price >= end) if up else (price <= end):
            prices.append(end)
            return prices
        prices.append(price)
        if max_steps is not None and len(prices) >= max_steps:
            return _coarse_leg(start, end, tick_for, max_steps)


def _coarse_leg(start: Decimal, end: Decimal, tick_for: TickFor, steps: int) -> list[Decimal]:
    """At most ``steps`` prices, evenly spaced, each snapped to the grid towards ``start``."""
    up = end > start
    prices: list[Decimal] = []
    last = start
    for j in range(1, steps):
        target = start + (end - start) * j / steps
        price = _snap(target, tick_for, ROUND_FLOOR if up else ROUND_CEILING)
        if (last < price < end) if up else (end < price < last):
            prices.append(price)
            last = price
    prices.append(end)
    return prices


def check_bar(o: Decimal, h: Decimal, lo: Decimal, c: Decimal) -> None:
    """Raise ValueError unless ``0 < low <= min(open, close)`` and ``max(open, close) <= high``."""
    if not (0 < lo <= min(o, c) and max(o, c) <= h):
        raise ValueError(f"bad bar: open={o} high={h} low={lo} close={c}")


def bar_path(
    open: Number,
    high: Number,
    low: Number,
    close: Number,
    tick_for: TickFor,
    *,
    max_steps_per_leg: int | None = None,
) -> list[Decimal]:
    """The trade prices of a bar, tick by tick: open -> low -> high -> close.

    Each leg includes its end and no price repeats its predecessor, so the path starts at the
    open, ends at the close, visits the low before the (last visit of the) high, and its minimum
    and maximum are the low and the high. Between those four prices every step is one tick of
    the band it moves in: ``abs(b - a) == tick_for(min(a, b))``, also where the tick changes
    along the way (10,000 -> 9,995 -> 9,990 on Bithumb's KRW table). OHLC prices off the grid
    are kept exactly; the steps next to them are then shorter than a tick.

    Args:
        open, high, low, close: The bar's prices (Decimal, int, float or str).
        tick_for: The price unit at a price (e.g. Bithumb's KRW table).
        max_steps_per_leg: Cap on the prices of one leg. A leg that would need more is
            coarsened evenly: at most this many prices, evenly spaced between its ends and
            snapped to the grid towards the leg's start. The precision then drops from one tick
            to about ``(leg length) / max_steps_per_leg`` plus one tick.

    Raises:
        ValueError: low/high do not contain open and close, low is not positive, or
            ``max_steps_per_leg < 1``.
    """
    o, h, lo, c = to_decimal(open), to_decimal(high), to_decimal(low), to_decimal(close)
    check_bar(o, h, lo, c)
    if max_steps_per_leg is not None and max_steps_per_leg < 1:
        raise ValueError(f"max_steps_per_leg must be >= 1, got {max_steps_per_leg}")
    path = [o]
    for start, end in ((o, lo), (lo, h), (h, c)):
        path += _leg(start, end, tick_for, max_steps_per_leg)
    return path
