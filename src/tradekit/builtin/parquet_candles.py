"""Candle files in Parquet: the reader behind ``backtest.data`` and the writer ``tradekit
download`` uses.

Columns as in the CSV format: ``timestamp`` (or ``time_ms``, ``time``, ``open_time``; names
in any case), ``open``, ``high``, ``low``, ``close``, ``volume``; other columns are ignored.
The time is UTC milliseconds (whole numbers; Unix seconds are accepted below 1e11, as in CSV)
or a Parquet timestamp of any unit and zone. Prices and volumes may be integers, floats or
decimals. Every row passes the checks of the CSV reader (see
:mod:`tradekit.builtin.candle_columns`); a row that fails is named by its number (``row 1`` is
the first row of data) with the same message a CSV line gets. Unsorted rows, duplicates and
gaps are warned about; a spacing that does not match the timeframe is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tradekit.builtin.candle_columns import (
    COLUMNS,
    TIME_COLUMNS,
    CandleColumns,
    check_row,
    checked_columns,
    ordered_columns,
)
from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "PARQUET_MAGIC",
    "ParquetCandleSource",
    "is_parquet_path",
    "last_parquet_time",
    "open_parquet_source",
    "write_parquet_candles",
]

PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of every Parquet file
_SUFFIXES = (".parquet", ".pq")
#: Counts of a Parquet timestamp unit in one millisecond (seconds are multiplied instead).
_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}


def is_parquet_path(path: str | Path) -> bool:
    """True for a ``.parquet`` / ``.pq`` name, or an existing file that starts as Parquet does."""
    if str(path).lower().endswith(_SUFFIXES):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def open_parquet_source(uri: str) -> ParquetCandleSource | None:
    """A :class:`ParquetCandleSource` for a Parquet path or ``file://`` URI; None otherwise.

    Chosen by the extension, or by the content for a file with another name.
    """
    path = uri.removeprefix("file://")
    if "://" in path or not is_parquet_path(path):
        return None
    return ParquetCandleSource(Path(path))


class ParquetCandleSource:
    """Candles from one Parquet file; the market name is given by the caller."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def bars(self, market: str, timeframe: Timeframe) -> Iterator[Bar]:
        """Validated bars in time order.

        Raises:
            DataError: the file is missing or not Parquet, a column is missing or not numbers,
                or a row is malformed (the message gives the row number); or the bars do not
                match ``timeframe`` (the message gives the spacing found).
        """
        yield from self.columns(market, timeframe).bars()

    def columns(self, market: str, timeframe: Timeframe) -> CandleColumns:
        """The candles as columns in bar order; raises as :meth:`bars` does."""
        table = self._table()
        names = {name.strip().lower(): name for name in table.column_names}
        time_name = next((names[n] for n in TIME_COLUMNS if n in names), None)
        missing = [n for n in COLUMNS if n not in names]
        if time_name is None or missing:
            need = "timestamp," + ",".join(COLUMNS)
            raise DataError(f"{self.path}: columns must include {need}; got {table.column_names}")
        if table.num_rows == 0:
            raise DataError(f"{self.path}: no candle rows")
        stamp, milliseconds = self._times(table.column(time_name).combine_chunks(), time_name)
        values = [self._numbers(table.column(names[n]).combine_chunks(), names[n]) for n in COLUMNS]
        checked = checked_columns(stamp, values, milliseconds=milliseconds)
        if isinstance(checked, int):
            self._raise_for_row(table, checked, market, stamp, values, time_name)
        times, cols = checked
        return ordered_columns(market, times, cols, timeframe, str(self.path))

    def _table(self) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(self.path)
        except OSError as exc:
            if not self.path.exists():
                raise DataError(
                    f"{self.path}: cannot read candles (No such file or directory)"
                ) from None
            raise DataError(f"{self.path}: cannot read candles ({exc})") from None
        except pa.ArrowException as exc:
            raise DataError(f"{self.path}: not a readable Parquet file ({exc})") from None

    def _times(self, column: pa.Array, name: str) -> tuple[pa.Array, bool]:
        """Float64 times, and whether they are milliseconds whatever their size."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = column.type
        if pa.types.is_timestamp(kind):
            counts = pc.cast(column.cast(pa.timestamp(kind.unit)), pa.int64())
            per_ms = _PER_MS.get(kind.unit)
            if per_ms is None:  # seconds: counts are small, the product exact
                return pc.multiply(pc.cast(counts, pa.float64()), 1000.0), True
            # Microseconds and nanoseconds (pandas' datetime64[ns]) exceed 2**53: divided as
            # integers, so nothing is rounded away; a count between two milliseconds is refused.
            ms = pc.divide(counts, per_ms)
            whole = pc.fill_null(pc.equal(pc.multiply(ms, per_ms), counts), True)
            if not pc.all(whole).as_py():
                index = int(pc.index(whole, False).as_py())
                shown = _cell(column, index)
                raise DataError(
                    f"{self.path}: row {index + 1}: timestamp {shown!r} is not a whole number "
                    "of milliseconds"
                )
            return pc.cast(ms, pa.float64()), True
        return self._numbers(column, name), False

    def _numbers(self, column: pa.Array, name: str) -> pa.Array:
        import pyarrow as pa

        kind = column.type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        ):
            raise DataError(f"{self.path}: column {name!r} holds {kind}, not numbers")
        return column.cast(pa.float64(), safe=False)

    def _raise_for_row(
        self,
        table: pa.Table,
        index: int,
        market: str,
        stamp: pa.Array,
        values: Sequence[pa.Array],
        time_name: str,
    ) -> NoReturn:
        where = f"{self.path}: row {index + 1}"
        row = {name: _cell(table.column(name), index) for name in table.column_names}
        numbers = [col[index].as_py() for col in values]
        when = stamp[index].as_py()
        if when is None or any(v is None for v in numbers):
            raise DataError(f"{where}: missing value in {row}")
        check_row(where, market, when, numbers, str(row[time_name]), row)
        raise DataError(f"{where}: not a valid candle: {row}")  # check_row found it first


def _cell(column: pa.Array | pa.ChunkedArray, index: int) -> Any:
    """A cell as the messages show it: times in ISO 8601 (nanoseconds as a count)."""
    scalar = column[index]
    try:
        value = scalar.as_py()
    except ValueError:  # nanoseconds a datetime cannot hold
        return f"{scalar.value} {scalar.type.unit}"
    return value.isoformat() if hasattr(value, "isoformat") else value


def last_parquet_time(path: Path) -> int | None:
    """Open time of the last bar of a candle file this module wrote (None when empty).

    Raises:
        DataError: the file exists but is not such a file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["timestamp"])
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{path}: exists but is not a Parquet candle file with a timestamp column ({exc}); "
            "choose another --output"
        ) from None
    if table.num_rows == 0:
        return None
    return int(table.column("timestamp")[-1].as_py())


def write_parquet_candles(path: Path, bars: Sequence[Bar]) -> None:
    """Add ``bars`` (newer than any already there) to the Parquet file at ``path``.

    Parquet files cannot be appended to: the file is rewritten with the new rows at the end,
    to a temporary file first, so an interrupted write leaves the old file whole.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "timestamp": pa.array([b.time_ms for b in bars], pa.int64()),
            "open": pa.array([b.open for b in bars], pa.float64()),
            "high": pa.array([b.high for b in bars], pa.float64()),
            "low": pa.array([b.low for b in bars], pa.float64()),
            "close": pa.array([b.close for b in bars], pa.float64()),
            "volume": pa.array([b.volume for b in bars], pa.float64()),
        }
    )
    if path.exists() and path.stat().st_size > 0:
        table = pa.concat_tables([pq.read_table(path), table])
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
