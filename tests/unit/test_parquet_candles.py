"""Parquet candle files: read like CSV (same checks, rows named), chosen by name or content."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from loguru import logger

from tradekit.builtin.csv_source import CsvCandleSource
from tradekit.builtin.parquet_candles import (
    ParquetCandleSource,
    last_parquet_time,
    open_parquet_source,
    write_parquet_candles,
)
from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe
from tradekit.plugins import load_plugins

H = 3_600_000
T = 1_600_000_000_000
ONE_HOUR = Timeframe("1h")


def table(times: list[Any], rows: list[tuple[Any, ...]] | None = None, **types: Any) -> pa.Table:
    rows = rows or [(10.0, 11.0, 9.0, 10.0, 1.0)] * len(times)
    columns: dict[str, Any] = {"timestamp": pa.array(times, types.get("time"))}
    for i, name in enumerate(("open", "high", "low", "close", "volume")):
        columns[name] = pa.array([r[i] for r in rows], types.get(name))
    return pa.table(columns)


def save(tmp_path: Path, data: pa.Table, name: str = "c.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(data, path)
    return path


def read(path: Path) -> list[Bar]:
    return list(ParquetCandleSource(path).bars("KRW-BTC", ONE_HOUR))


def test_the_example_data_reads_as_from_csv(real_candles: Path, tmp_path: Path) -> None:
    from_csv = list(CsvCandleSource(real_candles).bars("KRW-BTC", ONE_HOUR))
    path = tmp_path / "btc.parquet"
    write_parquet_candles(path, from_csv[:10_000])
    write_parquet_candles(path, from_csv[10_000:])  # appended, as a resumed download does
    assert read(path) == from_csv
    assert last_parquet_time(path) == from_csv[-1].time_ms


def test_chosen_by_extension_or_by_content(tmp_path: Path) -> None:
    path = save(tmp_path, table([T]), "candles.dat")
    assert open_parquet_source(str(path)) is not None
    assert open_parquet_source(f"file://{path}") is not None
    assert open_parquet_source(str(tmp_path / "missing.parquet")) is not None
    assert open_parquet_source(str(tmp_path / "missing.dat")) is None
    (tmp_path / "x.csv").write_text("timestamp,open,high,low,close,volume\n")
    assert open_parquet_source(str(tmp_path / "x.csv")) is None
    host = load_plugins()
    assert isinstance(host.open_candle_source(str(path)), ParquetCandleSource)
    assert isinstance(host.open_candle_source(str(tmp_path / "x.csv")), CsvCandleSource)


def test_time_as_timestamps_seconds_or_integers(tmp_path: Path) -> None:
    expected = [T, T + H]
    for name, data in {
        "ms": table(expected),
        "seconds": table([T // 1000, (T + H) // 1000]),
        "float": table([float(T), float(T + H)]),
        "timestamp_us": table([T * 1000, (T + H) * 1000], time=pa.timestamp("us", tz="UTC")),
        "timestamp_s": table([T // 1000, (T + H) // 1000], time=pa.timestamp("s")),
        "decimals": table(
            expected,
            [(10, 11, 9, 10, 1)] * 2,
            **{n: pa.decimal128(10, 2) for n in ("open", "high", "low", "close", "volume")},
        ),
    }.items():
        bars = read(save(tmp_path, data, f"{name}.parquet"))
        assert [(b.time_ms, b.open, b.high, b.volume) for b in bars] == [
            (t, 10.0, 11.0, 1.0) for t in expected
        ], name


@pytest.mark.parametrize(
    ("second", "row", "message"),
    [
        (T + H, (10.0, 9.0, 9.0, 10.0, 1.0), "row 2: bar KRW-BTC 1600003600000: high/low must"),
        (T + H, (10.0, 11.0, 9.0, 10.0, -1.0), "row 2: bar KRW-BTC 1600003600000: volume must"),
        (T + H, (10.0, 11.0, 9.0, float("nan"), 1.0), "row 2: not a finite number in"),
        (T + H, (10.0, 11.0, 9.0, None, 1.0), "row 2: missing value in"),
        (-1, (10.0, 11.0, 9.0, 10.0, 1.0), "row 2: timestamp '-1' is out of range"),
        (
            T + 0.5,
            (10.0, 11.0, 9.0, 10.0, 1.0),
            "row 2: timestamp '1600000000000.5' is not a whole",
        ),
    ],
)
def test_a_bad_row_is_named(
    tmp_path: Path, second: float, row: tuple[Any, ...], message: str
) -> None:
    data = table([T, second], [(10.0, 11.0, 9.0, 10.0, 1.0), row])
    with pytest.raises(DataError, match=re.escape(message)):
        read(save(tmp_path, data))


def test_missing_columns_text_columns_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"c\.parquet: columns must include timestamp,open"):
        read(save(tmp_path, pa.table({"when": [T], "open": [1.0]})))
    text = table([T]).set_column(4, "close", pa.array(["10"]))
    with pytest.raises(DataError, match=r"column 'close' holds string, not numbers"):
        read(save(tmp_path, text))
    with pytest.raises(DataError, match=r"no candle rows"):
        read(save(tmp_path, table([], [])))
    with pytest.raises(DataError, match=r"missing\.parquet: cannot read candles"):
        read(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_text("timestamp,open\n")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        read(tmp_path / "bad.parquet")


def test_names_in_any_case_unsorted_rows_and_duplicates(tmp_path: Path) -> None:
    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    try:
        data = table([T + 2 * H, T, T]).rename_columns(
            ["Open_Time", "OPEN", "High", "low", "close", "Volume"]
        )
        assert [b.time_ms for b in read(save(tmp_path, data))] == [T, T + 2 * H]
    finally:
        logger.remove(handler)
    assert any("1 rows out of time order" in m for m in messages)
    assert any("1 duplicate timestamps dropped" in m for m in messages)


def test_spacing_is_checked(tmp_path: Path) -> None:
    minutes = table([T + i * 60_000 for i in range(10)])
    with pytest.raises(DataError, match=r"bars 1m apart .* timeframe is 1h"):
        read(save(tmp_path, minutes))


def test_nanosecond_timestamps_as_pandas_writes_them(tmp_path: Path) -> None:
    # pandas stores datetime64[ns] columns as timestamp[ns]; their counts exceed 2**53, which a
    # safe cast to float64 refuses: the file failed with a bare ArrowInvalid, not a DataError.
    expected = [T, T + H]
    ns = table([t * 1_000_000 for t in expected], time=pa.timestamp("ns", tz="UTC"))
    bars = read(save(tmp_path, ns, "ns.parquet"))
    assert [b.time_ms for b in bars] == expected
    part = table([T * 1_000_000, (T + H) * 1_000_000 + 1], time=pa.timestamp("ns"))
    with pytest.raises(DataError, match=r"row 2: timestamp .* is not a whole number"):
        read(save(tmp_path, part, "part.parquet"))


def test_a_bad_row_of_a_nanosecond_file_is_named(tmp_path: Path) -> None:
    data = table(
        [T * 1_000_000, (T + H) * 1_000_000 + 1],
        [(10.0, 11.0, 9.0, 10.0, 1.0), (10.0, 11.0, 9.0, 10.0, -1.0)],
        time=pa.timestamp("ns"),
    )
    with pytest.raises(DataError, match="row 2: timestamp '1600003600000000001 ns' is not"):
        read(save(tmp_path, data))
    data = table(
        [T * 1_000_000, (T + H) * 1_000_000],
        [(10.0, 11.0, 9.0, 10.0, 1.0), (10.0, 11.0, 9.0, 10.0, -1.0)],
        time=pa.timestamp("ns"),
    )
    with pytest.raises(DataError, match="row 2: bar KRW-BTC 1600003600000: volume must"):
        read(save(tmp_path, data))
