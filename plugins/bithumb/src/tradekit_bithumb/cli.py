"""Commands: ``tradekit bithumb markets`` and ``tradekit download``.

Imported on every ``tradekit`` start (``register_commands``), so only click is imported at
module level; the connector is imported when a command runs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import click

from tradekit_bithumb import BASE_URL_ENV, DEFAULT_BASE_URL

__all__ = ["bithumb_group", "download_command", "parse_date"]

_base_url_option = click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    default=DEFAULT_BASE_URL,
    show_default=True,
    help=f"Bithumb REST host (or a test server); also read from {BASE_URL_ENV}.",
)


def parse_date(text: str) -> int:
    """UTC milliseconds from ``YYYY-MM-DD``, an ISO date-time (naive means UTC) or ms digits.

    Raises:
        click.BadParameter: the text is none of those.
    """
    value = text.strip()
    if re.fullmatch(r"\d{11,}", value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][+HH:MM] or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _run(coro_fn: Any, *args: Any) -> Any:
    import anyio

    return anyio.run(coro_fn, *args)


@click.group("bithumb")
def bithumb_group() -> None:
    """Bithumb exchange commands."""


@bithumb_group.command("markets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_base_url_option
def markets_command(as_json: bool, base_url: str) -> None:
    """List the markets Bithumb trades (public API; no keys needed)."""
    from tradekit_bithumb.client import BithumbClient

    async def fetch() -> list[Any]:
        async with BithumbClient(base_url) as client:
            return await client.markets()

    markets = _run(fetch)
    if as_json:
        rows = [
            {
                "market": m.market,
                "korean_name": m.korean_name,
                "english_name": m.english_name,
                "warning": m.warning,
            }
            for m in markets
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for m in markets:
        warning = "" if m.warning in (None, "NONE") else f"  [{m.warning}]"
        click.echo(f"{m.market:<12} {m.english_name} ({m.korean_name}){warning}")


@click.command("download")
@click.argument("market")
@click.option("--timeframe", "-t", default="1h", show_default=True, help="1m ... 4h, 1d, 1w.")
@click.option("--since", required=True, help="Start, UTC: YYYY-MM-DD or an ISO date-time.")
@click.option("--until", default=None, help="End (exclusive), UTC; default: now.")
@click.option(
    "--output",
    "-o",
    required=True,
    help="CSV or Parquet file (continued after its last bar if it exists) or a store URL "
    "such as sqlite:///candles.db.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "parquet"]),
    default=None,
    help="File format; default: Parquet for a .parquet or .pq OUTPUT, else CSV.",
)
@_base_url_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def download_command(
    market: str,
    timeframe: str,
    since: str,
    until: str | None,
    output: str,
    file_format: str | None,
    base_url: str,
    quiet: bool,
) -> None:
    """Download closed candles of MARKET, such as KRW-BTC, from Bithumb (resumable)."""
    from tradekit.markets import market_id_problem
    from tradekit.models import Timeframe
    from tradekit_bithumb.client import candle_path
    from tradekit_bithumb.config import BithumbConfig
    from tradekit_bithumb.download import download_candles, open_sink
    from tradekit_bithumb.exchange import BithumbExchange

    if not Timeframe.is_valid(timeframe):
        raise click.BadParameter(f"{timeframe!r} is not a timeframe", param_hint="--timeframe")
    tf = Timeframe(timeframe)
    candle_path(tf)  # an unsupported timeframe fails here, before any request
    since_ms = parse_date(since)
    until_ms = parse_date(until) if until is not None else int(datetime.now(UTC).timestamp() * 1000)
    if until_ms <= since_ms:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    market = market.upper()
    problem = market_id_problem("MARKET", market)
    if problem is not None:  # it names files and store rows: nothing odd gets that far
        raise click.BadParameter(problem.removeprefix("MARKET: "), param_hint="MARKET")
    if file_format is not None and "://" in output:
        raise click.BadParameter("a store URL has no file format", param_hint="--format")
    sink = open_sink(output, market, tf, file_format)

    async def run(report: Any) -> int:
        exchange = BithumbExchange(BithumbConfig(base_url=base_url))
        try:
            return await download_candles(
                exchange, market, tf, since_ms, until_ms, sink, progress=report
            )
        finally:
            await exchange.aclose()

    if quiet:
        written = _run(run, None)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[bars]:,} bars"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(f"{market} {tf}", total=None, bars=0)

            def report(done: int, total: int, bars: int) -> None:
                bar.update(task, completed=done, total=total, bars=bars)

            written = _run(run, report)
    click.echo(f"wrote {written} {tf} candles of {market} to {output}")
