"""The HTML report: a chart a person can read, whatever the size of the run."""

from __future__ import annotations

import re

from tradekit.report import equity_svg


def test_chart_is_downsampled_but_keeps_extremes() -> None:
    times = list(range(0, 100_000 * 3_600_000, 3_600_000))
    values = [10_000_000.0 + (i % 1000) for i in range(100_000)]
    values[54_321] = 9_000_000.0  # a deep dip must stay visible
    svg = equity_svg(times, values)
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None
    assert len(points.group(1).split()) <= 1500
    assert ">9,000,000</text>" in svg
    assert ">10,000,999</text>" in svg


def test_empty_run_says_so() -> None:
    assert equity_svg([], []) == "<p>No bars were processed.</p>"
