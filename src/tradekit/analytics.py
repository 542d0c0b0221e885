"""Figures a backtest report shows, computed from plain data (no HTML here).

Everything is computed on every bar; only :mod:`tradekit.report` thins what it draws. Months
are calendar months in Korea (KST, UTC+9, no daylight saving), as the trading days of the
daily loss limit are.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import attrs

from tradekit.engine.core import TradeRecord
from tradekit.models import Bar, Fill, Side

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "KST",
    "Analysis",
    "Benchmark",
    "DrawdownPeriod",
    "PriceSeries",
    "RoundTrip",
    "Underwater",
    "analyze",
    "benchmark",
    "benchmark_curve",
    "monthly_returns",
    "round_trips",
    "underwater",
    "yearly_returns",
]

#: Korea Standard Time: UTC+9 all year.
KST = timezone(timedelta(hours=9), "KST")


@attrs.frozen
class PriceSeries:
    """One market's bars as columns (open time in UTC ms), filled while a backtest reads them."""

    market: str
    times: array[int] = attrs.field(factory=lambda: array("q"))
    open: array[float] = attrs.field(factory=lambda: array("d"))
    high: array[float] = attrs.field(factory=lambda: array("d"))
    low: array[float] = attrs.field(factory=lambda: array("d"))
    close: array[float] = attrs.field(factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.times)

    def recording(self, bars: Iterable[Bar]) -> Iterator[Bar]:
        """Pass ``bars`` through, appending each to the columns."""
        t, o, h, lo, c = (
            self.times.append,
            self.open.append,
            self.high.append,
            self.low.append,
            self.close.append,
        )
        for bar in bars:
            t(bar.time_ms)
            o(bar.open)
            h(bar.high)
            lo(bar.low)
            c(bar.close)
            yield bar

    @classmethod
    def of(cls, market: str, bars: Iterable[Bar]) -> PriceSeries:
        """The columns of ``bars`` (already in time order)."""
        series = cls(market)
        for _ in series.recording(bars):
            pass
        return series

    def close_at(self, time_ms: int) -> float | None:
        """The close of the last bar opened at or before ``time_ms`` (None before the first)."""
        i = bisect.bisect_right(self.times, time_ms)
        return self.close[i - 1] if i else None


@attrs.frozen
class Benchmark:
    """Buy-and-hold of the same markets: the starting cash split equally, bought at each
    market's first open and held to its last close, without fees."""

    initial: float
    units: dict[str, float]
    final: float

    @property
    def total_return(self) -> float:
        """Final value over the starting cash, minus one."""
        return self.final / self.initial - 1


def benchmark(prices: Mapping[str, PriceSeries], initial: float) -> Benchmark | None:
    """Buy-and-hold of ``prices``; None when there are no prices or a market has no bars."""
    if not prices or any(len(s) == 0 for s in prices.values()):
        return None
    share = initial / len(prices)
    units = {m: share / s.open[0] for m, s in prices.items()}
    final = sum(units[m] * s.close[-1] for m, s in prices.items())
    return Benchmark(initial, units, final)


def benchmark_curve(
    prices: Mapping[str, PriceSeries], bench: Benchmark
) -> tuple[array[int], array[float]]:
    """The buy-and-hold value after every bar (times and values, in time order across
    markets; a market not started yet counts as its cash)."""
    import numpy as np

    from tradekit.numpy_columns import float_column, int_column

    if len(prices) == 1:
        ((market, series),) = prices.items()
        return series.times, _float_array(float_column(series.close) * bench.units[market])
    share = bench.initial / len(prices)
    times, ranks, changes = [], [], []
    for i, series in enumerate(prices.values()):
        value = float_column(series.close) * bench.units[series.market]
        times.append(int_column(series.times))
        ranks.append(np.full(len(value), i))
        changes.append(np.diff(value, prepend=share))  # against the market's value before
    # In time order, ties in market order, each market's bars in their own order (stable).
    order = np.lexsort((np.concatenate(ranks), np.concatenate(times)))
    steps = np.concatenate([[bench.initial], np.concatenate(changes)[order]])
    # A cumulative sum adds one change after another, as the running total always did.
    return _int_array(np.concatenate(times)[order]), _float_array(np.cumsum(steps)[1:])


def _float_array(values: NDArray[np.float64]) -> array[float]:
    import numpy as np

    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).data.cast("B"))
    return out


def _int_array(values: NDArray[np.int64]) -> array[int]:
    import numpy as np

    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).data.cast("B"))
    return out


@attrs.frozen
class DrawdownPeriod:
    """A fall from a peak and the way back; ``recovered_ms`` is None if it never got back."""

    peak_ms: int
    trough_ms: int
    recovered_ms: int | None
    depth: float  # fraction of the peak, positive


@attrs.frozen
class Underwater:
    """The drawdown at every equity point (fractions, <= 0) and the deepest periods."""

    drawdown: array[float]
    periods: list[DrawdownPeriod]


def underwater(
    times: Sequence[int], values: Sequence[float], start: float, top: int = 5
) -> Underwater:
    """Drawdown after every point and the ``top`` deepest peak-to-recovery periods."""
    import numpy as np

    from tradekit.numpy_columns import float_column

    value = float_column(values)
    n = len(value)
    peak = np.maximum.accumulate(value)
    np.maximum(peak, start, out=peak)  # before the first point the peak is the starting value
    dd = value / peak
    dd -= 1.0  # exactly 0.0 at a peak
    # Periods: the runs of points below the peak. Each starts after a peak (or at the first
    # point) and ends at the next point back at a peak (or is not over).
    below = np.zeros(n + 2, dtype=np.int8)
    below[1:-1] = dd < 0.0
    edges = np.diff(below)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    periods: list[DrawdownPeriod] = []
    if len(starts):
        # Each run's low: the points at a peak between runs are 0 and do not lower it.
        lows = np.minimum.reduceat(dd, starts)
        # The deepest first, equally deep ones in time order (a stable sort, as before).
        if len(lows) > top > 0:
            cut = np.partition(lows, top - 1)[top - 1]
            chosen = np.flatnonzero(lows <= cut)
        else:
            chosen = np.arange(len(lows))
        chosen = chosen[np.argsort(lows[chosen], kind="stable")][:top]
        for k in chosen.tolist():
            first, end = int(starts[k]), int(ends[k])
            trough = first + int(np.argmin(dd[first:end]))  # its first lowest point
            periods.append(
                DrawdownPeriod(
                    int(times[max(first - 1, 0)]),
                    int(times[trough]),
                    int(times[end]) if end < n else None,
                    -float(lows[k]),
                )
            )
    return Underwater(_float_array(dd), periods)


def _month_starts(first_ms: int, last_ms: int) -> list[tuple[int, int, int]]:
    """(year, month, UTC ms of the month's start in KST) for every KST month in the range."""
    first = datetime.fromtimestamp(first_ms / 1000, KST)
    last = datetime.fromtimestamp(last_ms / 1000, KST)
    year, month = first.year, first.month
    out = []
    while (year, month) <= (last.year, last.month):
        start = datetime(year, month, 1, tzinfo=KST).astimezone(UTC)
        out.append((year, month, int(start.timestamp() * 1000)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def monthly_returns(
    times: Sequence[int], values: Sequence[float], start: float, final: float | None = None
) -> dict[tuple[int, int], float]:
    """Return of each KST calendar month: its last value against the month before's last
    (the starting value for the first month). ``times`` must be sorted; ``final``, if given,
    is the value at the very end (after the closing sale), so the months compound to the
    total return."""
    if not len(times):
        return {}
    out: dict[tuple[int, int], float] = {}
    previous = start
    months = _month_starts(times[0], times[-1])
    for k, (year, month, _start_ms) in enumerate(months):
        end_ms = months[k + 1][2] if k + 1 < len(months) else None
        last = len(times) - 1 if end_ms is None else bisect.bisect_left(times, end_ms) - 1
        if last < 0:
            continue
        value = final if end_ms is None and final is not None else values[last]
        out[(year, month)] = value / previous - 1 if previous else 0.0
        previous = value
    return out


def yearly_returns(monthly: Mapping[tuple[int, int], float]) -> dict[int, float]:
    """Compound the months of each year."""
    out: dict[int, float] = {}
    for (year, _month), r in monthly.items():
        out[year] = (1 + out.get(year, 0.0)) * (1 + r) - 1
    return out


@attrs.frozen
class RoundTrip:
    """A trade from entry to the sale of its last unit, with the fees of both sides."""

    market: str
    entry_ms: int
    exit_ms: int
    entry_price: float
    exit_price: float  # average over the sales, before fees
    quantity: float
    exit_reason: str
    pnl: float  # after every fee
    fees: float
    cost: float

    @property
    def return_(self) -> float:
        """P&L as a fraction of the cash paid."""
        return self.pnl / self.cost if self.cost else 0.0


def round_trips(trades: Sequence[TradeRecord], fills: Sequence[Fill]) -> list[RoundTrip]:
    """Each trade with its fees and average exit price, from the fills between its entry and
    its exit in its market (fills and trades as the engine records them, in time order)."""
    by_market: dict[str, list[Fill]] = {}
    for f in fills:
        by_market.setdefault(f.market, []).append(f)
    # Each market's fill times as a list, to find a trade's first fill by bisection.
    times = {m: [f.time_ms for f in market_fills] for m, market_fills in by_market.items()}
    cursor = dict.fromkeys(by_market, 0)
    order = sorted(range(len(trades)), key=lambda i: (trades[i].entry_time_ms, i))
    result: list[RoundTrip | None] = [None] * len(trades)
    no_fills: list[Fill] = []
    buy = Side.BUY
    for i in order:
        t = trades[i]
        market, entry_ms, exit_ms = t.market, t.entry_time_ms, t.exit_time_ms
        market_fills = by_market.get(market, no_fills)
        k = cursor.get(market, 0)
        if market_fills:
            k = bisect.bisect_left(times[market], entry_ms, k)  # skip fills before the entry
        fees = sold = sold_value = 0.0
        while k < len(market_fills):
            f = market_fills[k]
            if f.time_ms > exit_ms or (f.side is buy and f.time_ms > entry_ms):
                break  # after the exit, or the next trade's entry
            fees += f.fee
            if f.side is not buy:
                sold += f.quantity
                sold_value += f.price * f.quantity
            k += 1
        cursor[market] = k
        result[i] = RoundTrip(
            market=market,
            entry_ms=entry_ms,
            exit_ms=exit_ms,
            entry_price=t.entry_price,
            exit_price=sold_value / sold if sold else t.entry_price,
            quantity=t.quantity,
            exit_reason=t.exit_reason,
            pnl=t.proceeds - t.cost,  # TradeRecord.pnl
            fees=fees,
            cost=t.cost,
        )
    return [r for r in result if r is not None]


@attrs.frozen
class Analysis:
    """Everything the backtest report shows, computed over every bar."""

    initial: float
    final: float
    fees: float
    trips: list[RoundTrip]
    drawdown: Underwater
    monthly: dict[tuple[int, int], float]
    benchmark: Benchmark | None
    benchmark_times: Sequence[int]
    benchmark_values: Sequence[float]  # times ``benchmark_scale``: the buy-and-hold value
    benchmark_scale: float
    benchmark_drawdown: Underwater | None
    benchmark_monthly: dict[tuple[int, int], float]

    @property
    def net_profit(self) -> float:
        """Final equity minus the starting cash."""
        return self.final - self.initial

    @property
    def profit_before_fees(self) -> float:
        """What the same fills would have made without fees."""
        return self.net_profit + self.fees

    @property
    def max_drawdown(self) -> float:
        """The deepest drawdown (a positive fraction)."""
        periods = self.drawdown.periods
        return periods[0].depth if periods else 0.0


def analyze(
    *,
    initial: float,
    final: float,
    equity_times: Sequence[int],
    equity_values: Sequence[float],
    fills: Sequence[Fill],
    trades: Sequence[TradeRecord],
    prices: Mapping[str, PriceSeries],
) -> Analysis:
    """The report's figures for one backtest."""
    bench = benchmark(prices, initial)
    b_times: Sequence[int] = ()
    b_values: Sequence[float] = ()
    b_scale = 1.0
    b_dd = None
    b_monthly: dict[tuple[int, int], float] = {}
    if bench is not None:
        if len(prices) == 1:
            # One market: the curve is its closes times a constant, and drawdowns and
            # returns do not change with the scale: no million-element copy.
            ((market, series),) = prices.items()
            b_times, b_values, b_scale = series.times, series.close, bench.units[market]
        else:
            b_times, b_values = benchmark_curve(prices, bench)
        b_dd = underwater(b_times, b_values, initial / b_scale)
        b_monthly = monthly_returns(b_times, b_values, initial / b_scale)
    return Analysis(
        initial=initial,
        final=final,
        fees=sum(f.fee for f in fills),
        trips=round_trips(trades, fills),
        drawdown=underwater(equity_times, equity_values, initial),
        monthly=monthly_returns(equity_times, equity_values, initial, final),
        benchmark=bench,
        benchmark_times=b_times,
        benchmark_values=b_values,
        benchmark_scale=b_scale,
        benchmark_drawdown=b_dd,
        benchmark_monthly=b_monthly,
    )
