"""The quantity step and price grid the core applies in every mode."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tradekit.engine.rules import KRW_TICKS, VenueRules
from tradekit.models import floor8

quantities = st.floats(min_value=1e-8, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(quantities, st.integers(0, 8))
def test_flooring_to_the_step_is_idempotent_and_never_rounds_up(q: float, decimals: int) -> None:
    rules = VenueRules(decimals)
    once = rules.floor_quantity(q)
    assert rules.floor_quantity(once) == once  # a size already on the step keeps every unit
    assert once <= q * (1 + 1e-12)
    assert q - once < rules.quantity_step * (1 + 1e-9) + q * 1e-12


@given(quantities)
def test_eight_decimals_is_the_specs_floor8_on_sizes_it_made(q: float) -> None:
    sized = floor8(q)
    assert VenueRules(8).floor_quantity(sized) == sized


def test_a_large_size_on_the_step_loses_no_unit() -> None:
    # 292.21111539 * 1e8 is 29221111538.999996 in floating point: floor8 alone loses a unit.
    assert VenueRules(8).floor_quantity(292.21111539) == 292.21111539


@given(st.floats(min_value=0.5, max_value=2e8, allow_nan=False))
def test_prices_go_to_the_grid_in_the_direction_a_price_meets_them(price: float) -> None:
    rules = VenueRules(4, KRW_TICKS)
    down, up = rules.price_down(price), rules.price_up(price)
    assert down <= price * (1 + 1e-12)
    assert up >= price * (1 - 1e-12)
    for level in (down, up):
        tick = rules.tick(level)
        assert tick is not None
        assert math.isclose(round(level / tick), level / tick, abs_tol=1e-6)


def test_without_a_grid_prices_stay_as_they_are() -> None:
    assert VenueRules().price_down(123.456) == 123.456
    assert VenueRules().price_up(123.456) == 123.456
    assert VenueRules(4, KRW_TICKS).price_down(50_234_567.0) == 50_234_000.0
    assert VenueRules(4, KRW_TICKS).price_up(999_999.5) == 1_000_000.0
