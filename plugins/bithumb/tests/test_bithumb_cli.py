"""``tradekit bithumb markets`` and ``tradekit download`` against the fake Bithumb server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from tradekit_bithumb import hooks
from tradekit_bithumb.cli import parse_date
from tradekit_bithumb.testing import FakeBithumb

from tradekit.builtin.csv_source import CsvCandleSource
from tradekit.builtin.parquet_candles import ParquetCandleSource
from tradekit.errors import DataError
from tradekit.models import Bar, Timeframe
from tradekit.store.candles import StoreCandleSource

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SCRIPT = Path(sys.executable).with_name("tradekit")


@pytest.fixture
def cli() -> click.Group:
    """A bare command group with this plugin's commands, as ``register_commands`` adds them."""

    @click.group()
    def group() -> None:
        pass

    hooks.register_commands(cli=group)
    return group


@pytest.fixture
def server(fake_bithumb: FakeBithumb) -> FakeBithumb:
    rows = [(T0 + i * HOUR_MS, 100 + i, 110 + i, 90 + i, 105 + i, "0.5") for i in range(450)]
    fake_bithumb.load_candles("KRW-BTC", 60, rows)
    return fake_bithumb


def run(cli: click.Group, server: FakeBithumb, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"TRADEKIT_BITHUMB_BASE_URL": server.base_url})


def download(
    cli: click.Group, server: FakeBithumb, output: str, until_hours: int, *extra: str
) -> Result:
    return run(
        cli,
        server,
        "download",
        "krw-btc",
        "--timeframe",
        "1h",
        "--since",
        "2024-01-01",
        "--until",
        str(T0 + until_hours * HOUR_MS),
        "--output",
        output,
        *extra,
    )


def csv_times(path: Path) -> list[int]:
    return [bar.time_ms for bar in CsvCandleSource(path).bars("KRW-BTC", Timeframe("1h"))]


def test_markets_table_and_json(cli: click.Group, fake_bithumb: FakeBithumb) -> None:
    fake_bithumb.add_market("KRW-DOGE", "도지코인", "Dogecoin", warning="CAUTION")
    table = run(cli, fake_bithumb, "bithumb", "markets")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[0] == "KRW-BTC"
    assert "Bitcoin (비트코인)" in lines[0]
    assert lines[-1].endswith("[CAUTION]")
    as_json = run(cli, fake_bithumb, "bithumb", "markets", "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert rows[0] == {
        "market": "KRW-BTC",
        "korean_name": "비트코인",
        "english_name": "Bitcoin",
        "warning": "NONE",
    }
    assert len(rows) == 4


def test_markets_base_url_option_beats_the_environment(
    cli: click.Group, fake_bithumb: FakeBithumb
) -> None:
    result = CliRunner().invoke(
        cli,
        ["bithumb", "markets", "--json", "--base-url", fake_bithumb.base_url],
        env={"TRADEKIT_BITHUMB_BASE_URL": "http://127.0.0.1:9"},  # nothing listens there
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 3


def test_download_writes_a_csv_the_csv_source_reads(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    result = download(cli, server, str(out), 450)
    assert result.exit_code == 0, result.output
    assert "wrote 450 1h candles of KRW-BTC" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1] == f"{T0},100,110,90,105,0.5"
    bars = list(CsvCandleSource(out).bars("KRW-BTC", Timeframe("1h")))
    assert [b.time_ms for b in bars] == [T0 + i * HOUR_MS for i in range(450)]
    assert bars[-1].close == 554
    assert len(server.requests_to("GET", "/v1/candles/minutes/60")) >= 3  # paginated


def test_download_resumes_after_the_last_bar(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    first = download(cli, server, str(out), 200, "--quiet")
    assert first.exit_code == 0, first.output
    assert "wrote 200 " in first.output
    second = download(cli, server, str(out), 450, "--quiet")
    assert second.exit_code == 0, second.output
    assert "wrote 250 " in second.output  # only what was missing
    assert csv_times(out) == [T0 + i * HOUR_MS for i in range(450)]
    assert len(out.read_text().splitlines()) == 451  # header + one line per bar, no repeats
    again = download(cli, server, str(out), 450, "--quiet")
    assert "wrote 0 " in again.output


def test_download_cuts_off_a_torn_last_line(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    assert download(cli, server, str(out), 100, "--quiet").exit_code == 0
    with out.open("a") as handle:
        handle.write(f"{T0 + 100 * HOUR_MS},200,21")  # a run killed mid-line
    result = download(cli, server, str(out), 150, "--quiet")
    assert result.exit_code == 0, result.output
    assert "wrote 50 " in result.output
    assert csv_times(out) == [T0 + i * HOUR_MS for i in range(150)]


def test_download_refuses_a_file_that_is_not_a_candle_csv(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = tmp_path / "notes.csv"
    out.write_text("name,age\nx,1\n")
    result = download(cli, server, str(out), 10, "--quiet")
    assert isinstance(result.exception, DataError)
    assert "header" in str(result.exception)
    assert out.read_text() == "name,age\nx,1\n"  # untouched


def test_download_into_a_store_url_and_resume(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'candles.db'}"
    first = download(cli, server, url, 300, "--quiet")
    assert first.exit_code == 0, first.output
    second = download(cli, server, url, 450, "--quiet")
    assert second.exit_code == 0, second.output
    assert "wrote 150 " in second.output
    bars = list(StoreCandleSource(url).bars("KRW-BTC", Timeframe("1h")))
    assert [b.time_ms for b in bars] == [T0 + i * HOUR_MS for i in range(450)]


def test_download_rejects_bad_arguments(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = str(tmp_path / "x.csv")
    bad_tf = run(cli, server, "download", "KRW-BTC", "-t", "2h", "--since", "2024-01-01", "-o", out)
    assert bad_tf.exit_code != 0
    assert "2h" in str(bad_tf.exception or bad_tf.output)
    bad_date = run(cli, server, "download", "KRW-BTC", "--since", "last week", "-o", out)
    assert bad_date.exit_code == 2
    assert "expected YYYY-MM-DD" in bad_date.output
    bad_market = run(cli, server, "download", "../etc", "--since", "2024-01-01", "-o", out)
    assert bad_market.exit_code == 2
    assert "Invalid value for MARKET: '../ETC' is not a market id" in bad_market.output
    assert server.requests == []  # nothing was asked
    assert not Path(out).exists()


def test_parse_date() -> None:
    assert parse_date("2024-01-01") == T0
    assert parse_date("2024-01-01T09:00:00+09:00") == T0
    assert parse_date("2024-01-01T01:30") == T0 + 90 * 60_000
    assert parse_date(str(T0)) == T0


def test_the_tradekit_script_has_the_commands(fake_bithumb: FakeBithumb) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    env["TRADEKIT_BITHUMB_BASE_URL"] = fake_bithumb.base_url
    result = subprocess.run(
        [str(SCRIPT), "bithumb", "markets", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [row["market"] for row in json.loads(result.stdout)] == ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    helped = subprocess.run(
        [str(SCRIPT), "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "download" in helped.stdout
    assert "bithumb" in helped.stdout


def parquet_bars(path: Path) -> list[Bar]:
    return list(ParquetCandleSource(path).bars("KRW-BTC", Timeframe("1h")))


@pytest.mark.parametrize(
    ("name", "extra"), [("btc.parquet", ()), ("btc.data", ("--format", "parquet"))]
)
def test_download_writes_parquet_by_extension_or_format_and_resumes(
    cli: click.Group, server: FakeBithumb, tmp_path: Path, name: str, extra: tuple[str, ...]
) -> None:
    out = tmp_path / name
    first = download(cli, server, str(out), 200, "--quiet", *extra)
    assert first.exit_code == 0, first.output
    assert out.read_bytes()[:4] == b"PAR1"
    second = download(cli, server, str(out), 450, "--quiet", *extra)
    assert second.exit_code == 0, second.output
    assert "wrote 250 " in second.output  # resumed after the last bar
    bars = parquet_bars(out)
    assert [b.time_ms for b in bars] == [T0 + i * HOUR_MS for i in range(450)]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (
        100,
        110,
        90,
        105,
        0.5,
    )
    # The same candles as the CSV download.
    as_csv = tmp_path / "btc.csv"
    assert download(cli, server, str(as_csv), 450, "--quiet").exit_code == 0
    assert bars == list(CsvCandleSource(as_csv).bars("KRW-BTC", Timeframe("1h")))


def test_download_refuses_a_parquet_output_that_is_not_candles(
    cli: click.Group, server: FakeBithumb, tmp_path: Path
) -> None:
    out = tmp_path / "notes.parquet"
    out.write_text("not parquet\n")
    result = download(cli, server, str(out), 10, "--quiet")
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError)
    assert "is not a Parquet candle file" in str(result.exception)
    assert out.read_text() == "not parquet\n"
    bad = download(cli, server, "sqlite:///x.db", 10, "--quiet", "--format", "parquet")
    assert bad.exit_code == 2
    assert "a store URL has no file format" in bad.output
