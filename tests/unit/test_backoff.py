"""The backoff formula every retry loop shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.backoff import backoff_delay


def test_doubles_from_the_first_delay_up_to_the_cap() -> None:
    assert [backoff_delay(i, 0.5, 3.0) for i in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(10_000, 0.5, 3.0) == 3.0  # no overflow on a long outage
    assert backoff_delay(-1, 0.5, 3.0) == 0.5


def test_equal_jitter_stays_between_half_and_all_of_the_delay() -> None:
    assert backoff_delay(2, 1.0, 60.0, jitter=lambda: 0.0) == 2.0
    assert backoff_delay(2, 1.0, 60.0, jitter=lambda: 0.5) == 3.0
    assert backoff_delay(2, 1.0, 60.0, jitter=lambda: 0.999) == pytest.approx(3.998)


@given(
    retry=st.integers(0, 100),
    first=st.floats(0.001, 10),
    cap=st.floats(0.001, 100),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_jittered_delay_is_bounded(retry: int, first: float, cap: float, draw: float) -> None:
    plain = backoff_delay(retry, first, cap)
    jittered = backoff_delay(retry, first, cap, jitter=lambda: draw)
    assert plain <= cap
    assert plain / 2 <= jittered <= plain
