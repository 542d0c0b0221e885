"""The built-in CSV candle reader (``timestamp,open,high,low,close,volume``).

Gaps, duplicates and unsorted rows are tolerated with a warning; a malformed row (including
bytes that are not UTF-8 and a time outside years 1970 to 9999) is an error naming its line,
and bars closer together than the timeframe (or mostly farther apart) are an error naming the
spacing found. A UTF-8 byte order mark (spreadsheet exports) is skipped.

The file is read by pyarrow's CSV reader into columns and checked column by column (a million
rows in well under a second). A file that reader refuses, or a row a check refuses, is read
again row by row with Python's ``csv`` module, which finds the first bad line and names it: the
messages are the same either way, and the careful reading costs time only for files that fail
(or use what only it accepts, such as blank lines of spaces or numbers with ``_``).
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tradekit.builtin.candle_columns import (
    COLUMNS,
    TIME_COLUMNS,
    CandleColumns,
    Columns,
    check_row,
    checked_columns,
    ordered_columns,
)
from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe

__all__ = ["CsvCandleSource", "open_csv_source"]


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
        yield from self.columns(market, timeframe).bars()

    def columns(self, market: str, timeframe: Timeframe) -> CandleColumns:
        """The candles as columns in bar order; raises as :meth:`bars` does."""
        times, cols = self._read_columns(market)
        return ordered_columns(market, times, cols, timeframe, str(self.path))

    def _read_columns(self, market: str) -> Columns:
        """Every row, checked: by pyarrow when it can, else row by row to name the bad line."""
        fast = _read_fast(self.path)
        if fast is not None:
            import pyarrow as pa

            # The parser's buffers, several times the columns' size, are free now: give them
            # back rather than keep the process that much larger for the rest of the run.
            pa.default_memory_pool().release_unused()
            return fast
        return self._read(market)

    def _read(self, market: str) -> tuple[array[int], list[array[float]]]:
        try:
            # utf-8-sig: a byte order mark before the header would otherwise become part of
            # the first column's name.
            handle = self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read candles ({exc.strerror})") from None
        times: array[int] = array("q")
        cols: list[array[float]] = [array("d") for _ in COLUMNS]
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
        time_col = next((header.index(n) for n in TIME_COLUMNS if n in header), None)
        missing = [n for n in COLUMNS if n not in header]
        if time_col is None or missing:
            need = "timestamp," + ",".join(COLUMNS)
            raise DataError(f"{self.path}:1: header must name the columns {need}; got {header}")
        idx = [header.index(n) for n in COLUMNS]
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
            ms = check_row(f"{self.path}:{line}", market, stamp, values, row[time_col].strip(), row)
            append_t(ms)
            for put, value in zip(appends, values, strict=True):
                put(value)


def _read_fast(path: Path) -> Columns | None:
    """The file's columns read and checked by pyarrow; None when a row needs a closer look
    (or the file is one only Python's ``csv`` reads)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = [h.strip().lower() for h in next(csv.reader([handle.readline()]), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    time_col = next((header.index(n) for n in TIME_COLUMNS if n in header), None)
    if time_col is None or any(n not in header for n in COLUMNS):
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(len(header))]
    wanted = [names[time_col]] + [names[header.index(n)] for n in COLUMNS]
    try:
        if len(header) > len(COLUMNS) + 1:
            # Columns not read are not decoded: check the whole file is UTF-8 as the row
            # reader would.
            path.read_bytes().decode("utf-8")
        with ThreadPoolExecutor(1) as parser:
            parsed = parser.submit(
                pacsv.read_csv,
                path,
                read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(wanted, pa.float64()),
                    include_columns=wanted,
                    null_values=[],
                    quoted_strings_can_be_null=False,
                ),
            )
            # The checks' compute functions are imported while pyarrow parses: the import
            # holds the GIL for tens of milliseconds, the parsing releases it.
            import pyarrow.compute
        table = parsed.result()
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        return None
    if table.num_rows == 0:
        return None
    # Column by column, chunk by chunk: no column is copied whole before it becomes an array.
    stamp, *values = (table.column(name) for name in wanted)
    checked = checked_columns(stamp, values, milliseconds=False)
    return None if isinstance(checked, int) else checked


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
