"""The built-in CSV candle reader (``timestamp,open,high,low,close,volume``).

Gaps, duplicates and unsorted rows are tolerated with a warning; a malformed row (including
bytes that are not UTF-8 and a time outside years 1970 to 9999) is an error naming its line,
and bars closer together than the timeframe (or mostly farther apart) are an error naming the
spacing found. A UTF-8 byte order mark (spreadsheet exports) is skipped. Columns are held in
compact arrays and bars are created lazily, so a million rows cost tens of megabytes, not
hundreds.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterator
from pathlib import Path

from loguru import logger

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe
from tradekit.spacing import SpacingCheck

__all__ = ["CsvCandleSource", "open_csv_source"]

_TIME_COLUMNS = ("timestamp", "time_ms", "time", "open_time")
_COLUMNS = ("open", "high", "low", "close", "volume")
_SECONDS_LIMIT = 100_000_000_000  # below this a timestamp is in seconds, not milliseconds
# 9999-12-31T23:59:59.999Z: the last time a report can print (datetime's range); a larger time
# would also overflow the 64-bit time column.
_MAX_MS = 253_402_300_799_999


def open_csv_source(uri: str) -> CsvCandleSource | None:
    """A :class:`CsvCandleSource` for a ``.csv`` path or ``file://`` URI; None otherwise."""
    path = uri.removeprefix("file://")
    if "://" in path or not path.lower().endswith((".csv", ".csv.txt")):
        return None
    return CsvCandleSource(Path(path))


class CsvCandleSource:
    """Candles from one CSV file; the market name is given by the caller."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def bars(self, market: str, timeframe: Timeframe) -> Iterator[Bar]:
        """Validated bars in time order.

        Raises:
            DataError: the file is missing, has no usable header, or a row is malformed
                (the message gives the line number); or the bars do not match ``timeframe``
                (the message gives the spacing found).
        """
        times, cols = self._read(market)
        order = _sorted_unique(times, cols, self.path)
        _check_spacing(times, order, timeframe, self.path)
        o, h, lo, c, v = cols
        for i in order:
            yield Bar(market, times[i], o[i], h[i], lo[i], c[i], v[i])

    def _read(self, market: str) -> tuple[array[int], list[array[float]]]:
        try:
            # utf-8-sig: a byte order mark before the header would otherwise become part of
            # the first column's name.
            handle = self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read candles ({exc.strerror})") from None
        times: array[int] = array("q")
        cols: list[array[float]] = [array("d") for _ in _COLUMNS]
        reader = csv.reader(handle)
        try:
            with handle:
                self._parse(reader, market, times, cols)
        except UnicodeDecodeError:
            # The decoder's position is within a buffered chunk: find the line afresh.
            raise DataError(_not_utf8(self.path)) from None
        except csv.Error as exc:
            raise DataError(f"{self.path}:{reader.line_num}: {exc}") from None
        if not times:
            raise DataError(f"{self.path}: no candle rows")
        return times, cols

    def _parse(
        self,
        reader: Iterator[list[str]],
        market: str,
        times: array[int],
        cols: list[array[float]],
    ) -> None:
        header = [h.strip().lower() for h in next(reader, [])]
        time_col = next((header.index(n) for n in _TIME_COLUMNS if n in header), None)
        missing = [n for n in _COLUMNS if n not in header]
        if time_col is None or missing:
            need = "timestamp," + ",".join(_COLUMNS)
            raise DataError(f"{self.path}:1: header must name the columns {need}; got {header}")
        idx = [header.index(n) for n in _COLUMNS]
        width = len(header)
        append_t = times.append
        appends = [col.append for col in cols]
        for line, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                raise DataError(
                    f"{self.path}:{line}: expected {width} fields, got {len(row)}: {row}"
                )
            try:
                stamp = float(row[time_col])
                values = [float(row[j]) for j in idx]
            except ValueError:
                raise DataError(f"{self.path}:{line}: not a number in {row}") from None
            if not all(map(math.isfinite, values)) or not math.isfinite(stamp):
                raise DataError(f"{self.path}:{line}: not a finite number in {row}")
            # Checked on the float first: 1e30 would overflow the int64 array.
            if not 0 <= stamp <= _MAX_MS:
                raise DataError(
                    f"{self.path}:{line}: timestamp {row[time_col].strip()!r} is out of "
                    f"range (0 to {_MAX_MS} ms, 1970 to 9999; or Unix seconds)"
                )
            # Seconds are rounded, not truncated: 1.123 * 1000 is 1122.9999...
            ms = int(stamp) if stamp >= _SECONDS_LIMIT else round(stamp * 1000)
            if ms != stamp and stamp >= _SECONDS_LIMIT:
                raise DataError(
                    f"{self.path}:{line}: timestamp {row[time_col].strip()!r} is not a "
                    "whole number of milliseconds"
                )
            try:
                Bar(market, ms, *values)
            except ValueError as exc:
                raise DataError(f"{self.path}:{line}: {exc}") from None
            append_t(ms)
            for put, value in zip(appends, values, strict=True):
                put(value)


def _sorted_unique(times: array[int], cols: list[array[float]], path: Path) -> list[int] | range:
    n = len(times)
    unsorted = sum(1 for i in range(n - 1) if times[i] > times[i + 1])
    order: list[int] | range = range(n)
    if unsorted:
        logger.warning("{}: {} rows out of time order; sorted by time", path, unsorted)
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
        path,
        dupes,
        conflicts,
    )
    return kept


def _check_spacing(
    times: array[int], order: list[int] | range, timeframe: Timeframe, path: Path
) -> None:
    """Refuse bars that do not match ``timeframe``; warn about gaps."""
    check = SpacingCheck(timeframe, str(path))
    # Sorted and unique already (the usual case): the array itself, without indexing.
    check.scan(times if order == range(len(times)) else map(times.__getitem__, order))
    check.finish()
    if check.gaps:
        logger.warning(
            "{}: {} gaps in the data ({} missing {} bars); bars are counted by row",
            path,
            check.gaps,
            check.missing,
            timeframe,
        )


def _not_utf8(path: Path) -> str:
    """The message for a file that is not UTF-8, naming the first bad line."""
    with path.open("rb") as raw:
        # Line by line is exact: a multi-byte UTF-8 character never contains a newline byte.
        for line, data in enumerate(raw, start=1):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
    return f"{path}: not UTF-8 text; save the file as UTF-8"
