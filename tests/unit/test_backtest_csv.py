"""fills.csv and equity.csv: every number reads back as the same float, times in two forms."""

from __future__ import annotations

import csv
from array import array
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradekit.backtest_csv import write_equity_csv, write_fills_csv
from tradekit.models import Fill, Side

T = 1_600_000_000_000


def iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def test_fills_read_back_exactly(tmp_path: Path) -> None:
    fills = [
        Fill(T, "KRW-BTC", Side.BUY, 44352441.0, 0.01127333, 1249.999259246325, "entry"),
        Fill(
            T + 3_600_123, "KRW-ETH", Side.SELL, 45683014.230000004, 1e-08, 0.1 + 0.2, "take_profit"
        ),
    ]
    path = tmp_path / "fills.csv"
    write_fills_csv(fills, path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert path.read_text().splitlines()[0] == "time_ms,time,market,side,price,quantity,fee,reason"
    assert [
        Fill(
            int(r["time_ms"]),
            r["market"],
            Side(r["side"]),
            float(r["price"]),
            float(r["quantity"]),
            float(r["fee"]),
            r["reason"],
        )
        for r in rows
    ] == fills
    assert [r["time"] for r in rows] == [iso(T), iso(T + 3_600_123)]
    assert rows[1]["time"] == "2020-09-13T13:26:40.123Z"


def test_no_fills_is_a_header(tmp_path: Path) -> None:
    path = tmp_path / "fills.csv"
    write_fills_csv([], path)
    assert path.read_text() == "time_ms,time,market,side,price,quantity,fee,reason\n"


def test_equity_reads_back_exactly_from_arrays_and_lists(tmp_path: Path) -> None:
    times = [T + i * 3_600_000 for i in range(5)]
    values = [10_000_000.0, 9_999_999.999999998, 1e-300, 123456789.12345679, 0.30000000000000004]
    for name, (t, v) in {
        "arrays": (array("q", times), array("d", values)),
        "lists": (times, values),
    }.items():
        path = tmp_path / f"{name}.csv"
        write_equity_csv(t, v, path)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(int(r["time_ms"]), r["time"], float(r["equity"])) for r in rows] == [
            (ms, iso(ms), value) for ms, value in zip(times, values, strict=True)
        ]


def test_flat_equity_is_written_value_by_value_and_signed_zeros_apart(tmp_path: Path) -> None:
    # Long flat runs (no position) are converted once per run: each row must still be its own.
    values = [10_000_000.0] * 1_000 + [0.0, -0.0, -0.0, 0.0] + [9_999_999.999999998] * 500
    values += [0.1 + 0.2] + [10_000_000.0] * 3
    times = [T + i * 3_600_000 for i in range(len(values))]
    path = tmp_path / "equity.csv"
    write_equity_csv(array("q", times), array("d", values), path)
    lines = path.read_text().splitlines()[1:]
    assert [line.rsplit(",", 1)[1] for line in lines] == [
        repr(v).removesuffix(".0") for v in values
    ]
    assert [line.split(",")[1] for line in lines] == [iso(ms) for ms in times]


def test_times_outside_four_digit_years_take_the_slow_path_alike() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from tradekit.backtest_csv import _iso, _iso_fixed_width

    ordinary = pa.array([T, T + 1, T + 3_600_123, 0, -1], pa.int64())
    assert _iso(ordinary).to_pylist() == [iso(ms) for ms in ordinary.to_pylist()]
    year_10000 = pa.array([T, 253_402_300_800_000], pa.int64())
    text = pc.cast(pc.cast(year_10000, pa.timestamp("ms")), pa.string())
    assert _iso_fixed_width(text) is None
    assert _iso(year_10000)[0].as_py() == iso(T)


def test_equity_written_a_slice_at_a_time_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from tradekit import backtest_csv

    rng = random.Random(5)
    times = array("q", (1_600_000_000_000 + i * 3_600_000 for i in range(1000)))
    values = array("d")
    for _ in range(1000):  # flat runs that cross the slices' edges, and changes within them
        values.append(values[-1] if values and rng.random() < 0.8 else rng.uniform(-1e7, 1e7))
    whole, sliced, empty = tmp_path / "whole.csv", tmp_path / "sliced.csv", tmp_path / "e.csv"
    backtest_csv.write_equity_csv(times, values, whole)
    monkeypatch.setattr(backtest_csv, "_EQUITY_ROWS", 7)
    backtest_csv.write_equity_csv(times, values, sliced)
    assert sliced.read_bytes() == whole.read_bytes()
    assert whole.read_text().count("\n") == 1001
    backtest_csv.write_equity_csv(array("q"), array("d"), empty)
    assert empty.read_text() == "time_ms,time,equity\n"
