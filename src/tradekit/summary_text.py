"""A backtest's summary in words a reader knows: labelled figures and a one-line verdict.

Shared by the terminal summary of ``tradekit backtest`` and the HTML report, so both say the
same thing the same way. Reads only the plain ``summary.json`` dictionary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = ["print_summary", "summary_rows", "verdict"]

_KST = timezone(timedelta(hours=9), "KST")


def _krw(value: float) -> str:
    return f"{value:,.0f} KRW".replace("-", "−")


def _signed_krw(value: float) -> str:
    return f"{value:+,.0f} KRW".replace("-", "−")


def _pct(value: float) -> str:
    return f"{value:+.2%}".replace("-", "−")


def _share(value: float) -> str:
    return f"{value:.2%}"


def _count(value: int) -> str:
    return f"{value:,}"


def _when(ms: int) -> str:
    kst = datetime.fromtimestamp(ms / 1000, _KST).strftime("%Y-%m-%d %H:%M KST")
    utc = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{kst} ({utc})"


#: summary.json key, label, how its value is written.
FIGURES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("start_time_ms", "First bar", _when),
    ("end_time_ms", "Last bar", _when),
    ("bars", "Bars", _count),
    ("initial_equity", "Starting cash", _krw),
    ("final_equity", "Final equity", _krw),
    ("total_return", "Total return", _pct),
    ("benchmark_return", "Buy-and-hold return", _pct),
    ("max_drawdown", "Max drawdown", _share),
    ("fees", "Fees paid", _krw),
    ("sharpe", "Sharpe ratio (annualised)", lambda v: f"{v:.2f}".replace("-", "−")),
    ("exposure", "Time in the market", _share),
    ("fills", "Fills", _count),
    ("trades", "Round trips", _count),
    ("wins", "Winning trades", _count),
    ("losses", "Losing trades", _count),
    ("win_rate", "Win rate", _share),
    ("profit_factor", "Profit factor (gross wins / gross losses)", lambda v: f"{v:.2f}"),
    ("average_trade_return", "Average trade return", _pct),
]


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for each figure the summary has; ``–`` for figures without a value."""
    return [
        (label, "–" if summary[key] is None else write(summary[key]))
        for key, label, write in FIGURES
        if key in summary
    ]


def verdict(summary: Mapping[str, Any]) -> str:
    """The result against buy-and-hold and what the fees did, in one or two sentences."""
    initial, final = summary.get("initial_equity"), summary.get("final_equity")
    if not initial or final is None:
        return "No bars were processed."
    ret = final / initial - 1
    net = final - initial
    text = f"The strategy {'made' if ret > 0 else 'lost'} {abs(ret):.2%} ({_signed_krw(net)})"
    bench = summary.get("benchmark_return")
    if bench is not None:
        markets = ", ".join(summary.get("markets", [])) or "the markets"
        moved = "gained" if bench >= 0 else "lost"
        text += f"; buying and holding {markets} {moved} {abs(bench):.2%}"
    text += "."
    fees = summary.get("fees") or 0.0
    if fees > 0 and net < 0 < net + fees:
        text += (
            f" Fees ({_krw(fees)}) were larger than the net loss: before fees the trades made "
            f"{_signed_krw(net + fees)}."
        )
    elif fees > 0 and net + fees > 0:
        text += f" Fees took {_krw(fees)}, {fees / (net + fees):.0%} of the profit before fees."
    elif fees > 0:
        text += f" Fees added {_krw(fees)} to the loss."
    return text


def print_summary(summary: Mapping[str, Any]) -> None:
    """The summary as a table and the verdict, on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Backtest summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, text in summary_rows(summary):
        table.add_row(label, text)
    console = Console()
    console.print(table)
    console.print(verdict(summary))
