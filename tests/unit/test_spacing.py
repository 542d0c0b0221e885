"""The timeframe check for candle series that do not check it themselves."""

from __future__ import annotations

import pytest

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe
from tradekit.spacing import SpacingCheck, checked_bars, format_duration

H = 3_600_000
T = 1_600_000_000_000  # 2020-09-13 12:26:40 UTC


def bars(times: list[int]) -> list[Bar]:
    return [Bar("KRW-BTC", t, 10, 11, 9, 10, 1) for t in times]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(604_800_000, "1w"), (86_400_000, "1d"), (H, "1h"), (5_400_000, "90m"), (1500, "1500ms")],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_matching_bars_with_gaps_pass_through_unchanged() -> None:
    series = bars([T, T + H, T + 2 * H, T + 5 * H, T + 6 * H])
    assert list(checked_bars(series, Timeframe("1h"), "db")) == series


def test_bars_too_close_stop_the_stream_at_the_first_such_pair() -> None:
    seen: list[int] = []

    def consume() -> None:
        for bar in checked_bars(bars([T, T + H, T + H + 900_000]), Timeframe("1h"), "db"):
            seen.append(bar.time_ms)

    with pytest.raises(DataError, match=r"^db: bars 15m apart .* timeframe is 1h"):
        consume()
    assert seen == [T, T + H]  # the bars before the bad pair went through


def test_data_of_a_longer_timeframe_fails_after_the_last_bar() -> None:
    stream = checked_bars(bars([T + i * 86_400_000 for i in range(5)]), Timeframe("1h"), "db")
    with pytest.raises(DataError, match=r"most bars are 1d apart \(4 of 4; 0 are 1h apart\)"):
        list(stream)


def test_a_few_wide_gaps_are_not_another_timeframe() -> None:
    check = SpacingCheck(Timeframe("1h"), "x")
    check.scan([T, T + 3 * H, T + 6 * H, T + 7 * H, T + 8 * H])  # gaps: 2 of 4 pairs
    check.finish()
    assert (check.pairs, check.exact, check.gaps, check.missing) == (4, 2, 2, 4)
    # One pair alone says nothing about the series.
    single = SpacingCheck(Timeframe("1h"), "x")
    single.scan([T, T + 24 * H])
    single.finish()
