"""Resumable candle downloads to a CSV or Parquet file or a tradekit store.

Candles are fetched in windows moving forward in time, each paginated backwards by the
client, and every window is written before the next is asked for: an interrupted download
leaves a file that ends at a window boundary, and the next run continues after its last bar.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import anyio.to_thread
from loguru import logger

from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe, decimal_str
from tradekit_bithumb.client import MAX_CANDLES
from tradekit_bithumb.exchange import BithumbExchange

__all__ = [
    "CSV_HEADER",
    "CandleSink",
    "CsvSink",
    "ParquetSink",
    "StoreSink",
    "download_candles",
    "open_sink",
]

# The built-in CSV candle reader's format (tradekit.builtin.csv_source), as in examples/data.
CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
WINDOW_PAGES = 25  # candle pages per written window (5,000 candles)


class CandleSink(Protocol):
    """Where downloaded bars go."""

    def last_time(self) -> int | None:
        """Open time of the newest bar already there (to resume after it), or None."""
        ...

    def write(self, bars: Sequence[Bar]) -> None:
        """Append bars (oldest first, all newer than :meth:`last_time`)."""
        ...


class CsvSink:
    """A ``timestamp,open,high,low,close,volume`` CSV file (UTC milliseconds)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def last_time(self) -> int | None:
        """The last row's timestamp; a torn last line (from a killed run) is cut off.

        Raises:
            DataError: the file exists but is not a candle CSV of this format.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with self.path.open("rb") as handle:
            header = handle.readline().decode("utf-8", "replace").strip()
        if tuple(h.strip() for h in header.split(",")) != CSV_HEADER:
            raise DataError(
                f"{self.path}: exists but its header is {header!r}, not {','.join(CSV_HEADER)}; "
                "choose another --output"
            )
        while True:
            start, line = _last_line(self.path)
            if line is None:
                return None
            fields = line.split(",")
            try:
                if len(fields) != len(CSV_HEADER):
                    raise ValueError(line)
                for value in fields[1:]:
                    float(value)
                return int(fields[0])
            except ValueError:
                logger.warning("{}: cutting off a torn last line {!r}", self.path, line[:60])
                with self.path.open("rb+") as handle:
                    handle.truncate(start)

    def write(self, bars: Sequence[Bar]) -> None:
        """Append bars; the header is written first into a new file."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            with self.path.open("rb") as handle:
                handle.seek(-1, os.SEEK_END)
                needs_newline = handle.read(1) != b"\n"
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            if not new and needs_newline:
                handle.write("\n")
            writer = csv.writer(handle, lineterminator="\n")
            if new:
                writer.writerow(CSV_HEADER)
            for bar in bars:
                writer.writerow(
                    [
                        bar.time_ms,
                        decimal_str(bar.open),
                        decimal_str(bar.high),
                        decimal_str(bar.low),
                        decimal_str(bar.close),
                        decimal_str(bar.volume),
                    ]
                )


def _last_line(path: Path) -> tuple[int, str | None]:
    """``(offset, text)`` of the last non-empty line; text None when only the header is there.

    Reads backwards from the end, so resuming a large file costs a few kilobytes.
    """
    with path.open("rb") as handle:
        header_length = len(handle.readline())
        position = handle.seek(0, os.SEEK_END)
        data = b""
        while True:
            stripped = data.rstrip(b"\r\n")
            cut = stripped.rfind(b"\n")
            if cut >= 0 or position == 0:
                break
            step = min(4096, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    line_start = position + cut + 1
    if line_start < header_length:
        return header_length, None
    return line_start, stripped[cut + 1 :].decode("utf-8", "replace").strip()


class ParquetSink:
    """A Parquet file with the columns of the CSV format (``timestamp`` in UTC milliseconds).

    Each window rewrites the file with the new rows at the end (Parquet cannot be appended
    to), through a temporary file: an interrupted download leaves the file as it was after
    the last whole window.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def last_time(self) -> int | None:
        """The last row's timestamp.

        Raises:
            DataError: the file exists but is not a candle file in Parquet.
        """
        from tradekit.builtin.parquet_candles import last_parquet_time

        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        return last_parquet_time(self.path)

    def write(self, bars: Sequence[Bar]) -> None:
        """Add bars at the end of the file (created if missing)."""
        from tradekit.builtin.parquet_candles import write_parquet_candles

        write_parquet_candles(self.path, bars)


class StoreSink:
    """A tradekit store (``sqlite:///candles.db``, ``postgresql://...``), via ``save_bars``."""

    def __init__(self, url: str, market: str, timeframe: Timeframe) -> None:
        self.url = url
        self.market = market
        self.timeframe = timeframe

    def last_time(self) -> int | None:
        """Open time of the newest stored bar of this market and timeframe."""
        from tradekit.store.store import Store

        with Store.open(self.url) as store:
            return store.last_candle_time(self.market, self.timeframe)

    def write(self, bars: Sequence[Bar]) -> None:
        """Save bars (saving a bar twice keeps one copy)."""
        from tradekit.store.candles import save_bars

        save_bars(self.url, self.timeframe, bars)


def open_sink(
    output: str, market: str, timeframe: Timeframe, file_format: str | None = None
) -> CandleSink:
    """A store sink for a database URL, else a file sink: Parquet when ``file_format`` is
    ``parquet`` (or, without it, for a ``.parquet`` / ``.pq`` name), else CSV."""
    if "://" in output:
        from tradekit.store.candles import is_store_url

        if not is_store_url(output):
            raise DataError(f"--output {output!r}: not a CSV path nor a usable database URL")
        return StoreSink(output, market, timeframe)
    if file_format is None:
        file_format = "parquet" if output.lower().endswith((".parquet", ".pq")) else "csv"
    return ParquetSink(Path(output)) if file_format == "parquet" else CsvSink(Path(output))


async def download_candles(
    exchange: BithumbExchange,
    market: str,
    timeframe: Timeframe,
    since_ms: int,
    until_ms: int,
    sink: CandleSink,
    *,
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """Download closed candles of ``[since_ms, until_ms)`` into ``sink``, resuming after its
    last bar.

    Args:
        progress: Called after each window with ``(slots_done, slots_total, bars_written)``,
            where slots are candle intervals in the requested range.

    Returns:
        The number of bars written.
    """
    step = timeframe.milliseconds
    last = await anyio.to_thread.run_sync(sink.last_time)
    start = since_ms if last is None else max(since_ms, last + step)
    if last is not None and start > since_ms:
        logger.info("resuming {} {} after {}", market, timeframe, last)
    total_slots = max(0, -(-(until_ms - start) // step))
    window = step * MAX_CANDLES * WINDOW_PAGES
    written = 0
    cursor = start
    while cursor < until_ms:
        end = min(cursor + window, until_ms)
        bars = await exchange.fetch_candles(market, timeframe, cursor, end)
        if bars:
            await anyio.to_thread.run_sync(sink.write, bars)
            written += len(bars)
        cursor = end
        if progress is not None:
            progress(min(total_slots, -(-(cursor - start) // step)), total_slots, written)
    return written
