"""The backtest summary in words: labelled figures and the verdict against buy-and-hold."""

from __future__ import annotations

from typing import Any

import pytest

from tradekit.summary_text import summary_rows, verdict

BASE: dict[str, Any] = {
    "markets": ["KRW-BTC"],
    "start_time_ms": 1_498_950_000_000 - 1_498_950_000_000 % 3_600_000,
    "initial_equity": 10_000_000.0,
    "benchmark_return": 5.5858,
    "sharpe": None,
}


def test_fees_larger_than_the_loss_are_called_out() -> None:
    summary = {**BASE, "final_equity": 9_416_354.0, "fees": 928_290.0}
    assert verdict(summary) == (
        "The strategy lost 5.84% (−583,646 KRW); buying and holding KRW-BTC gained 558.58%. "
        "Fees (928,290 KRW) were larger than the net loss: before fees the trades made "
        "+344,644 KRW."
    )


@pytest.mark.parametrize(
    ("final", "fees", "ending"),
    [
        (10_300_000.0, 100_000.0, "Fees took 100,000 KRW, 25% of the profit before fees."),
        (9_000_000.0, 100_000.0, "Fees added 100,000 KRW to the loss."),
    ],
)
def test_what_the_fees_did(final: float, fees: float, ending: str) -> None:
    assert verdict({**BASE, "final_equity": final, "fees": fees}).endswith(ending)


def test_rows_have_readable_labels_and_kst_with_utc() -> None:
    rows = dict(summary_rows({**BASE, "final_equity": 9_416_354.0, "total_return": -0.0584}))
    assert rows["Buy-and-hold return"] == "+558.58%"
    assert rows["Total return"] == "−5.84%"
    assert rows["Starting cash"] == "10,000,000 KRW"
    assert rows["Sharpe ratio (annualised)"] == "–"
    assert rows["First bar"] == "2017-07-02 08:00 KST (2017-07-01 23:00 UTC)"
    assert "markets" not in rows
