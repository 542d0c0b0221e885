"""Models: bar validation, timeframes, exact money formatting and the market rules."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tradekit.models import Bar, MarketRules, Side, Timeframe, decimal_str, floor8

KRW_TICKS = tuple(
    (Decimal(bound), Decimal(tick))
    for bound, tick in [
        ("1000000", "1000"),
        ("500000", "500"),
        ("100000", "100"),
        ("50000", "50"),
        ("10000", "10"),
        ("5000", "5"),
        ("1000", "1"),
        ("100", "1"),
        ("10", "0.01"),
        ("1", "0.001"),
        ("0", "0.0001"),
    ]
)
RULES = MarketRules("KRW-BTC", KRW_TICKS, quantity_decimals=4)


def test_bar_accepts_valid_and_flat_zero_volume_bars() -> None:
    Bar("KRW-BTC", 0, 10.0, 12.0, 9.0, 11.0, 3.5)
    Bar("KRW-BTC", 0, 10.0, 10.0, 10.0, 10.0, 0.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((10.0, 9.5, 9.0, 10.0, 1.0), "high/low must contain open and close"),
        ((10.0, 12.0, 10.5, 11.0, 1.0), "high/low must contain open and close"),
        ((10.0, math.inf, 9.0, 10.0, 1.0), "high must be a finite number"),
        ((math.nan, 12.0, 9.0, 10.0, 1.0), "open must be a finite number"),
        ((10.0, 12.0, 9.0, 10.0, math.nan), "volume must be a finite number"),
        ((10.0, 12.0, 9.0, 10.0, -1.0), "volume must be >= 0"),
        ((0.0, 0.0, 0.0, 0.0, 1.0), "low must be > 0"),
    ],
)
def test_bar_rejects_bad_values(values: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Bar("KRW-BTC", 0, *values)


def test_timeframe() -> None:
    assert Timeframe("1h").milliseconds == 3_600_000
    assert Timeframe("15m").milliseconds == 900_000
    assert Timeframe("1d").milliseconds == 86_400_000
    for bad in ("1x", "h", "0h", "-1h"):
        with pytest.raises(ValueError, match="invalid timeframe"):
            Timeframe(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-05, "0.00001"),
        (400000.0, "400000"),
        (Decimal("5E+7"), "50000000"),
        ("0.00100000", "0.001"),
        (0, "0"),
        (-0.0, "0"),
        (123.456, "123.456"),
    ],
)
def test_decimal_str_never_uses_exponents(value: object, text: str) -> None:
    assert decimal_str(value) == text  # type: ignore[arg-type]


def test_floor8_absorbs_float_noise() -> None:
    assert floor8(0.1 + 0.2) == 0.3
    assert floor8(0.123456789) == 0.12345678
    assert floor8(4.95049504950495) == 4.95049504
    assert floor8(2.9999999999) == 2.99999999


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (50_000_500, Side.BUY, "50000000"),
        (50_000_500, Side.SELL, "50001000"),
        (999_999, Side.SELL, "1000000"),  # rounding up crosses into the 1,000-tick band
        (999_750, Side.BUY, "999500"),
        (12_345.6, Side.BUY, "12340"),
        (12.3456, Side.SELL, "12.35"),
        (0.123456, Side.BUY, "0.1234"),
        (1_000_000, Side.BUY, "1000000"),
    ],
)
def test_round_price_in_the_safe_direction(price: float, side: Side, expected: str) -> None:
    rounded = RULES.round_price(price, side)
    assert decimal_str(rounded) == expected
    assert rounded % RULES.tick_for(rounded) == 0


def test_round_quantity_truncates_and_minimum() -> None:
    assert RULES.round_quantity(0.123456789) == Decimal("0.1234")
    assert RULES.round_quantity(Decimal("0.99999")) == Decimal("0.9999")
    assert RULES.meets_minimum(Decimal("0.0001"), 50_000_000)
    assert not RULES.meets_minimum(Decimal("0.00009"), 50_000_000)


def test_a_trusted_bar_is_an_ordinary_frozen_bar() -> None:
    import attrs
    import pytest

    from tradekit.models import Bar, trusted_bar

    bar = trusted_bar("KRW-BTC", 3_600_000, 10.0, 12.0, 9.0, 11.0, 0.5)
    assert bar == Bar("KRW-BTC", 3_600_000, 10.0, 12.0, 9.0, 11.0, 0.5)
    assert hash(bar) == hash(Bar("KRW-BTC", 3_600_000, 10.0, 12.0, 9.0, 11.0, 0.5))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        bar.close = 1.0  # type: ignore[misc]
