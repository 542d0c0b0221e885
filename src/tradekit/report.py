"""A self-contained HTML backtest report: summary, equity curve (inline SVG) and fills.

No plotting library is needed and the file opens in any browser, including a cloud IDE's
preview pane.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from tradekit.models import Fill, Timeframe

__all__ = ["ReportData", "equity_svg", "render_html"]


class ReportData(Protocol):
    """What a report shows: plain figures, so the report does not depend on the backtest.

    :class:`tradekit.backtest.BacktestResult` is one; anything with these attributes is another.
    """

    @property
    def markets(self) -> list[str]: ...
    @property
    def timeframe(self) -> Timeframe: ...
    @property
    def fills(self) -> list[Fill]: ...
    @property
    def equity_times(self) -> Sequence[int]: ...
    @property
    def equity_values(self) -> Sequence[float]: ...
    @property
    def summary(self) -> dict[str, Any]: ...


_MAX_POINTS = 1500
_MAX_FILL_ROWS = 500


def _downsample(times: Sequence[int], values: Sequence[float]) -> list[tuple[int, float]]:
    n = len(values)
    if n <= _MAX_POINTS:
        return list(zip(times, values, strict=True))
    # Keep each bucket's low and high so drawdowns stay visible.
    buckets = _MAX_POINTS // 2
    points: list[tuple[int, float]] = []
    for k in range(buckets):
        start, end = k * n // buckets, (k + 1) * n // buckets
        lo = min(range(start, end), key=values.__getitem__)
        hi = max(range(start, end), key=values.__getitem__)
        for i in sorted({lo, hi}):
            points.append((times[i], values[i]))
    return points


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def equity_svg(times: Sequence[int], values: Sequence[float], width: int = 960) -> str:
    """An SVG line chart of equity over time."""
    height = 320
    left, right, top, bottom = 90, 20, 15, 35
    if not values:
        return "<p>No bars were processed.</p>"
    points = _downsample(times, values)
    t0, t1 = points[0][0], points[-1][0]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span_t = (t1 - t0) or 1
    span_v = (hi - lo) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: int, v: float) -> str:
        x = left + (t - t0) / span_t * plot_w
        y = top + (hi - v) / span_v * plot_h
        return f"{x:.1f},{y:.1f}"

    path = " ".join(xy(t, v) for t, v in points)
    labels = [
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">{lo:,.0f}</text>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{hi:,.0f}</text>',
        f'<text x="{left}" y="{height - 10}">{_day(t0)}</text>',
        f'<text x="{left + plot_w}" y="{height - 10}" text-anchor="end">{_day(t1)}</text>',
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="12">'
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
        'fill="#fafafa" stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{path}"/>'
        + "".join(labels)
        + "</svg>"
    )


_PERCENT = {"total_return", "max_drawdown", "win_rate", "exposure", "average_trade_return"}


def _fmt(key: str, value: Any) -> str:
    if key.endswith("_time_ms") and isinstance(value, int):
        return f"{datetime.fromtimestamp(value / 1000, UTC):%Y-%m-%d %H:%M} UTC"
    if key in _PERCENT and isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, list):
        return html.escape(", ".join(map(str, value)))
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.0f}"
    if value is None:
        return "-"
    return html.escape(str(value))


def render_html(result: ReportData) -> str:
    """The whole report as one HTML page."""
    summary = result.summary
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(k, v)}</td></tr>" for k, v in summary.items()
    )
    fills = result.fills[:_MAX_FILL_ROWS]
    fill_rows = "".join(
        f"<tr><td>{datetime.fromtimestamp(f.time_ms / 1000, UTC):%Y-%m-%d %H:%M}</td>"
        f"<td>{html.escape(f.market)}</td><td>{f.side.value}</td><td>{f.price:,.2f}</td>"
        f"<td>{f.quantity:.8f}</td><td>{f.fee:,.2f}</td><td>{html.escape(f.reason)}</td></tr>"
        for f in fills
    )
    more = (
        f"<p>First {_MAX_FILL_ROWS} of {len(result.fills)} fills; all are in fills.csv.</p>"
        if len(result.fills) > _MAX_FILL_ROWS
        else ""
    )
    title = f"tradekit backtest: {', '.join(result.markets)} {result.timeframe}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Equity</h2>
{equity_svg(result.equity_times, result.equity_values)}
<h2>Summary</h2>
<table>{rows}</table>
<h2>Fills</h2>
{more}
<table><tr><th>time (UTC)</th><th>market</th><th>side</th><th>price</th><th>quantity</th>
<th>fee</th><th>reason</th></tr>{fill_rows}</table>
</body></html>
"""
