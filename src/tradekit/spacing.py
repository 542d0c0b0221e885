"""Does a candle series match the configured ``timeframe``? Checked in one pass as bars go by.

A backtest of minute candles run as ``timeframe: 1h`` (or the reverse) would run without a
complaint and report annualised figures off by a factor of 60. Bars closer together than the
timeframe are refused at once; bars farther apart are gaps, which real data has, unless one
wider spacing is what most of the series has (then the data is of another timeframe).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe

__all__ = ["SpacingCheck", "checked_bars", "format_duration"]

_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def format_duration(ms: int) -> str:
    """``3_600_000`` -> ``1h``, ``5_400_000`` -> ``90m``: the largest unit that divides exactly."""
    for unit, size in _UNITS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _when(time_ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{time_ms} ms"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class SpacingCheck:
    """The spacing between consecutive bar times (in time order, without duplicates).

    Feed it with :meth:`scan` (many times at once) or :meth:`observe` (one at a time), then call
    :meth:`finish`. ``gaps`` and ``missing`` count wider spacings and the bars they leave out.

    Args:
        timeframe: the configured bar interval.
        where: the data's name for messages (a file path, a URL without its password).
    """

    def __init__(self, timeframe: Timeframe, where: str) -> None:
        self.timeframe = timeframe
        self.where = where
        self.pairs = 0  #: consecutive bars seen
        self.exact = 0  #: of those, exactly one timeframe apart
        self.gaps = 0  #: of those, farther apart
        self.missing = 0  #: whole intervals left out by the gaps
        self._step = timeframe.milliseconds
        self._prev: int | None = None
        self._wider: dict[int, int] = {}  # spacing -> how often, for spacings above the step

    def scan(self, times: Iterable[int]) -> None:
        """Add bar times in order.

        Raises:
            DataError: two bars are closer together than the timeframe.
        """
        step, prev, exact, pairs = self._step, self._prev, 0, 0
        for t in times:
            # The common case, one step apart, costs a subtraction and a comparison.
            if prev is not None:
                pairs += 1
                if t - prev == step:
                    exact += 1
                else:
                    self._odd(prev, t)
            prev = t
        self._prev = prev
        self.exact += exact
        self.pairs += pairs

    def scan_pairs(self, pairs: int, odd: Iterable[tuple[int, int]], last: int) -> None:
        """Add a whole series at once (the first call only), given as counts: ``pairs``
        consecutive bars, of which ``odd`` (in order) are not one timeframe apart; ``last``
        is the last time. Raises like :meth:`scan`.
        """
        odd_count = 0
        for prev, t in odd:
            odd_count += 1
            self._odd(prev, t)
        self._prev = last
        self.pairs += pairs
        self.exact += pairs - odd_count

    def observe(self, time_ms: int) -> None:
        """Add one bar time (after the ones before it); raises like :meth:`scan`."""
        prev, self._prev = self._prev, time_ms
        if prev is None:
            return
        self.pairs += 1
        if time_ms - prev == self._step:
            self.exact += 1
        else:
            self._odd(prev, time_ms)

    def _odd(self, prev: int, t: int) -> None:
        spacing = t - prev
        if spacing < self._step:
            raise DataError(
                f"{self.where}: bars {format_duration(spacing)} apart ({_when(prev)} and "
                f"{_when(t)}) but the configured timeframe is {self.timeframe}: set "
                f"`timeframe` to the data's interval, or use {self.timeframe} candles"
            )
        self.gaps += 1
        self.missing += spacing // self._step - 1
        self._wider[spacing] = self._wider.get(spacing, 0) + 1

    def finish(self) -> None:
        """Check the series as a whole.

        Raises:
            DataError: more than half of the consecutive bars (and at least two pairs) share one
                spacing wider than the timeframe: the data is of another timeframe.
        """
        if not self._wider:
            return
        spacing, count = max(self._wider.items(), key=lambda item: item[1])
        if count >= 2 and 2 * count > self.pairs:
            raise DataError(
                f"{self.where}: most bars are {format_duration(spacing)} apart ({count} of "
                f"{self.pairs}; {self.exact} are {self.timeframe} apart) but the configured "
                f"timeframe is {self.timeframe}: set `timeframe: {format_duration(spacing)}`, "
                f"or use {self.timeframe} candles"
            )


def checked_bars(bars: Iterable[Bar], timeframe: Timeframe, where: str) -> Iterator[Bar]:
    """``bars`` (one market, in time order) passed through, checked against ``timeframe``.

    For candle sources that do not check their spacing themselves (the CSV reader does): the
    error comes as soon as two bars are too close, or after the last bar when most are too
    far apart.

    Raises:
        DataError: the bars do not match the timeframe (the message names ``where``, the
            timeframe and the spacing found).
    """
    check = SpacingCheck(timeframe, where)
    for bar in bars:
        check.observe(bar.time_ms)
        yield bar
    check.finish()
