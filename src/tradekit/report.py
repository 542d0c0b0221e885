"""The backtest report: one self-contained HTML page with hand-written SVG charts.

No charting library and no script: the page opens offline in any browser, and in preview
panes that block JavaScript. Hovering a trade marker shows its reason through SVG
``<title>``. The figures come from :mod:`tradekit.analytics`, computed over every bar; only
what is drawn is thinned (candles aggregated, lines reduced to each slice's low and high), so
a million bars still make a page of a few hundred kilobytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from tradekit.analytics import KST, Analysis, PriceSeries, RoundTrip, analyze, yearly_returns
from tradekit.engine.core import TradeRecord
from tradekit.models import Fill
from tradekit.summary_text import summary_rows

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["ReportData", "render_html"]

_WIDTH = 1160  # SVG user units; the charts scale to the page width
_LEFT, _RIGHT = 78, 150
_MAX_LINE_BUCKETS = 1200  # each keeps its low and high: at most 2,400 points per line
_MAX_CANDLES = 320
_MAX_MARKED_TRADES = 1000
_MAX_TRADE_ROWS = 2000
_HOUR = 3_600_000
_DAY = 24 * _HOUR

_Candle = tuple[int, float, float, float, float]  # open time, open, high, low, close

_GREEN, _RED, _BLUE, _GREY = "#1a7f37", "#cf222e", "#0969da", "#8c959f"


class ReportData(Protocol):
    """What the report reads (a :class:`~tradekit.backtest.BacktestResult` has it all)."""

    @property
    def markets(self) -> list[str]: ...
    @property
    def initial_equity(self) -> float: ...
    @property
    def final_equity(self) -> float: ...
    @property
    def fills(self) -> list[Fill]: ...
    @property
    def trades(self) -> list[TradeRecord]: ...
    @property
    def equity_times(self) -> Sequence[int]: ...
    @property
    def equity_values(self) -> Sequence[float]: ...
    @property
    def prices(self) -> dict[str, PriceSeries]: ...
    @property
    def parameters(self) -> dict[str, Any]: ...
    @property
    def summary(self) -> dict[str, Any]: ...


# -- formatting ---------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _kst(ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ms / 1000, KST).strftime(fmt)


def _utc(ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def _when(ms: int) -> str:
    """KST in the cell, UTC on hover."""
    return f'<span title="{_utc(ms)} UTC">{_kst(ms)}</span>'


class _Minutes:
    """``_kst``, ``_utc`` and ``_when`` of many times, written by pyarrow all at once: a
    ``strftime`` each took most of the time of the trades table and the trade markers."""

    def __init__(self, times: Iterable[int]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        unique = sorted(set(times))
        self._kst: dict[int, str] = {}
        self._utc: dict[int, str] = {}
        if not unique:
            return
        ms = pa.array(unique, pa.int64())
        for shift, texts in ((9 * _HOUR, self._kst), (0, self._utc)):
            shifted = pc.add(ms, shift) if shift else ms
            written = pc.cast(pc.cast(shifted, pa.timestamp("ms")), pa.string()).to_pylist()
            for t, text in zip(unique, written, strict=True):
                # "2020-09-13 21:00:00.000"; strftime writes years before 1000 unpadded.
                if len(text) == 23 and text[0] != "0":
                    texts[t] = text[:16]

    def kst(self, ms: int) -> str:
        return self._kst.get(ms) or _kst(ms)

    def utc(self, ms: int) -> str:
        return self._utc.get(ms) or _utc(ms)

    def when(self, ms: int) -> str:
        """KST in the cell, UTC on hover."""
        return f'<span title="{self.utc(ms)} UTC">{self.kst(ms)}</span>'


def _krw(value: float, sign: bool = False) -> str:
    text = f"{value:+,.0f}" if sign else f"{value:,.0f}"
    return text.replace("-", "−")


def _pct(value: float | None, digits: int = 2, sign: bool = True) -> str:
    if value is None:
        return "–"
    if abs(value) < 0.5 * 10 ** -(digits + 2):
        value = 0.0  # no "−0.0%"
    return (f"{value:+.{digits}%}" if sign else f"{value:.{digits}%}").replace("-", "−")


def _price(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def _compact(value: float) -> str:
    a = abs(value)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            return f"{value / size:,.4g}{suffix}".replace("-", "−")
    return f"{value:,.4g}".replace("-", "−")


def _duration(ms: int) -> str:
    if ms <= 0:
        return "same bar"
    if ms >= 2 * _DAY:
        return f"{ms / _DAY:.0f} days" if ms % _DAY == 0 else f"{ms / _DAY:.1f} days"
    if ms >= _DAY:
        return "1 day" if ms == _DAY else f"{ms / _HOUR:.0f} hours"
    if ms >= _HOUR:
        return f"{ms / _HOUR:.0f} h" if ms % _HOUR == 0 else f"{ms / _HOUR:.1f} h"
    return f"{ms / 60_000:.0f} min"


def _signed_class(value: float) -> str:
    return "pos" if value > 0 else "neg" if value < 0 else ""


# -- thinning what is drawn ---------------------------------------------------------------


def _envelope(
    n: int, values: Sequence[float], buckets: int = _MAX_LINE_BUCKETS, highs: bool = True
) -> list[int]:
    """Indices to draw: every point, or each slice's low and high (in time order) plus the
    last point, so peaks and drawdowns stay visible; ``highs=False`` keeps only the lows."""
    if n <= 2 * buckets:
        return list(range(n))
    import numpy as np

    from tradekit.numpy_columns import float_column

    column = float_column(values)[:n]
    bounds = np.arange(buckets + 1, dtype=np.int64) * n // buckets
    lows = _first_extremes(np.minimum, column, bounds)
    if not highs:
        picked = lows
    else:
        his = _first_extremes(np.maximum, column, bounds)
        # Each slice's low and high in time order; one point when they are the same.
        pairs = np.stack([np.minimum(lows, his), np.maximum(lows, his)], axis=1).ravel()
        keep = np.ones(len(pairs), dtype=bool)
        keep[1::2] = lows != his
        picked = pairs[keep]
    out: list[int] = picked.tolist()
    if out[-1] != n - 1:
        out.append(n - 1)
    return out


def _first_extremes(
    extreme: np.ufunc, column: NDArray[np.float64], bounds: NDArray[np.int64]
) -> NDArray[np.intp]:
    """The index of the first lowest (``np.minimum``) or highest (``np.maximum``) value of
    each slice ``bounds[k]:bounds[k + 1]`` (none of them empty)."""
    import numpy as np

    starts = bounds[:-1]
    best = extreme.reduceat(column, starts)
    hits = np.flatnonzero(column == np.repeat(best, np.diff(bounds)))
    slice_of = np.searchsorted(bounds, hits, side="right") - 1
    _, first = np.unique(slice_of, return_index=True)  # hits are in order: the first of each
    return hits[first]


def _candles(series: PriceSeries, timeframe_ms: int) -> tuple[list[_Candle], int]:
    """OHLC candles of at most ``_MAX_CANDLES`` by time (aligned to KST days from a day up)
    and the length of one candle in ms."""
    times = series.times
    n = len(times)
    span = times[-1] - times[0] + timeframe_ms
    steps = [timeframe_ms * k for k in (1, 2, 3, 4, 6, 8, 12)]
    steps += [_DAY * k for k in (1, 2, 3, 7, 14, 30, 60, 91, 182, 365, 730, 1825)]
    width = next((s for s in steps if s >= timeframe_ms and span / s <= _MAX_CANDLES), steps[-1])
    if width == timeframe_ms:
        return [
            (times[i], series.open[i], series.high[i], series.low[i], series.close[i])
            for i in range(n)
        ], width
    import numpy as np

    from tradekit.numpy_columns import float_column, int_column

    offset = 9 * _HOUR  # buckets of a day or more start at midnight KST
    # A candle holds the bars of one slot of ``width`` on that grid; slots without bars
    # are skipped (the times are sorted, so each slot's bars are consecutive).
    slot = (int_column(times) + offset) // width
    starts = np.flatnonzero(np.diff(slot, prepend=slot[0] - 1))
    ends = np.append(starts[1:], n)
    return list(
        zip(
            int_column(times)[starts].tolist(),
            float_column(series.open)[starts].tolist(),
            np.maximum.reduceat(float_column(series.high), starts).tolist(),
            np.minimum.reduceat(float_column(series.low), starts).tolist(),
            float_column(series.close)[ends - 1].tolist(),
            strict=True,
        )
    ), width


# -- axes -----------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


class _Plot:
    """A chart area: time on x, one value scale on y."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float, height: int, top: int = 14):
        if hi <= lo:
            hi, lo = hi + 1, lo - 1
        pad = (hi - lo) * 0.04
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        self.lo, self.hi = lo - pad, hi + pad
        self.top, self.height = top, height
        self.plot_h = height - top - 26
        self.plot_w = _WIDTH - _LEFT - _RIGHT

    def x(self, t: float) -> float:
        return _LEFT + (t - self.t0) / (self.t1 - self.t0) * self.plot_w

    def y(self, v: float) -> float:
        return self.top + (self.hi - v) / (self.hi - self.lo) * self.plot_h

    def path(self, points: Iterable[tuple[float, float]]) -> str:
        return "M" + "L".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in points)

    def frame(self, fmt_y: Any, zero: float | None = None) -> str:
        parts = [
            f'<rect x="{_LEFT}" y="{self.top}" width="{self.plot_w}" height="{self.plot_h}" '
            'class="frame"/>'
        ]
        step = _nice_step(self.hi - self.lo)
        v = math.ceil(self.lo / step) * step
        while v <= self.hi:
            y = self.y(v)
            parts.append(
                f'<line x1="{_LEFT}" x2="{_LEFT + self.plot_w}" y1="{y:.1f}" '
                f'y2="{y:.1f}" class="grid"/>'
            )
            parts.append(
                f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_y(v)}</text>'
            )
            v += step
        if zero is not None and self.lo < zero < self.hi:
            y = self.y(zero)
            parts.append(
                f'<line x1="{_LEFT}" x2="{_LEFT + self.plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                'class="zero"/>'
            )
        for t, label in _time_ticks(self.t0, self.t1):
            x = self.x(t)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" '
                f'y2="{self.top + self.plot_h}" class="grid"/>'
                f'<text x="{x:.1f}" y="{self.height - 8}" text-anchor="middle">{label}</text>'
            )
        return "".join(parts)

    def svg(self, body: str, label: str) -> str:
        return (
            f'<svg viewBox="0 0 {_WIDTH} {self.height}" role="img" aria-label="{_esc(label)}">'
            f"{body}</svg>"
        )


def _time_ticks(t0: int, t1: int) -> list[tuple[int, str]]:
    """Calendar ticks in KST: years, quarters, months, weeks, days or hours."""
    span = t1 - t0
    first = datetime.fromtimestamp(t0 / 1000, KST)
    last = datetime.fromtimestamp(t1 / 1000, KST)
    for months in (12, 6, 3, 1):
        if span / (months * 30.4 * _DAY) <= 9 and span >= 2 * months * 30 * _DAY:
            ticks: list[tuple[int, str]] = []
            y, m = first.year, first.month
            while True:
                m += 1
                if m > 12:
                    y, m = y + 1, 1
                if (m - 1) % months:
                    continue
                when = datetime(y, m, 1, tzinfo=KST)
                if when > last:
                    return ticks
                label = str(y) if m == 1 else when.strftime("%Y-%m")
                ticks.append((int(when.timestamp() * 1000), label))
    for step, fmt in (
        (7 * _DAY, "%m-%d"),
        (_DAY, "%m-%d"),
        (6 * _HOUR, "%m-%d %H:%M"),
        (_HOUR, "%H:%M"),
        (15 * 60_000, "%H:%M"),
        (60_000, "%H:%M"),
    ):
        if span / step <= 9 or step == 60_000:
            offset = 9 * _HOUR
            t = (t0 + offset) // step * step - offset + step
            ticks = []
            while t <= t1 and len(ticks) < 12:
                ticks.append((t, _kst(t, fmt)))
                t += step
            return ticks
    return []


# -- charts -------------------------------------------------------------------------------


def _price_chart(
    series: PriceSeries, trips: Sequence[RoundTrip], timeframe_ms: int, t0: int, t1: int
) -> tuple[str, str]:
    """Candles and trades of one market on the time axis ``t0``..``t1`` all markets share."""
    candles, width = _candles(series, timeframe_ms)
    lo = min(c[3] for c in candles)
    hi = max(c[2] for c in candles)
    plot = _Plot(t0, t1, lo, hi, 380)
    body = [plot.frame(_compact)]
    w = max(plot.x(series.times[0] + width) - plot.x(series.times[0]), 0.6)
    body_w = max(w * 0.7, 0.6)
    for t, o, h, low, c in candles:
        x = plot.x(t) + w / 2
        cls = "up" if c >= o else "down"
        y_top, y_bottom = plot.y(max(o, c)), plot.y(min(o, c))
        body.append(
            f'<path class="{cls}" d="M{x:.1f},{plot.y(h):.1f}V{plot.y(low):.1f}'
            f"M{x - body_w / 2:.1f},{y_top:.1f}h{body_w:.1f}V{max(y_bottom, y_top + 0.6):.1f}"
            f'h{-body_w:.1f}Z"/>'
        )
    shown = list(trips)
    if len(shown) > _MAX_MARKED_TRADES:
        shown = sorted(shown, key=lambda r: abs(r.pnl), reverse=True)[:_MAX_MARKED_TRADES]
    minutes = _Minutes(t for r in shown for t in (r.entry_ms, r.exit_ms))
    for r in shown:
        tip = _esc(_trip_tip(r, minutes))
        xe, ye = plot.x(r.entry_ms) + w / 2, plot.y(r.entry_price)
        xx, yx = plot.x(r.exit_ms) + w / 2, plot.y(r.exit_price)
        color = _GREEN if r.pnl > 0 else _RED
        body.append(
            f'<g class="trade"><title>{tip}</title>'
            f'<line x1="{xe:.1f}" y1="{ye:.1f}" x2="{xx:.1f}" y2="{yx:.1f}" stroke="{color}"/>'
            f'<path class="entry" d="M{xe:.1f},{ye + 2:.1f}l-4.5,8h9Z"/>'
            f'<path d="M{xx:.1f},{yx - 2:.1f}l-4.5,-8h9Z" fill="{color}"/></g>'
        )
    caption = f"Each candle is {_duration(width)}, times in KST. "
    caption += "▲ entry, ▼ exit (green: the trade made money, red: it lost); hover for details."
    if len(trips) > len(shown):
        caption += f" The {len(shown):,} largest of {len(trips):,} trades are marked."
    return plot.svg("".join(body), f"{series.market} price with trades"), caption


def _trip_tip(r: RoundTrip, minutes: _Minutes) -> str:
    return (
        f"{r.market} {r.exit_reason}: P&L {_krw(r.pnl, True)} KRW ({_pct(r.return_)}), "
        f"fees {_krw(r.fees)} KRW\n"
        f"bought {r.quantity:.8g} at {_price(r.entry_price)} on {minutes.kst(r.entry_ms)} KST\n"
        f"sold at {_price(r.exit_price)} on {minutes.kst(r.exit_ms)} KST "
        f"({minutes.utc(r.exit_ms)} UTC)"
    )


def _line_points(
    times: Sequence[int], values: Sequence[float], scale: float, highs: bool = True
) -> list[tuple[float, float]]:
    idx = _envelope(len(values), values, highs=highs)
    return [(times[i], values[i] * scale) for i in idx]


def _end_label(plot: _Plot, t: int, v: float, text: str, color: str, dy: float = 0) -> str:
    return (
        f'<text x="{plot.x(t) + 6:.1f}" y="{plot.y(v) + 4 + dy:.1f}" fill="{color}" '
        f'class="end">{_esc(text)}</text>'
    )


def _equity_chart(result: ReportData, a: Analysis) -> str:
    times, values = result.equity_times, result.equity_values
    strategy = [(t, v / a.initial - 1) for t, v in _line_points(times, values, 1.0)]
    bench = []
    if a.benchmark is not None:
        bench = [
            (t, v / a.initial - 1)
            for t, v in _line_points(a.benchmark_times, a.benchmark_values, a.benchmark_scale)
        ]
    everything = [v for _, v in strategy] + [v for _, v in bench]
    t0 = min(times[0], a.benchmark_times[0]) if bench else times[0]
    t1 = max(times[-1], a.benchmark_times[-1]) if bench else times[-1]
    plot = _Plot(t0, t1, min(min(everything), 0.0), max(max(everything), 0.0), 340)
    body = [plot.frame(lambda v: _pct(v, 0), zero=0.0)]
    end_s = a.final / a.initial - 1
    labels = []
    if bench:
        end_b = a.benchmark.total_return if a.benchmark else 0.0
        body.append(f'<path d="{plot.path(bench)}" class="line" stroke="{_GREY}"/>')
        labels.append((plot.y(end_b), f"{_pct(end_b, 1)} B&H", "#57606a", end_b))
    body.append(f'<path d="{plot.path(strategy)}" class="line thick" stroke="{_BLUE}"/>')
    labels.append((plot.y(end_s), f"{_pct(end_s, 2)} strategy", _BLUE, end_s))
    if len(labels) == 2 and abs(labels[0][0] - labels[1][0]) < 14:
        # Keep both end labels readable when the lines end close together.
        upper, lower = sorted(labels, key=lambda item: item[0])
        labels = [upper, (upper[0] + 14, *lower[1:])] if upper[0] + 14 > lower[0] else labels
    for y, text, color, _value in labels:
        body.append(
            f'<text x="{plot.x(t1) + 6:.1f}" y="{y + 4:.1f}" fill="{color}" class="end">'
            f"{_esc(text)}</text>"
        )
    return plot.svg("".join(body), "equity against buy-and-hold")


def _drawdown_chart(result: ReportData, a: Analysis) -> str:
    times = result.equity_times
    dd = a.drawdown.drawdown
    strategy = _line_points(times, dd, 1.0, highs=False)
    bench: list[tuple[float, float]] = []
    if a.benchmark_drawdown is not None:
        bench = _line_points(a.benchmark_times, a.benchmark_drawdown.drawdown, 1.0, highs=False)
    lowest = min([v for _, v in strategy] + [v for _, v in bench] + [-0.01])
    t0 = min(times[0], a.benchmark_times[0]) if bench else times[0]
    t1 = max(times[-1], a.benchmark_times[-1]) if bench else times[-1]
    plot = _Plot(t0, t1, lowest, 0.0, 240)
    body = [plot.frame(lambda v: _pct(v, 0, sign=False), zero=0.0)]
    if bench:
        body.append(f'<path d="{plot.path(bench)}" class="line" stroke="{_GREY}"/>')
        if a.benchmark_drawdown and a.benchmark_drawdown.periods:
            worst = a.benchmark_drawdown.periods[0].depth
            body.append(_end_label(plot, t1, -worst, f"{_pct(-worst, 1, False)} B&H", "#57606a"))
    area = plot.path(strategy) + f"L{plot.x(strategy[-1][0]):.1f},{plot.y(0):.1f}"
    area += f"L{plot.x(strategy[0][0]):.1f},{plot.y(0):.1f}Z"
    body.append(f'<path d="{area}" class="under"/>')
    body.append(
        _end_label(plot, t1, -a.max_drawdown, f"{_pct(-a.max_drawdown, 2, False)} strategy", _RED)
    )
    return plot.svg("".join(body), "drawdown")


def _fees_chart(a: Analysis) -> str:
    rows = [
        ("Before fees", a.profit_before_fees),
        ("Fees", -a.fees),
        ("Net P&L", a.net_profit),
    ]
    biggest = max(abs(v) for _, v in rows) or 1.0
    height, bar_h, half = 3 * 34 + 10, 22, 260
    label_x, value_x = 100, 250  # labels and amounts in columns left of the bars
    mid = value_x + 20 + half
    parts = []
    for k, (label, value) in enumerate(rows):
        y = 8 + k * 34
        w = abs(value) / biggest * half
        x = mid if value >= 0 else mid - w
        color = _GREEN if value > 0 else _RED
        parts.append(
            f'<text x="{label_x}" y="{y + 16}" text-anchor="end" class="label">{label}</text>'
            f'<text x="{value_x}" y="{y + 16}" text-anchor="end" class="value">'
            f"{_krw(value, True)} KRW</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{color}"/>'
        )
    parts.append(f'<line x1="{mid}" x2="{mid}" y1="2" y2="{height - 2}" class="zero"/>')
    total_w = mid + half + 10
    return (
        f'<svg viewBox="0 0 {total_w} {height}" class="fees" role="img" '
        f'aria-label="fees against profit">{"".join(parts)}</svg>'
    )


# -- tables ---------------------------------------------------------------------------------


def _monthly_table(a: Analysis) -> str:
    if not a.monthly:
        return "<p>No bars.</p>"
    years = sorted({y for y, _ in a.monthly})
    yearly = yearly_returns(a.monthly)
    b_yearly = yearly_returns(a.benchmark_monthly) if a.benchmark_monthly else {}
    head = "".join(f"<th>{datetime(2000, m, 1):%b}</th>" for m in range(1, 13))
    rows = []
    for year in years:
        cells = []
        for month in range(1, 13):
            r = a.monthly.get((year, month))
            if r is None:
                cells.append("<td></td>")
                continue
            shade = min(abs(r) / 0.05, 1.0) * 0.55 + 0.08
            color = f"rgba(26,127,55,{shade:.2f})" if r > 0 else f"rgba(207,34,46,{shade:.2f})"
            if r == 0:
                color = "transparent"
            b = a.benchmark_monthly.get((year, month))
            tip = f"B&H {_pct(b, 1)}" if b is not None else ""
            cells.append(f'<td style="background:{color}" title="{tip}">{_pct(r, 1)}</td>')
        y = yearly[year]
        b = b_yearly.get(year)
        rows.append(
            f"<tr><th>{year}</th>{''.join(cells)}"
            f'<td class="total {_signed_class(y)}">{_pct(y, 1)}</td>'
            f'<td class="bench">{_pct(b, 1)}</td></tr>'
        )
    return (
        '<table class="months"><tr><th></th>'
        f"{head}<th>Year</th><th>B&amp;H</th></tr>{''.join(rows)}</table>"
    )


def _drawdown_table(a: Analysis) -> str:
    if not a.drawdown.periods:
        return "<p>Equity never fell below a previous peak.</p>"
    rows = []
    for p in a.drawdown.periods:
        end = p.recovered_ms
        rows.append(
            f"<tr><td>{_pct(-p.depth, 2, False)}</td><td>{_when(p.peak_ms)}</td>"
            f"<td>{_when(p.trough_ms)}</td>"
            f"<td>{_when(end) if end is not None else 'not recovered'}</td>"
            f"<td>{_duration((end if end is not None else p.trough_ms) - p.peak_ms)}</td></tr>"
        )
    return (
        "<table><tr><th>Depth</th><th>Peak (KST)</th><th>Lowest (KST)</th>"
        f"<th>Recovered (KST)</th><th>Length</th></tr>{''.join(rows)}</table>"
    )


def _trades_table(trips: Sequence[RoundTrip]) -> str:
    if not trips:
        return "<p>No round trips: the strategy never entered.</p>"
    shown = trips[:_MAX_TRADE_ROWS]
    when = _Minutes(t for r in shown for t in (r.entry_ms, r.exit_ms)).when
    rows = []
    for k, r in enumerate(shown, 1):
        rows.append(
            f"<tr><td>{k}</td><td>{_esc(r.market)}</td><td>{when(r.entry_ms)}</td>"
            f"<td>{when(r.exit_ms)}</td><td>{_duration(r.exit_ms - r.entry_ms)}</td>"
            f"<td>{_price(r.entry_price)}</td><td>{_price(r.exit_price)}</td>"
            f'<td>{r.quantity:.8g}</td><td class="reason">{_esc(r.exit_reason)}</td>'
            f'<td class="{_signed_class(r.pnl)}">{_krw(r.pnl, True)}</td>'
            f'<td class="{_signed_class(r.pnl)}">{_pct(r.return_)}</td>'
            f"<td>{_krw(r.fees)}</td></tr>"
        )
    more = ""
    if len(trips) > len(shown):
        more = (
            f"<p>The first {len(shown):,} of {len(trips):,} round trips; every fill is in "
            "fills.csv.</p>"
        )
    return (
        f'{more}<table class="trades"><tr><th>#</th><th>Market</th><th>Entry (KST)</th>'
        "<th>Exit (KST)</th><th>Held</th><th>Entry price</th><th>Exit price</th>"
        "<th>Quantity</th><th>Exit reason</th><th>P&amp;L (KRW)</th><th>Return</th>"
        f"<th>Fees (KRW)</th></tr>{''.join(rows)}</table>"
    )


def _reasons_table(trips: Sequence[RoundTrip]) -> str:
    by: dict[str, list[RoundTrip]] = {}
    for r in trips:
        by.setdefault(r.exit_reason, []).append(r)
    rows = []
    for reason, group in sorted(by.items(), key=lambda kv: -len(kv[1])):
        pnl = sum(r.pnl for r in group)
        rows.append(
            f'<tr><td class="reason">{_esc(reason)}</td><td>{len(group):,}</td>'
            f'<td class="{_signed_class(pnl)}">{_krw(pnl, True)}</td>'
            f"<td>{_krw(sum(r.fees for r in group))}</td></tr>"
        )
    return (
        "<table><tr><th>Exit reason</th><th>Trades</th><th>P&amp;L (KRW)</th>"
        f"<th>Fees (KRW)</th></tr>{''.join(rows)}</table>"
    )


def _parameters_table(parameters: Mapping[str, Any]) -> str:
    rows = []

    def block(value: Any) -> str:
        if isinstance(value, dict):
            use = value.get("use")
            items = [f"{_esc(k)}: {block(v)}" for k, v in value.items() if k != "use"]
            return (f"<b>{_esc(use)}</b> " if use else "") + ", ".join(items)
        if isinstance(value, list):
            return "<br>".join(block(v) for v in value)
        return f"<b>{_esc(value)}</b>"

    for key, value in parameters.items():
        rows.append(f'<tr><th>{_esc(key)}</th><td class="params">{block(value)}</td></tr>')
    return f"<table>{''.join(rows)}</table>" if rows else "<p>Not recorded.</p>"


def _summary_table(summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_esc(label)}</th><td>{_esc(text)}</td></tr>"
        for label, text in summary_rows(summary)
        if label not in ("First bar", "Last bar")  # the data table has them, KST and UTC
    )
    return f"<table>{rows}</table>"


# -- the page -------------------------------------------------------------------------------


def _headline(result: ReportData, a: Analysis) -> tuple[str, str]:
    """The verdict in words and the figure cards."""
    ret = a.final / a.initial - 1
    names = ", ".join(result.markets)
    sentences = [
        f"The strategy {'made' if ret > 0 else 'lost'} <b>{_pct(abs(ret), sign=False)}</b> "
        f"({_krw(a.net_profit, True)} KRW)"
    ]
    if a.benchmark is not None:
        b = a.benchmark.total_return
        verdict = "beating" if ret > b else "behind"
        sentences[0] += (
            f", while buying and holding {_esc(names)} {'gained' if b >= 0 else 'lost'} "
            f"<b>{_pct(abs(b), 1, sign=False)}</b> over the same bars: {verdict} the market by "
            f"{abs(ret - b) * 100:,.1f} percentage points."
        )
    else:
        sentences[0] += "."
    if a.fees > 0:
        if a.net_profit < 0 < a.profit_before_fees:
            sentences.append(
                f"Fees (<b>{_krw(a.fees)} KRW</b>) were larger than the net loss: before "
                f"fees the trades made {_krw(a.profit_before_fees, True)} KRW."
            )
        elif a.profit_before_fees > 0:
            sentences.append(
                f"Fees took <b>{_krw(a.fees)} KRW</b>, "
                f"{a.fees / a.profit_before_fees:.0%} of the profit before fees."
            )
        else:
            sentences.append(
                f"The trades lost {_krw(-a.profit_before_fees)} KRW before fees, and fees "
                f"added <b>{_krw(a.fees)} KRW</b> to the loss."
            )
    bench_dd = (
        a.benchmark_drawdown.periods[0].depth
        if a.benchmark_drawdown and a.benchmark_drawdown.periods
        else None
    )
    trips = a.trips
    wins = sum(1 for r in trips if r.pnl > 0)
    cards = [
        ("Strategy return", _pct(ret), _signed_class(ret), f"{_krw(a.net_profit, True)} KRW"),
        (
            "Buy & hold",
            _pct(a.benchmark.total_return, 1) if a.benchmark else "–",
            _signed_class(a.benchmark.total_return) if a.benchmark else "",
            names,
        ),
        (
            "Max drawdown",
            _pct(-a.max_drawdown, 2, False),
            "neg" if a.max_drawdown else "",
            f"buy & hold {_pct(-bench_dd, 1, False)}" if bench_dd is not None else "",
        ),
        (
            "Fees paid",
            f"{_krw(a.fees)} KRW",
            "neg" if a.fees > abs(a.net_profit) and a.net_profit < 0 else "",
            f"{a.fees / a.initial:.2%} of the starting cash",
        ),
        (
            "Round trips",
            f"{len(trips):,}",
            "",
            f"win rate {_pct(wins / len(trips), 1, False)}" if trips else "no trades",
        ),
    ]
    cards_html = "".join(
        f'<div class="card"><div class="k">{k}</div><div class="v {cls}">{v}</div>'
        f'<div class="s">{_esc(s)}</div></div>'
        for k, v, cls, s in cards
    )
    return " ".join(sentences), cards_html


def _data_range(result: ReportData, summary: Mapping[str, Any], timeframe: str) -> str:
    start, end = summary.get("start_time_ms"), summary.get("end_time_ms")
    if start is None or end is None:
        return "<p>No bars were processed.</p>"
    rows = [
        ("Markets", _esc(", ".join(result.markets))),
        ("Timeframe", _esc(timeframe)),
        ("First bar", f"{_kst(start)} KST = {_utc(start)} UTC"),
        ("Last bar", f"{_kst(end)} KST = {_utc(end)} UTC"),
        ("Bars", f"{summary.get('bars', 0):,}"),
    ]
    for market, series in result.prices.items():
        if len(series):
            rows.append(
                (
                    f"{_esc(market)} price",
                    f"first open {_price(series.open[0])}, last close "
                    f"{_price(series.close[-1])}, low {_price(_lowest(series.low))}, "
                    f"high {_price(_highest(series.high))} KRW",
                )
            )
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _lowest(values: Sequence[float]) -> float:
    from tradekit.numpy_columns import float_column

    return float(float_column(values).min())


def _highest(values: Sequence[float]) -> float:
    from tradekit.numpy_columns import float_column

    return float(float_column(values).max())


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans KR", sans-serif;
  margin: 0; color: #1f2328; background: #f6f8fa; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 40px; }
h1 { font-size: 24px; margin: 6px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub { color: #57606a; margin: 0 0 14px; }
.verdict { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px;
  padding: 10px 14px; font-size: 15px; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; }
.card .k { color: #57606a; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .v { font-size: 24px; font-weight: 600; } .card .s { color: #57606a; font-size: 12px; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 16px 12px;
  margin-top: 14px; }
svg { width: 100%; height: auto; display: block; font-size: 12px; fill: #57606a; }
svg.fees { max-width: 820px; font-size: 13px; }
svg .label { fill: #1f2328; font-weight: 600; } svg .value { fill: #1f2328; }
svg .end { font-weight: 600; font-size: 12px; }
.frame { fill: #fff; stroke: #d0d7de; } .grid { stroke: #eaeef2; } .zero { stroke: #8c959f; }
.line { fill: none; stroke-width: 1.4; } .thick { stroke-width: 2; }
.under { fill: rgba(207,34,46,.35); stroke: #cf222e; stroke-width: 1; }
.up { fill: #1a7f37; stroke: #1a7f37; } .down { fill: #cf222e; stroke: #cf222e; }
.trade line { stroke-width: 1; stroke-dasharray: 2 2; opacity: .7; }
.trade .entry { fill: #0969da; } .trade:hover { opacity: 1; stroke: #000; }
.caption { color: #57606a; font-size: 12px; margin: 4px 0 0; }
.legend span { margin-right: 14px; } .sw { display: inline-block; width: 14px; height: 3px;
  vertical-align: middle; margin-right: 4px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #eaeef2; padding: 3px 10px; text-align: right; }
th { text-align: left; color: #57606a; font-weight: 600; }
td.params, td.reason { text-align: left; }
.pos { color: #1a7f37; } .neg { color: #cf222e; }
.months td { min-width: 52px; } .months .total { font-weight: 600; }
.months .bench { color: #57606a; }
.trades { font-size: 13px; } .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
"""


def render_html(result: ReportData, summary: Mapping[str, Any] | None = None) -> str:
    """The whole report as one HTML page (``summary``: ``result.summary`` if already
    computed)."""
    summary = result.summary if summary is None else summary
    timeframe = str(summary.get("timeframe", ""))
    a = analyze(
        initial=result.initial_equity,
        final=result.final_equity,
        equity_times=result.equity_times,
        equity_values=result.equity_values,
        fills=result.fills,
        trades=result.trades,
        prices=result.prices,
    )
    strategy = result.parameters.get("strategy", {})
    name = strategy.get("use", "") if isinstance(strategy, dict) else ""
    title = f"{', '.join(result.markets)} · {timeframe}" + (f" · {name}" if name else "")
    if not len(result.equity_values):
        body = "<p>No bars were processed.</p>"
    else:
        body = _body(result, a, summary, timeframe)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tradekit backtest: {_esc(title)}</title><style>{_CSS}</style></head><body><main>
<h1>Backtest: {_esc(title)}</h1>
{body}
</main></body></html>
"""


def _body(result: ReportData, a: Analysis, summary: Mapping[str, Any], timeframe: str) -> str:
    start, end = summary["start_time_ms"], summary["end_time_ms"]
    verdict, cards = _headline(result, a)
    tf_ms = _timeframe_ms(timeframe, result)
    prices = []
    drawn = {m: s for m, s in result.prices.items() if len(s)}
    t0 = min((s.times[0] for s in drawn.values()), default=0)
    t1 = max((s.times[-1] for s in drawn.values()), default=0) + tf_ms
    for market, series in drawn.items():
        trips = [r for r in a.trips if r.market == market]
        svg, caption = _price_chart(series, trips, tf_ms, t0, t1)
        prices.append(
            f"<section><h2>{_esc(market)} price and trades</h2>{svg}"
            f'<p class="caption">{caption}</p></section>'
        )
    legend = (
        f'<p class="caption legend"><span><i class="sw" style="background:{_BLUE}"></i>strategy'
        f'</span><span><i class="sw" style="background:{_GREY}"></i>buy &amp; hold of '
        f"{_esc(', '.join(result.markets))} (same cash, bought at the first open, no fees)"
        "</span></p>"
    )
    return f"""<p class="sub">{_kst(start)} – {_kst(end)} KST ({_utc(start)} – {_utc(end)} UTC) ·
{summary.get("bars", 0):,} bars · starting cash {_krw(a.initial)} KRW</p>
<div class="verdict">{verdict}</div>
<div class="cards">{cards}</div>
{"".join(prices)}
<section><h2>Equity against buy-and-hold (return on the starting cash)</h2>
{_equity_chart(result, a)}{legend}</section>
<section><h2>Drawdown (below the previous peak)</h2>{_drawdown_chart(result, a)}
<p class="caption">Red area: the strategy; grey line: buy &amp; hold.</p></section>
<section><h2>Fees against profit</h2>{_fees_chart(a)}
<p class="caption">Before fees = net P&amp;L + fees: what the same fills would have made
without fees.</p>{_reasons_table(a.trips)}</section>
<section><h2>Monthly returns (KST months)</h2>{_monthly_table(a)}
<p class="caption">Hover a month for buy &amp; hold's return in it.</p></section>
<div class="cols">
<section><h2>Figures</h2>{_summary_table(summary)}</section>
<section><h2>Deepest drawdowns</h2>{_drawdown_table(a)}</section>
</div>
<div class="cols">
<section><h2>Data</h2>{_data_range(result, summary, timeframe)}</section>
<section><h2>Parameters</h2>{_parameters_table(result.parameters)}</section>
</div>
<section><h2>Round trips</h2>{_trades_table(a.trips)}</section>
"""


def _timeframe_ms(timeframe: str, result: ReportData) -> int:
    from tradekit.models import Timeframe

    if Timeframe.is_valid(timeframe):
        return Timeframe(timeframe).milliseconds
    times = result.equity_times
    return times[1] - times[0] if len(times) > 1 else _HOUR
