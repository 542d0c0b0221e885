"""The real ``tradekit`` script, run as a subprocess like a user would."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tradekit import __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("tradekit")


def tradekit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "TRADEKIT_LOAD_PLUGINS"}
    full_env.update(env or {})
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=120
    )


def test_version() -> None:
    result = tradekit("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tradekit, version {__version__}"


def test_plugins_json_lists_the_shipped_plugins() -> None:
    result = tradekit("plugins", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_dist = {p["distribution"]: p for p in data["plugins"]}
    assert by_dist["tradekit-breakout"]["registers"] == {"strategy": ["breakout"]}
    assert by_dist["tradekit-bithumb"]["registers"]["exchange"] == ["bithumb"]
    assert by_dist["tradekit-slack"]["registers"] == {"notifier": ["slack"]}
    assert by_dist["tradekit-core"]["registers"]["risk_rule"] == [
        "daily_loss_limit",
        "position_size",
    ]
    assert data["errors"] == []


def test_plugins_table_and_blocked_plugins() -> None:
    result = tradekit("plugins", env={"TRADEKIT_LOAD_PLUGINS": "tradekit-slack"})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["builtin", "slack"]


def test_broken_config_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "markets: [KRW-BTC]\n"
        "strategy: {use: breakout, lookback: x, volume_factr: 2}\n"
        "backtest: {data: {KRW-BTC: x.csv}, initial_cash: lots}\n"
    )
    result = tradekit("config", "check", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-4:] == [
        "error: invalid configuration (3 problems):",
        "  backtest.initial_cash: expected number, got 'lots'",
        "  strategy.lookback: expected int, got 'x'",
        "  strategy.volume_factr: unknown key (did you mean 'volume_factor'?)",
    ]


def test_config_check_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "markets: [KRW-BTC]\nstrategy: {use: breakout}\n"
        "api: {token: '${MY_TOKEN}'}\nbacktest: {data: {KRW-BTC: x.csv}}\n"
    )
    result = tradekit("config", "check", str(config), env={"MY_TOKEN": "very-secret-token"})
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["api"]["token"] == "***"
    assert "very-secret-token" not in result.stdout + result.stderr


def test_backtest_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = tradekit("backtest", "examples/backtest.yaml", "--output", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "equity.csv",
        "fills.csv",
        "report.html",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bars"] == 29_705
    assert summary["fills"] == len((out / "fills.csv").read_text().splitlines()) - 1
    for key in (
        "initial_equity",
        "final_equity",
        "total_return",
        "max_drawdown",
        "fills",
        "trades",
        "win_rate",
        "profit_factor",
        "sharpe",
        "exposure",
    ):
        assert key in summary
    assert (out / "equity.csv").read_text().splitlines()[0] == "time_ms,time,equity"
    assert "<svg" in (out / "report.html").read_text()


def test_backtest_with_malformed_candles_exits_2(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "timestamp,open,high,low,close,volume\n1600000000000,1,1,1,x,1\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        "markets: [KRW-BTC]\nstrategy: {use: breakout}\nbacktest: {data: {KRW-BTC: c.csv}}\n"
    )
    result = tradekit("backtest", str(config), "-o", str(tmp_path / "o"), "-q")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "c.csv:2: not a number in ['1600000000000', '1', '1', '1', 'x', '1']"
    )


def test_backtest_of_candles_not_utf8_exits_2_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_bytes(
        b"timestamp,open,high,low,close,volume\n1600000000000,1,1,1,1,1\n1600003600000,1,1,1,1,1\xff\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        "markets: [KRW-BTC]\nstrategy: {use: breakout}\nbacktest: {data: {KRW-BTC: c.csv}}\n"
    )
    result = tradekit("backtest", str(config), "-o", str(tmp_path / "o"), "-q")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'c.csv'}:3: not UTF-8 text (byte 0xff at column 24); "
        "save the file as UTF-8"
    )
    assert not (tmp_path / "o").exists()


def test_backtest_whose_timeframe_does_not_match_the_candles_exits_2(tmp_path: Path) -> None:
    minutes = "".join(f"{1600000800000 + i * 60_000},1,1,1,1,1\n" for i in range(500))
    (tmp_path / "m.csv").write_text("timestamp,open,high,low,close,volume\n" + minutes)
    config = tmp_path / "c.yaml"
    config.write_text(
        "markets: [KRW-BTC]\ntimeframe: 1h\nstrategy: {use: breakout}\n"
        "backtest: {data: {KRW-BTC: m.csv}}\n"
    )
    result = tradekit("backtest", str(config), "-o", str(tmp_path / "o"), "-q")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'm.csv'}: bars 1m apart (2020-09-13 12:40:00 UTC and "
        "2020-09-13 12:41:00 UTC) but the configured timeframe is 1h: set `timeframe` to the "
        "data's interval, or use 1h candles"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args", [["--help"], ["backtest", "--help"], ["config", "check", "--help"]]
)
def test_help(args: list[str]) -> None:
    result = tradekit(*args)
    assert result.returncode == 0
    assert "Usage: tradekit" in result.stdout


def test_db_upgrade_then_backtest_from_stored_candles(tmp_path: Path) -> None:
    """`tradekit db upgrade` creates the store; a backtest reads candles from it by URL."""
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.models import Timeframe
    from tradekit.store import save_bars

    url = f"sqlite:///{tmp_path / 'candles.db'}"
    config = tmp_path / "config.yaml"
    example = yaml.safe_load((ROOT / "examples" / "backtest.yaml").read_text(encoding="utf-8"))
    example["storage"] = {"url": url}
    example["backtest"]["data"] = {"KRW-BTC": url}
    config.write_text(yaml.safe_dump(example), encoding="utf-8")

    upgraded = tradekit("db", "upgrade", str(config))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "at schema revision" in upgraded.stdout

    candle_file = CsvCandleSource(ROOT / "examples" / "data" / "bithumb_btc_krw_1h.csv")
    bars = list(candle_file.bars("KRW-BTC", Timeframe("1h")))[:3000]
    assert save_bars(url, "1h", bars) == len(bars)

    out = tmp_path / "out"
    result = tradekit("backtest", str(config), "--output", str(out), "--quiet", "--store")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["bars"] == len(bars)
    assert summary["fills"] > 0

    from tradekit.store import Store

    with Store.open(url) as store:
        (run,) = store.runs()
        assert (run["mode"], run["ended_ms"] is not None) == ("backtest", True)
        assert f"stored run {run['id']}" in result.stdout
        fills = store.fills()
    with (out / "fills.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(fills) == summary["fills"] == len(rows)
    assert [(f.time_ms, f.side.value, f.quantity) for f in fills] == [
        (int(r["time_ms"]), r["side"], float(r["quantity"])) for r in rows
    ]


def test_backtest_store_at_the_wrong_schema_fails_before_running(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('ffff_from_the_future')")
    example = yaml.safe_load((ROOT / "examples" / "backtest.yaml").read_text(encoding="utf-8"))
    example["storage"] = {"url": f"sqlite:///{db}"}
    example["backtest"]["data"] = {"KRW-BTC": str(ROOT / "examples" / "data" / "missing.csv")}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(example), encoding="utf-8")
    result = tradekit("backtest", str(config), "--output", str(tmp_path / "out"), "--store")
    assert result.returncode == 1
    assert "newer than this tradekit knows" in result.stderr
    assert not (tmp_path / "out").exists()


def test_db_upgrade_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mode: backtest\nstorage: {ur1: 'sqlite:///x.db'}\n", encoding="utf-8")
    result = tradekit("db", "upgrade", str(config))
    assert result.returncode == 2
    assert "storage.ur1" in result.stderr
    assert "did you mean 'url'" in result.stderr


@pytest.mark.parametrize("name", ["backtest.yaml", "paper.yaml"])
def test_example_configs_are_valid(name: str) -> None:
    result = tradekit("config", "check", str(ROOT / "examples" / name))
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["strategy"]["use"] == "breakout"


NOT_A_MARKET = "is not a market id (expected QUOTE-BASE in capitals and digits, e.g. KRW-BTC)"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"risk": [{"use": "daily_loss_limit", "limit": 0.05}]},
            "risk: no rule sizes entries in ['daily_loss_limit']; add one such as "
            "{use: position_size, fraction: 0.05}",
        ),
        ({"markets": ["../etc"]}, f"markets[0]: '../etc' {NOT_A_MARKET}"),
        (
            {"storage": {"url": "postgres://bot:hunter2-db-password@db/bot"}},
            "storage.url: unknown database 'postgres' in 'postgres://bot:***@db/bot' "
            "(e.g. sqlite:///tradekit.db or postgresql+psycopg://user@host/db)",
        ),
    ],
)
def test_config_check_refuses_what_run_refuses(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    config: dict[str, object] = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        # Never contacted: the config is refused before anything starts.
        "exchange": {
            "use": "bithumb",
            "base_url": "http://127.0.0.1:9",
            "ws_url": "ws://127.0.0.1:9",
        },
        "strategy": {"use": "breakout"},
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "api": {"enabled": False},
        **change,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    check = tradekit("config", "check", str(path))
    run = tradekit("run", str(path))
    for result in (check, run):
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1] == f"error: invalid configuration: {problem}"
        assert "hunter2" not in result.stdout + result.stderr
    assert check.stdout == ""  # nothing printed as if it were fine
    assert not (tmp_path / "bot.db").exists()  # run started nothing


def test_config_check_refuses_an_api_port_that_run_could_not_bind(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "paper.yaml"
        config.write_text(
            "mode: paper\nmarkets: [KRW-BTC]\nexchange: {use: bithumb}\n"
            "strategy: {use: breakout}\nrisk: [{use: position_size, fraction: 0.05}]\n"
            f"api: {{port: {port}}}\n",
            encoding="utf-8",
        )
        result = tradekit("config", "check", str(config))
    assert result.returncode == 2
    assert f"api.port: 127.0.0.1:{port}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_backtest_of_parquet_candles_matches_the_csv_backtest(tmp_path: Path) -> None:
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.builtin.parquet_candles import write_parquet_candles
    from tradekit.models import Timeframe

    example = yaml.safe_load((ROOT / "examples" / "backtest.yaml").read_text(encoding="utf-8"))
    csv_path = ROOT / "examples" / example["backtest"]["data"]["KRW-BTC"]
    bars = list(CsvCandleSource(csv_path).bars("KRW-BTC", Timeframe(example["timeframe"])))
    parquet = tmp_path / "candles.pq"
    write_parquet_candles(parquet, bars)
    summaries = []
    for name, data in (("csv", csv_path), ("parquet", parquet)):
        example["backtest"]["data"] = {"KRW-BTC": str(data)}
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(example), encoding="utf-8")
        result = tradekit("backtest", str(config), "--output", str(tmp_path / name), "-q")
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        summary.pop("parameters")  # names the candle file
        summaries.append(summary)
        assert (
            (tmp_path / name / "fills.csv")
            .read_text()
            .splitlines()[0]
            .startswith("time_ms,time,market")
        )
    assert summaries[0] == summaries[1]
    assert summaries[0]["fills"] > 0
    assert (tmp_path / "csv" / "fills.csv").read_text() == (
        tmp_path / "parquet" / "fills.csv"
    ).read_text()
