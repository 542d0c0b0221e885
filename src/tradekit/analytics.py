"""Figures a backtest report shows, computed from plain data (no HTML here).

Everything is computed on every bar; only :mod:`tradekit.report` thins what it draws. Months
are calendar months in Korea (KST, UTC+9, no daylight saving), as the trading days of the
daily loss limit are.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import attrs

from tradekit.engine.core import TradeRecord
from tradekit.models import Bar, Fill, Side

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
    if len(prices) == 1:
        ((market, series),) = prices.items()
        return series.times, array("d", map(bench.units[market].__mul__, series.close))
    share = bench.initial / len(prices)
    held = dict.fromkeys(prices, share)
    total = bench.initial
    times: array[int] = array("q")
    values: array[float] = array("d")

    def stream(i: int, series: PriceSeries) -> Iterator[tuple[int, int, float]]:
        k = bench.units[series.market]
        for t, c in zip(series.times, series.close, strict=True):
            yield t, i, k * c

    streams = [stream(i, s) for i, s in enumerate(prices.values())]
    names = list(prices)
    for t, i, value in heapq.merge(*streams):
        market = names[i]
        total += value - held[market]
        held[market] = value
        times.append(t)
        values.append(total)
    return times, values


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
    n = len(values)
    # A plain loop appending to a list is the fastest pure-Python way here (~0.1 s for a
    # million points; faster than itertools.accumulate with max).
    drawdowns: list[float] = []
    record = drawdowns.append
    peak = start
    for v in values:
        if v > peak:
            peak = v
        record(v / peak - 1.0)  # exactly 0.0 at a peak
    dd = array("d", drawdowns)
    del drawdowns
    at_peak = list(itertools.compress(range(n), map((0.0).__le__, dd)))
    candidates: list[DrawdownPeriod] = []
    previous = -1  # before the first point the peak is the starting value
    for b in [*at_peak, n]:
        if b > previous + 1:
            segment = dd[previous + 1 : b]
            low = min(segment)
            trough = previous + 1 + segment.index(low)
            candidates.append(
                DrawdownPeriod(
                    times[max(previous, 0)],
                    times[trough],
                    times[b] if b < n else None,
                    -low,
                )
            )
        previous = b
    periods = heapq.nlargest(top, candidates, key=lambda p: p.depth)
    return Underwater(dd, periods)


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
    cursor = dict.fromkeys(by_market, 0)
    order = sorted(range(len(trades)), key=lambda i: (trades[i].entry_time_ms, i))
    result: list[RoundTrip | None] = [None] * len(trades)
    for i in order:
        t = trades[i]
        market_fills = by_market.get(t.market, [])
        k = cursor.get(t.market, 0)
        while k < len(market_fills) and market_fills[k].time_ms < t.entry_time_ms:
            k += 1
        fees = sold = sold_value = 0.0
        while k < len(market_fills) and market_fills[k].time_ms <= t.exit_time_ms:
            f = market_fills[k]
            if f.side is Side.BUY and f.time_ms > t.entry_time_ms:
                break  # the next trade's entry
            fees += f.fee
            if f.side is Side.SELL:
                sold += f.quantity
                sold_value += f.price * f.quantity
            k += 1
        cursor[t.market] = k
        result[i] = RoundTrip(
            market=t.market,
            entry_ms=t.entry_time_ms,
            exit_ms=t.exit_time_ms,
            entry_price=t.entry_price,
            exit_price=sold_value / sold if sold else t.entry_price,
            quantity=t.quantity,
            exit_reason=t.exit_reason,
            pnl=t.pnl,
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
