"""The example backtest's report and summary: the facts a reader needs, checked against the data."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tradekit.backtest import BacktestResult, run_backtest, write_report
from tradekit.config import load_settings
from tradekit.plugins import load_plugins

EXAMPLE = Path(__file__).parents[2] / "examples" / "backtest.yaml"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestResult, Path]:
    settings = load_settings(EXAMPLE, load_plugins())
    result = run_backtest(settings)
    out = tmp_path_factory.mktemp("report")
    write_report(result, out)
    return result, out


def test_summary_has_the_buy_and_hold_return_and_the_parameters(
    example: tuple[BacktestResult, Path],
) -> None:
    _result, out = example
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    with (EXAMPLE.parent / "data" / "bithumb_btc_krw_1h.csv").open(encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: int(r["timestamp"]))
    first_open, last_close = float(rows[0]["open"]), float(rows[-1]["close"])
    assert summary["benchmark_return"] == pytest.approx(last_close / first_open - 1)
    assert summary["benchmark_return"] > 5  # BTC rose more than 500% over these hours
    params = summary["parameters"]
    assert params["strategy"]["use"] == "breakout"
    assert params["strategy"]["lookback"] == 20
    assert [r["use"] for r in params["risk"]] == ["daily_loss_limit", "position_size"]
    assert params["backtest"]["fee_rate"] == 0.0025
    assert params["markets"] == ["KRW-BTC"]


def test_report_states_the_benchmark_and_that_fees_exceeded_the_loss(
    example: tuple[BacktestResult, Path],
) -> None:
    result, out = example
    page = (out / "report.html").read_text(encoding="utf-8")
    with (out / "fills.csv").open(encoding="utf-8") as handle:
        fees = sum(float(r["fee"]) for r in csv.DictReader(handle))
    loss = result.initial_equity - result.final_equity
    assert 0 < loss < fees  # the fact the report must make obvious
    verdict = re.sub(r"<[^>]+>", "", re.search(r'<div class="verdict">.*?</div>', page, re.S)[0])
    assert f"lost {-(result.final_equity / result.initial_equity - 1):.2%}" in verdict.replace(
        "−", ""
    )
    assert f"gained {result.summary['benchmark_return']:.1%}" in verdict
    assert f"Fees ({fees:,.0f} KRW) were larger than the net loss" in verdict


def test_report_marks_and_lists_every_round_trip(example: tuple[BacktestResult, Path]) -> None:
    result, out = example
    page = (out / "report.html").read_text(encoding="utf-8")
    tips = re.findall(r'<g class="trade"><title>([^<]+)</title>', page)
    assert len(tips) == len(result.trades) == 382
    reasons = {t.exit_reason for t in result.trades}
    assert {tip.split(":")[0].split()[1] for tip in tips} == reasons
    rows = re.findall(r"<tr><td>\d+</td><td>KRW-BTC</td>", page)
    assert len(rows) == len(result.trades)
    years = re.findall(r"<tr><th>(\d{4})</th>", page)
    assert years == ["2017", "2018", "2019", "2020"]
    assert "2017-07-01 20:00 KST = 2017-07-01 11:00 UTC" in page


def test_another_plugins_candle_source_is_read_bar_by_bar(tmp_path: Path) -> None:
    """Only the built-in readers' columns are known to be checked; any other source's
    candles come through its ``bars``, each checked as it is made, even if it has columns."""
    from tradekit.builtin.csv_source import CsvCandleSource
    from tradekit.hookspecs import hookimpl
    from tradekit.models import Timeframe
    from tradekit.plugins import PluginInfo

    real = CsvCandleSource(EXAMPLE.parent / "data" / "bithumb_btc_krw_1h.csv")

    class Source:
        def columns(self, market: str, timeframe: Timeframe) -> object:
            raise AssertionError("the columns of a plugin's source are not trusted")

        def bars(self, market: str, timeframe: Timeframe) -> object:
            return real.bars(market, timeframe)

    class Plugin:
        @hookimpl
        def open_candle_source(self, uri: str) -> object | None:
            return Source() if uri.startswith("mine://") else None

    host = load_plugins()
    host.register(Plugin(), PluginInfo("mine", "tradekit-mine", "0.1"))
    text = EXAMPLE.read_text(encoding="utf-8").replace("data/bithumb_btc_krw_1h.csv", "mine://btc")
    config = tmp_path / "mine.yaml"
    config.write_text(text, encoding="utf-8")
    mine = run_backtest(load_settings(config, host), host)
    from_file = run_backtest(load_settings(EXAMPLE, load_plugins()))
    assert len(mine.fills) > 500
    assert mine.fills == from_file.fills
    assert list(mine.equity_values) == list(from_file.equity_values)
