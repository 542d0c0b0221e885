"""The CSV files of a backtest: ``fills.csv`` and ``equity.csv``, written by pyarrow.

Both start with ``time_ms`` (UTC milliseconds) and ``time`` (the same instant as ISO 8601,
``2020-09-13T12:00:00.000Z``). Numbers are written with the shortest digits that read back as
the same float (full precision, as ``docs/backtests.md#output-files`` requires; a whole number
is written without ``.0``). The columns go to pyarrow's CSV writer whole: a million equity rows
take a fraction of a second, where a Python loop over the rows took seconds.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from tradekit.models import Fill

__all__ = ["EQUITY_HEADER", "FILLS_HEADER", "write_equity_csv", "write_fills_csv"]

_EQUITY_ROWS = 131_072  # rows of equity.csv turned into text at a time

FILLS_HEADER = ("time_ms", "time", "market", "side", "price", "quantity", "fee", "reason")
EQUITY_HEADER = ("time_ms", "time", "equity")


def write_fills_csv(fills: Sequence[Fill], path: Path) -> None:
    """Every fill, one row each, in the order booked."""
    import pyarrow as pa

    times = pa.array([f.time_ms for f in fills], pa.int64())
    table = pa.table(
        [
            times,
            _iso(times),
            pa.array([f.market for f in fills], pa.string()),
            pa.array([f.side.value for f in fills], pa.string()),
            pa.array([f.price for f in fills], pa.float64()),
            pa.array([f.quantity for f in fills], pa.float64()),
            pa.array([f.fee for f in fills], pa.float64()),
            pa.array([f.reason for f in fills], pa.string()),
        ],
        names=list(FILLS_HEADER),
    )
    _write(table, path)


def write_equity_csv(times: Sequence[int], values: Sequence[float], path: Path) -> None:
    """Equity at every bar's close (``times`` and ``values`` of equal length)."""
    import pyarrow as pa

    if len(times) != len(values):
        raise ValueError(f"{len(times)} times but {len(values)} equity values")
    time_column = _column(times, "q", pa.int64())
    value_column = _column(values, "d", pa.float64())

    def tables() -> Iterator[pa.Table]:
        # A slice at a time: the text of a million rows at once (times, their ISO form, the
        # equity) took some 90 MB more than the file itself needs at any moment.
        for start in range(0, max(len(times), 1), _EQUITY_ROWS):
            stamps = time_column[start : start + _EQUITY_ROWS]
            equity = value_column[start : start + _EQUITY_ROWS].to_numpy()
            yield pa.table([stamps, _iso(stamps), _float_text(equity)], names=list(EQUITY_HEADER))

    _write(tables(), path)


def _float_text(values: Sequence[float]) -> pa.Array:
    """``values`` as the CSV writer writes floats (pyarrow's cast to text: the shortest
    digits that read back the same), each run of one value written once and repeated.

    Equity stays flat while no position is open, most of a backtest: this turns a million
    float-to-text conversions into some tens of thousands.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from tradekit.numpy_columns import float_column

    column = float_column(values)
    if not len(column) or len(column) * 25 >= 2**31:  # 32-bit string offsets
        return pa.array(column, pa.float64())  # the CSV writer converts it, batch by batch
    # Runs of the same bits: 0.0 and -0.0, which compare equal, are written differently.
    bits = column.view(np.int64)
    starts = np.flatnonzero(np.diff(bits, prepend=bits[0] ^ 1))
    text = pc.cast(pa.array(column[starts]), pa.string())
    if len(starts) == len(column):
        return text
    run = np.repeat(np.arange(len(starts)), np.diff(starts, append=len(column)))
    return text.take(pa.array(run))


def _column(values: Sequence[Any], typecode: str, kind: pa.DataType) -> pa.Array:
    """An Arrow column over an ``array`` without copying it (other sequences are copied)."""
    import pyarrow as pa

    if isinstance(values, array) and values.typecode == typecode:
        return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    return pa.array(values, kind)


def _iso(times_ms: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    # A zone-less timestamp turns into text some thirty times faster than a UTC one (no time
    # zone database): "2020-09-13 12:00:00.000", then the "T" and the "Z" of ISO 8601.
    text = pc.cast(pc.cast(times_ms, pa.timestamp("ms")), pa.string())
    fixed = _iso_fixed_width(text)
    if fixed is not None:
        return fixed
    text = pc.utf8_replace_slice(text, start=10, stop=11, replacement="T")
    return pc.binary_join_element_wise(text, "Z", "")


_TIMESTAMP_WIDTH = len("2020-09-13 12:00:00.000")


def _iso_fixed_width(text: pa.Array) -> pa.Array | None:
    """The "T" and "Z" put in by copying bytes, when every time has four-digit years and no
    missing value (always, for real data), else None; twice as fast as two string kernels."""
    import numpy as np
    import pyarrow as pa

    n = len(text)
    width = _TIMESTAMP_WIDTH
    if not n or text.null_count or (width + 1) * n >= 2**31:  # 32-bit string offsets
        return None
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * text.offset)
    if offsets[-1] - offsets[0] != width * n or not (np.diff(offsets) == width).all():
        return None
    rows = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    out = np.empty((n, width + 1), dtype=np.uint8)
    out[:, :width] = rows.reshape(n, width)
    out[:, 10] = ord("T")
    out[:, width] = ord("Z")
    new_offsets = np.arange(0, (width + 1) * n + 1, width + 1, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(new_offsets), pa.py_buffer(out)]
    )


def _write(tables: pa.Table | Iterable[pa.Table], path: Path) -> None:
    """One table, or several with the same columns one after the other, as one CSV file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # quoting_style "none": nothing written needs quotes (market ids, sides and reasons are
    # plain words); pyarrow refuses a value that would need them.
    # Batches of 64k rows rather than the default 1k: less overhead per row, same bytes.
    options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65_536)
    with path.open("wb") as handle:
        header = False
        for table in [tables] if isinstance(tables, pa.Table) else tables:
            if not header:
                handle.write((",".join(table.column_names) + "\n").encode())
                header = True
            pacsv.write_csv(table, handle, options)
