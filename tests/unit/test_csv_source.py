"""The built-in CSV candle reader: quirks tolerated with a warning, bad rows rejected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from loguru import logger

from tradekit.builtin.csv_source import CsvCandleSource, open_csv_source
from tradekit.errors import DataError
from tradekit.models import Timeframe

H = 3_600_000
T = 1_600_000_000_000
HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture
def warnings() -> list[str]:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    yield messages
    logger.remove(handler)


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def read(path: Path) -> list[tuple[int, float]]:
    return [(b.time_ms, b.close) for b in CsvCandleSource(path).bars("KRW-BTC", Timeframe("1h"))]


def test_reads_real_data(real_candles: Path) -> None:
    bars = list(CsvCandleSource(real_candles).bars("KRW-BTC", Timeframe("1h")))
    assert len(bars) == 29_705
    assert bars[0].time_ms == 1498906800000
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == (
        3064000,
        3075000,
        3050000,
        3070000,
    )
    assert bars[0].volume == 238.58


def test_unsorted_duplicates_and_gaps_are_tolerated_with_warnings(
    tmp_path: Path, warnings: list[str]
) -> None:
    path = write(
        tmp_path,
        [
            f"{T + 2 * H},10,11,9,10,1",
            f"{T + 0 * H},10,11,9,10,1",
            f"{T + 0 * H},10,11,9,10,1",
            f"{T + 5 * H},10,13,9,12,1",
        ],
    )
    assert read(path) == [(T, 10.0), (T + 2 * H, 10.0), (T + 5 * H, 12.0)]
    assert any("1 rows out of time order" in w for w in warnings)
    assert any("1 duplicate timestamps dropped (0 with different values" in w for w in warnings)
    assert any("2 gaps in the data (3 missing 1h bars)" in w for w in warnings)


def test_seconds_are_converted_to_milliseconds(tmp_path: Path) -> None:
    path = write(tmp_path, ["1500000000,10,11,9,10,1"])
    assert read(path) == [(1_500_000_000_000, 10.0)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0,10,11,9,abc,1", "c.csv:3: not a number in"),
        ("0,10,11,9,10", "c.csv:3: expected 6 fields, got 5"),
        ("0,10,9,9,10,1", "c.csv:3: bar KRW-BTC 0: high/low must contain open and close"),
        ("0,10,11,9,10,nan", "c.csv:3: not a finite number"),
        ("0,10,11,9,10,-1", "c.csv:3: bar KRW-BTC 0: volume must be >= 0"),
    ],
)
def test_malformed_rows_name_their_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, [f"{H},10,11,9,10,1", row])
    with pytest.raises(DataError, match=re.escape(message)):
        read(path)


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("when,o,h,l,c,v\n0,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"h\.csv:1: header must name the columns"):
        read(path)
    with pytest.raises(DataError, match="cannot read candles"):
        read(tmp_path / "missing.csv")


def test_open_csv_source_only_answers_csv_paths() -> None:
    assert open_csv_source("data/x.csv") is not None
    assert open_csv_source("file:///data/x.csv") is not None
    assert open_csv_source("sqlite:///x.db") is None
    assert open_csv_source("data/x.parquet") is None
