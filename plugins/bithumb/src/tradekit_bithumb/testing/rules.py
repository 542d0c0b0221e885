"""Bithumb KRW-market trading rules the fake enforces: price ticks and number formats."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal, InvalidOperation

KST = timezone(timedelta(hours=9), "KST")

# (lower bound, tick) from the tick table of docs/bithumb.md#trading-rules, highest band first.
# Written out again on purpose rather than imported from the connector: the fake is the connector's
# independent check, so a wrong band in one of them makes a test fail instead of agreeing.
KRW_TICKS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1_000_000), Decimal(1000)),
    (Decimal(500_000), Decimal(500)),
    (Decimal(100_000), Decimal(100)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(10_000), Decimal(10)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(1_000), Decimal(1)),
    (Decimal(100), Decimal(1)),
    (Decimal(10), Decimal("0.01")),
    (Decimal(1), Decimal("0.001")),
    (Decimal(0), Decimal("0.0001")),
)
MIN_TICK = KRW_TICKS[-1][1]
VOLUME_PLACES = Decimal("0.00000001")


def krw_tick(price: Decimal) -> Decimal:
    """The price unit (호가단위) for a KRW-market price."""
    for lower, tick in KRW_TICKS:
        if price >= lower:
            return tick
    return MIN_TICK


def on_tick(price: Decimal) -> bool:
    """Whether ``price`` is a whole multiple of its tick."""
    return price % krw_tick(price) == 0


def decimal_or_none(value: object) -> Decimal | None:
    """Parse a request number (string or JSON number); None if it is not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def fmt(value: Decimal | None) -> str | None:
    """Format a decimal as Bithumb's private API does: a plain string, no exponent."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def public_number(value: Decimal) -> int | float:
    """A JSON number for public endpoints (which send Double/Long, not strings)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)
