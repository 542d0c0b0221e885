"""TradingDay: the next-day shortcut gives the same boundaries as the zone computes afresh."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradekit.trading_day import TradingDay

HOUR = 3_600_000


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Asia/Seoul", "1987-01-01"),  # Seoul kept daylight saving time in 1987 and 1988
        ("America/New_York", "2023-01-01"),
        ("Australia/Lord_Howe", "2023-01-01"),  # a half-hour shift
    ],
)
def test_each_hour_maps_to_the_day_the_zone_gives(zone: str, start: str) -> None:
    t0 = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp() * 1000)
    walked = TradingDay(zone)
    days = 0
    for hour in range(2 * 366 * 24):
        t = t0 + hour * HOUR
        new = walked.is_new_day(t)
        fresh = TradingDay(zone)
        assert fresh.is_new_day(t)
        assert (walked.start_ms, walked.end_ms, walked.label) == (
            fresh.start_ms,
            fresh.end_ms,
            fresh.label,
        ), t
        days += new
    assert 730 <= days <= 733


def test_a_late_time_stays_in_the_current_day() -> None:
    day = TradingDay("Asia/Seoul")
    t = 1_700_000_000_000
    assert day.is_new_day(t)
    assert not day.is_new_day(t - 2 * 86_400_000)
    assert day.start_ms <= t < day.end_ms
