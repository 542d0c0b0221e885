"""The built-in CSV candle reader: quirks tolerated with a warning, bad rows rejected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from loguru import logger

from tradekit.builtin.csv_source import CsvCandleSource, _read_fast, open_csv_source
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


# -- bad bytes and bad times -------------------------------------------------------------


def write_bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Latin-1 in a price, a cp949 (Korean) note in a column the reader ignores, a bad header.
        (
            HEADER.encode() + f"{T},10,11,9,10,1\n{T + H},10,11,9,1\xe90,1\n".encode("latin-1"),
            "c.csv:3: not UTF-8 text (byte 0xe9 at column 24)",
        ),
        (
            b"timestamp,open,high,low,close,volume,note\n"
            + f"{T},10,11,9,10,1,ok\n{T + H},10,11,9,10,1,".encode()
            + "비트".encode("cp949")
            + b"\n",
            "c.csv:3: not UTF-8 text (byte 0xba at column 28)",
        ),
        (
            b"time\xff,open,high,low,close,volume\n",
            "c.csv:1: not UTF-8 text (byte 0xff at column 5)",
        ),
    ],
)
def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message + "; save the file as UTF-8")):
        read(write_bytes(tmp_path, data))


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # What spreadsheet programs write for "CSV UTF-8".
    path = write_bytes(tmp_path, b"\xef\xbb\xbf" + HEADER.encode() + f"{T},10,11,9,10,1\n".encode())
    assert read(path) == [(T, 10.0)]


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("1e30", "timestamp '1e30' is out of range (0 to 253402300799999 ms"),
        ("9223372036854775808", "timestamp '9223372036854775808' is out of range"),
        ("253402300800000", "timestamp '253402300800000' is out of range"),  # year 10000
        ("-1", "timestamp '-1' is out of range"),
        (f"-{T}", f"timestamp '-{T}' is out of range"),
        (f"{T}.5", f"timestamp '{T}.5' is not a whole number of milliseconds"),
        ("inf", "not a finite number"),
    ],
)
def test_times_out_of_range_or_not_whole_name_their_line(
    tmp_path: Path, stamp: str, message: str
) -> None:
    path = write(tmp_path, [f"{T},10,11,9,10,1", f"{stamp},10,11,9,10,1"])
    with pytest.raises(DataError, match=re.escape(f"c.csv:3: {message}")):
        read(path)


def test_the_last_representable_time_and_fractional_seconds_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, ["253402300799999,10,11,9,10,1", "1500000000.123,10,11,9,10,1"])
    # Seconds with a fraction round to the nearest millisecond (1.123 * 1000 is 1122.99...).
    assert read(path) == [(1_500_000_000_123, 10.0), (253_402_300_799_999, 10.0)]


def test_an_oversized_field_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, [f"{T},10,11,9,10,1", f"{T + H},10,11,9,10,1" + "0" * 200_000])
    with pytest.raises(DataError, match=r"c\.csv:3: field larger than field limit"):
        read(path)


# -- the timeframe -----------------------------------------------------------------------

M = 60_000


def test_bars_closer_than_the_timeframe_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [f"{T + i * M},10,11,9,10,1" for i in range(100)])  # minute bars
    message = (
        "c.csv: bars 1m apart (2020-09-13 12:26:40 UTC and 2020-09-13 12:27:40 UTC) but the "
        "configured timeframe is 1h: set `timeframe` to the data's interval, or use 1h candles"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        read(path)


def test_one_stray_bar_too_close_is_refused_too(tmp_path: Path) -> None:
    rows = [f"{T + i * H},10,11,9,10,1" for i in range(10)] + [f"{T + 5 * H + 90_000},10,11,9,10,1"]
    with pytest.raises(DataError, match=r"bars 90s apart .* timeframe is 1h"):
        read(write(tmp_path, rows))


def test_data_mostly_farther_apart_than_the_timeframe_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [f"{T + i * H},10,11,9,10,1" for i in range(48)])  # hourly bars
    message = (
        "c.csv: most bars are 1h apart (47 of 47; 0 are 1m apart) but the configured timeframe "
        "is 1m: set `timeframe: 1h`, or use 1m candles"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        list(CsvCandleSource(path).bars("KRW-BTC", Timeframe("1m")))


def test_gaps_in_data_of_the_right_timeframe_are_only_warned_about(
    tmp_path: Path, warnings: list[str]
) -> None:
    # A third of the hours are missing (a quiet market): still hourly data.
    hours = [h for h in range(60) if h % 3 != 2]
    path = write(tmp_path, [f"{T + h * H},10,11,9,10,1" for h in hours])
    assert [t for t, _ in read(path)] == [T + h * H for h in hours]
    assert any("19 gaps in the data (19 missing 1h bars)" in w for w in warnings)


# -- the columnar reading and the row reader agree ---------------------------------------


def test_the_columnar_reading_gives_what_the_row_reader_gives(real_candles: Path) -> None:
    columnar = _read_fast(real_candles)
    assert columnar is not None
    rows = CsvCandleSource(real_candles)._read("KRW-BTC")
    assert columnar[0] == rows[0]
    assert columnar[1] == rows[1]


def test_quirks_and_seconds_are_read_columnar(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            f"{T + 2 * H},10,11,9,10,1",
            f"{T},10,11,9,10,1",
            f"{T},10,11,9,10,1",
            "",
            "1.5e9,1,1,1,1,0",
        ],
    )
    columnar = _read_fast(path)
    assert columnar is not None
    assert list(columnar[0]) == [T + 2 * H, T, T, 1_500_000_000_000]
    assert columnar == CsvCandleSource(path)._read("KRW-BTC")


@pytest.mark.parametrize(
    "row",
    [
        "0,10,11,9,abc,1",
        "0,10,11,9,10",
        "0,10,9,9,10,1",
        "0,10,11,9,10,nan",
        "0,10,11,9,10,-1",
        "-1,10,11,9,10,1",
        f"{T}.5,10,11,9,10,1",
        "253402300800000,10,11,9,10,1",
        "0,0,1,0,1,1",
        "0,10,11,9,10,",
    ],
)
def test_a_row_that_fails_is_left_to_the_row_reader(tmp_path: Path, row: str) -> None:
    # The row reader names the line (the tests above); the columnar reading only says "not me".
    assert _read_fast(write(tmp_path, [f"{H},10,11,9,10,1", row])) is None


def test_bars_of_checked_columns_are_ordinary_frozen_bars(real_candles: Path) -> None:
    import attrs

    from tradekit.models import Bar

    bars = list(CsvCandleSource(real_candles).bars("KRW-BTC", Timeframe("1h")))
    rebuilt = [Bar(b.market, b.time_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    assert bars == rebuilt
    assert [hash(b) for b in bars[:100]] == [hash(b) for b in rebuilt[:100]]
    assert type(bars[0]) is Bar
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        bars[0].close = 1.0  # type: ignore[misc]
