"""Candle columns shared by the file readers: checks, order, spacing and the bars themselves.

A reader (CSV, Parquet) hands over six Arrow columns; :func:`checked_columns` tests every row at
once (finite numbers, times from 1970 to 9999 in whole milliseconds or Unix seconds, prices
that are positive and contain open and close, volumes that are not negative) and returns
compact arrays, or the index of the first row that fails so the reader can name it with
:func:`check_row`, which applies the same rules to one row and raises the message. Columns are
held in ``array`` s (8 bytes a value) and bars are created as the engine asks for them, so a
million rows cost tens of megabytes, not hundreds.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

from loguru import logger

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe, trusted_bar
from tradekit.spacing import SpacingCheck

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COLUMNS",
    "MAX_MS",
    "SECONDS_LIMIT",
    "TIME_COLUMNS",
    "CandleColumns",
    "Columns",
    "check_row",
    "checked_columns",
    "ordered_columns",
]

TIME_COLUMNS = ("timestamp", "time_ms", "time", "open_time")
COLUMNS = ("open", "high", "low", "close", "volume")
SECONDS_LIMIT = 100_000_000_000  # below this a timestamp is in seconds, not milliseconds
# 9999-12-31T23:59:59.999Z: the last time a report can print (datetime's range); a larger time
# would also overflow the 64-bit time column.
MAX_MS = 253_402_300_799_999

Columns = tuple["array[int]", "list[array[float]]"]


def check_row(
    where: str, market: str, stamp: float, values: Sequence[float], shown_stamp: str, row: object
) -> int:
    """The row's open time in milliseconds, or a :class:`DataError` starting with ``where``.

    Args:
        where: the row's place for messages (``path:line`` or ``path: row N``).
        stamp: the time as read (milliseconds, or Unix seconds below 1e11).
        values: open, high, low, close and volume.
        shown_stamp: the time as written in the file, for messages.
        row: the whole row, for messages.
    """
    if not all(map(math.isfinite, values)) or not math.isfinite(stamp):
        raise DataError(f"{where}: not a finite number in {row}")
    # Checked on the float first: 1e30 would overflow the int64 array.
    if not 0 <= stamp <= MAX_MS:
        raise DataError(
            f"{where}: timestamp {shown_stamp!r} is out of "
            f"range (0 to {MAX_MS} ms, 1970 to 9999; or Unix seconds)"
        )
    # Seconds are rounded, not truncated: 1.123 * 1000 is 1122.9999...
    ms = int(stamp) if stamp >= SECONDS_LIMIT else round(stamp * 1000)
    if ms != stamp and stamp >= SECONDS_LIMIT:
        raise DataError(f"{where}: timestamp {shown_stamp!r} is not a whole number of milliseconds")
    try:
        Bar(market, ms, *values)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
    return ms


def checked_columns(
    stamp: pa.Array | pa.ChunkedArray,
    values: Sequence[pa.Array | pa.ChunkedArray],
    *,
    milliseconds: bool,
) -> Columns | int:
    """The columns as arrays if every row passes :func:`check_row`; else the first bad row.

    Args:
        stamp: float64 times (milliseconds, or Unix seconds below 1e11 unless ``milliseconds``).
        values: five float64 columns: open, high, low, close, volume. Nulls fail.
        milliseconds: the times are milliseconds whatever their size (a Parquet timestamp).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    o, h, lo, c, v = values
    ok = pc.and_(
        pc.and_(pc.is_finite(stamp), pc.is_finite(v)),
        pc.and_(pc.is_finite(h), pc.is_finite(lo)),
    )
    ok = pc.and_(ok, pc.and_(pc.greater(lo, 0), pc.less_equal(lo, o)))
    ok = pc.and_(ok, pc.and_(pc.less_equal(o, h), pc.less_equal(lo, c)))
    ok = pc.and_(ok, pc.and_(pc.less_equal(c, h), pc.greater_equal(v, 0)))
    ok = pc.and_(ok, pc.and_(pc.greater_equal(stamp, 0), pc.less_equal(stamp, MAX_MS)))
    if milliseconds or _all_milliseconds(stamp):
        # No time below SECONDS_LIMIT (the usual file): no row needs the seconds arithmetic.
        ms = stamp
        whole = pc.equal(pc.floor(stamp), stamp)
    else:
        seconds = pc.less(stamp, SECONDS_LIMIT)
        # round() of Python rounds halves to even; so does this.
        ms = pc.if_else(
            seconds, pc.round(pc.multiply(stamp, 1000.0), round_mode="half_to_even"), stamp
        )
        whole = pc.or_(seconds, pc.equal(pc.floor(stamp), stamp))
    ok = pc.fill_null(pc.and_(ok, whole), False)  # a null anywhere fails its row
    if not pc.all(ok).as_py():
        return int(pc.index(ok, False).as_py())
    times = _to_array(pc.cast(ms, pa.int64()), "q")
    return times, [_to_array(col, "d") for col in values]


def _all_milliseconds(stamp: pa.Array | pa.ChunkedArray) -> bool:
    """Whether no time is below :data:`SECONDS_LIMIT` (NaN and null times, which fail their
    rows anyway, do not count; all null: False)."""
    import pyarrow.compute as pc

    # One comparison and one any(): a quarter of the time min() takes on floats.
    return pc.any(pc.less(stamp, SECONDS_LIMIT)).as_py() is False


def _to_array(column: pa.Array | pa.ChunkedArray, typecode: str) -> array[Any]:
    """A copy of a null-free 8-byte Arrow column (chunked or not) as an ``array``."""
    # Allocated whole, then filled chunk by chunk: appending chunk after chunk would grow the
    # array a few percent at a time, reallocating it over and over.
    out: array[Any] = array(typecode, b"\0" * 8) * len(column)
    into = memoryview(out).cast("B")
    at = 0
    for chunk in getattr(column, "chunks", [column]):
        data = chunk.buffers()[1]
        if data is None:  # an empty chunk
            continue
        start, size = chunk.offset * 8, len(chunk) * 8
        into[at : at + size] = memoryview(data).cast("B")[start : start + size]
        at += size
    into.release()  # an array with a view on it cannot grow: callers may append
    return out


class CandleColumns:
    """One market's checked candles as columns in bar order (sorted, without duplicates).

    Only made from columns every row of which passed :func:`checked_columns` or
    :func:`check_row`: its bars are not checked again.
    """

    __slots__ = ("close", "high", "low", "market", "open", "times", "volume")

    def __init__(self, market: str, times: array[int], cols: Sequence[array[float]]) -> None:
        self.market = market
        self.times = times
        self.open, self.high, self.low, self.close, self.volume = cols

    def __len__(self) -> int:
        return len(self.times)

    def bars(self) -> Iterator[Bar]:
        """The bars, created as they are asked for (the floats of a million rows never exist
        all at once)."""
        return map(
            trusted_bar,
            repeat(self.market),
            self.times,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
        )


def ordered_columns(
    market: str, times: array[int], cols: list[array[float]], timeframe: Timeframe, where: str
) -> CandleColumns:
    """Checked columns put in time order, duplicates dropped, spacing checked.

    Raises:
        DataError: the bars do not match ``timeframe`` (the message gives the spacing found).
    """
    order = _sorted_unique(times, cols, where)
    _check_spacing(times, order, timeframe, where)
    if not isinstance(order, range):
        times = array("q", map(times.__getitem__, order))
        cols = [array("d", map(col.__getitem__, order)) for col in cols]
    return CandleColumns(market, times, cols)


def _sorted_unique(times: array[int], cols: list[array[float]], where: str) -> list[int] | range:
    order: list[int] | range = range(len(times))
    diffs = _diffs(times)
    if diffs is None or _min(diffs) > 0:  # the usual case: in order, no duplicates
        return order
    import pyarrow.compute as pc

    unsorted = int(pc.sum(pc.less(diffs, 0)).as_py() or 0)
    if unsorted:
        logger.warning("{}: {} rows out of time order; sorted by time", where, unsorted)
        order = sorted(order, key=times.__getitem__)  # stable: the first of equal rows stays first
    kept: list[int] = []
    dupes = conflicts = 0
    for i in order:
        if kept and times[kept[-1]] == times[i]:
            dupes += 1
            conflicts += any(col[kept[-1]] != col[i] for col in cols)
            continue
        kept.append(i)
    if not dupes:
        return order
    logger.warning(
        "{}: {} duplicate timestamps dropped ({} with different values; the first row kept)",
        where,
        dupes,
        conflicts,
    )
    return kept


def _diffs(times: array[int]) -> pa.Array | None:
    """``times[i + 1] - times[i]`` for every i (None for fewer than two times)."""
    if len(times) < 2:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pa.Array.from_buffers(pa.int64(), len(times), [None, pa.py_buffer(times)])
    return pc.subtract(column[1:], column[:-1])


def _min(diffs: pa.Array) -> int:
    import pyarrow.compute as pc

    return int(pc.min(diffs).as_py())


def _check_spacing(
    times: array[int], order: list[int] | range, timeframe: Timeframe, where: str
) -> None:
    """Refuse bars that do not match ``timeframe``; warn about gaps."""
    check = SpacingCheck(timeframe, where)
    diffs = _diffs(times) if isinstance(order, range) else None
    if diffs is not None:
        # Sorted and unique already (the usual case): only the pairs not one step apart are
        # looked at one by one.
        import pyarrow.compute as pc

        odd = pc.indices_nonzero(pc.not_equal(diffs, timeframe.milliseconds)).to_pylist()
        check.scan_pairs(len(times) - 1, ((times[i], times[i + 1]) for i in odd), times[-1])
    else:
        check.scan(times if isinstance(order, range) else map(times.__getitem__, order))
    check.finish()
    if check.gaps:
        logger.warning(
            "{}: {} gaps in the data ({} missing {} bars); bars are counted by row",
            where,
            check.gaps,
            check.missing,
            timeframe,
        )
