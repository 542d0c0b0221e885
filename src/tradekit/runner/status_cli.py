"""``tradekit status``: a running bot's state in the terminal, read from its control API.

For people on a server without a browser: the bot's state (running, paused, halted, blocked
markets), equity, open positions with their exit levels, recent orders and fills and the
daily performance table, as rich tables. Only the standard library speaks HTTP here, so the
command needs nothing the bot itself does not.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tradekit.errors import ConfigError, TradekitError

if TYPE_CHECKING:
    import urllib.request
    from urllib.error import HTTPError

    from rich.console import RenderableType

__all__ = ["ApiUnreachable", "api_url", "fetch_state", "render_state", "status_command"]

KST = timezone(timedelta(hours=9), "KST")
_RECENT = 10  # orders and fills shown
_DAYS = 14  # daily rows shown


class ApiUnreachable(TradekitError):
    """The control API did not answer (exit status 1)."""


def _kst(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, KST).strftime("%Y-%m-%d %H:%M KST")


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _qty(value: float | None) -> str:
    return "-" if value is None else f"{value:.8g}"


def _signed(value: float, digits: int = 0) -> str:
    style = "green" if value > 0 else "red" if value < 0 else ""
    text = f"{value:+,.{digits}f}"
    return f"[{style}]{text}[/]" if style else text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def api_url(host: str, port: int) -> str:
    """Where a client reaches an API bound to ``host``: a wildcard bind means this machine."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _is_loopback(url: str) -> bool:
    import ipaddress
    import urllib.parse

    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_redirects() -> urllib.request.BaseHandler:
    """A handler that follows no redirect: urllib would copy the ``Authorization`` header to
    whatever host the ``Location`` names (from https down to http too). A control API never
    redirects."""
    # Defined here, not at the top: urllib.request (http.client, ssl) is not imported by every
    # other command of the CLI that imports this module.
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRedirects()


def fetch_state(url: str, token: str | None, timeout: float = 5.0) -> dict[str, Any]:
    """``/status``, ``/positions``, recent ``/orders`` and ``/fills`` and ``/performance``.

    A record route that answers 503 (the bot has no store) is given as ``{"unavailable":
    reason}``.

    Raises:
        ApiUnreachable: nothing answers at ``url``, or it is not a tradekit control API.
        ConfigError: the API refused the token (401) or the request (403).
    """
    import urllib.error
    import urllib.request

    base = url.rstrip("/")
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # A proxy from the environment must not stand between us and a bot on this machine.
    handlers: list[urllib.request.BaseHandler] = [_no_redirects()]
    if _is_loopback(base):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)

    def get(path: str, optional: bool = False) -> Any:
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with opener.open(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise ApiUnreachable(
                    f"{base}{path} answered a redirect (HTTP {exc.code}) to "
                    f"{exc.headers.get('Location', '?')!r}, which is not followed: the token "
                    "goes only to the address given; give the bot's own address"
                ) from None
            detail = _detail(exc)
            if exc.code == 401:
                raise ConfigError(
                    f"api.token: the bot at {base} refused the token ({detail}); set "
                    "TRADEKIT_API_TOKEN (or --token) to the bot's api.token"
                ) from None
            if exc.code == 403:
                raise ConfigError(
                    f"the bot at {base} refused the request ({detail}); without a token it "
                    "answers only on this machine"
                ) from None
            if optional and exc.code in (404, 503):  # no store; 404: a bot without the route
                return {"unavailable": detail}
            raise ApiUnreachable(f"{base}{path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise ApiUnreachable(
                f"the bot's control API at {base} is not reachable ({why}); is the bot running "
                "(`tradekit run CONFIG`) with api.enabled, and are api.host and api.port right?"
            ) from None
        except ValueError:
            raise ApiUnreachable(
                f"{base}{path} did not answer JSON: is it a tradekit bot?"
            ) from None

    return {
        "url": base,
        "status": get("/status"),
        "today": get("/today", optional=True),
        "positions": get("/positions").get("positions", []),
        "orders": get(f"/orders?limit={_RECENT}", optional=True),
        "fills": get(f"/fills?limit={_RECENT}", optional=True),
        "performance": get("/performance", optional=True),
    }


def _detail(exc: HTTPError) -> str:
    try:
        body = json.loads(exc.read())
        return str(body.get("detail") or exc.reason)
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def render_state(state: dict[str, Any]) -> RenderableType:
    """The state as rich tables (what ``tradekit status`` prints)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    s = state["status"]
    if s.get("halted"):
        condition = (
            "[bold red]HALTED[/]: daily loss limit reached; no new entries until the next day"
        )
    elif s.get("paused"):
        condition = "[bold yellow]PAUSED[/] by an operator: no new entries; exits keep working"
    else:
        condition = "[bold green]RUNNING[/]"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("State", condition)
    head.add_row(
        "Bot",
        f"{s.get('mode', '?')} · {s.get('strategy', '?')} · {s.get('timeframe', '?')} · "
        f"tradekit {s.get('version', '?')} · {state['url']}",
    )
    at_close = s.get("equity_at_close")  # what sizing and the loss limit use (older bots: none)
    close_text = "" if at_close is None else f", at the last close {_num(at_close)} KRW"
    head.add_row(
        "Equity", f"{_num(s.get('equity'))} KRW (cash {_num(s.get('cash'))} KRW{close_text})"
    )
    head.add_row("Started", _kst(s.get("started_ms")))
    bars = s.get("last_bar_ms", {})
    head.add_row(
        "Last bar",
        ", ".join(f"{m} {_kst(t)}" for m, t in bars.items()) or "none yet",
    )
    head.add_row(
        "Activity",
        f"{s.get('bars_processed', 0):,} bars, {s.get('fills', 0):,} fills, "
        f"{s.get('open_positions', 0)} open position(s)",
    )
    _today_rows(head, state.get("today", {}))
    for market, why in s.get("blocked", {}).items():
        head.add_row("[red]Blocked[/]", f"{market}: {why}")
    for market, quantity in s.get("remainders", {}).items():
        head.add_row("Remainder", f"{market}: {_qty(quantity)} (sold with the next sale)")
    parts: list[Any] = [Panel(head, title=f"tradekit · {', '.join(s.get('markets', []))}")]

    positions = Table(title="Open positions", title_justify="left", expand=False)
    for name in (
        "Market",
        "Quantity",
        "Entry",
        "Entered",
        "Last",
        "Unrealised P&L",
        "Stop",
        "Take-profit",
        "Trailing high",
    ):
        positions.add_column(
            name, justify="left" if name in ("Market", "Entered") else "right", no_wrap=True
        )
    for p in state["positions"]:
        take_profit = _num(p.get("take_profit_price"))
        if p.get("take_profit_reached"):
            take_profit = "reached"
        positions.add_row(
            p["market"],
            _qty(p.get("quantity")),
            _num(p.get("entry_price")),
            _kst(p.get("entry_time_ms")),
            _num(p.get("last_price")),
            _signed(p.get("unrealized_pnl", 0.0)),
            _num(p.get("stop")),
            take_profit,
            _num(p.get("highest")),
        )
    parts.append(positions if state["positions"] else "[dim]No open positions.[/]")
    parts.append(_orders_table(state["orders"]))
    parts.append(_fills_table(state["fills"]))
    parts.append(_days_table(state["performance"]))
    return Group(*parts)


def _today_rows(head: Any, today: dict[str, Any]) -> None:
    """Today's P&L against the daily loss limit, and what holds entries back."""
    if not today or "unavailable" in today:
        return
    if today.get("trading_day"):  # empty before the first bar
        start = today.get("start_equity") or 0.0
        profit = today.get("profit", 0.0)
        ret = f" ({profit / start:+.2%})" if start else ""
        win = today.get("win_rate")
        head.add_row(
            "Today",
            f"{today['trading_day']} (KST): P&L {_signed(profit)} KRW{ret}, drawdown "
            f"{_pct(today.get('max_drawdown'))}, {today.get('trades', 0)} trade(s)"
            + (f", win rate {win:.0%}" if win is not None else ""),
        )
    limit, floor = today.get("loss_limit"), today.get("loss_limit_equity")
    if limit is not None and floor is not None:
        room = today.get("equity", 0.0) - floor
        head.add_row(
            "Loss limit",
            f"{limit:.2%}: entries halt below {_num(floor)} KRW "
            + (f"({_num(room)} KRW to go)" if room > 0 else "[red](reached)[/]"),
        )
    if today.get("entries_allowed", True):
        head.add_row("Entries", "[green]allowed[/]")
    else:
        head.add_row("Entries", "[red]held back[/]")
    for why in today.get("entry_blocks", []):
        head.add_row("", f"· {why}")


def _unavailable(title: str, data: dict[str, Any]) -> str | None:
    if "unavailable" in data:
        return f"[dim]{title}: not available ({data['unavailable']}).[/]"
    return None


def _orders_table(data: dict[str, Any]) -> Any:
    from rich.table import Table

    missing = _unavailable("Recent orders", data)
    if missing:
        return missing
    table = Table(title=f"Recent orders (last {_RECENT})", title_justify="left")
    for name in (
        "Created",
        "Market",
        "Side",
        "Type",
        "Volume",
        "Price",
        "Status",
        "Executed",
        "Avg price",
        "Fee",
        "Reason",
    ):
        table.add_column(
            name,
            justify="right"
            if name in ("Volume", "Price", "Executed", "Avg price", "Fee")
            else "left",
            no_wrap=name == "Created",
        )
    for o in data.get("orders", []):
        table.add_row(
            _kst(o.get("created_ms")),
            o.get("market", ""),
            o.get("side", ""),
            o.get("type", ""),
            _qty(o.get("volume")),
            _num(o.get("price")),
            o.get("status", ""),
            _qty(o.get("executed_volume")),
            _num(o.get("average_price")),
            _num(o.get("fee")),
            o.get("reason", ""),
        )
    return table if data.get("orders") else "[dim]No orders recorded.[/]"


def _fills_table(data: dict[str, Any]) -> Any:
    from rich.table import Table

    missing = _unavailable("Recent fills", data)
    if missing:
        return missing
    table = Table(title=f"Recent fills (last {_RECENT})", title_justify="left")
    for name in ("Time", "Market", "Side", "Price", "Quantity", "Fee", "Reason"):
        table.add_column(
            name,
            justify="right" if name in ("Price", "Quantity", "Fee") else "left",
            no_wrap=name == "Time",
        )
    for f in data.get("fills", []):
        table.add_row(
            _kst(f.get("time_ms")),
            f.get("market", ""),
            f.get("side", ""),
            _num(f.get("price")),
            _qty(f.get("quantity")),
            _num(f.get("fee"), 2),
            f.get("reason", ""),
        )
    return table if data.get("fills") else "[dim]No fills recorded.[/]"


def _days_table(data: dict[str, Any]) -> Any:
    from rich.table import Table

    missing = _unavailable("Daily performance", data)
    if missing:
        return missing
    days = data.get("days", [])[-_DAYS:]
    if not days:
        return "[dim]No trading day finished yet.[/]"
    table = Table(title=f"Daily performance (KST days, last {_DAYS})", title_justify="left")
    for name in (
        "Day",
        "Start equity",
        "End equity",
        "P&L",
        "Return",
        "Max drawdown",
        "Trades",
        "Win rate",
    ):
        table.add_column(name, justify="left" if name == "Day" else "right", no_wrap=True)
    for d in days:
        start = d.get("start_equity") or 0.0
        table.add_row(
            d.get("trading_day", ""),
            _num(d.get("start_equity")),
            _num(d.get("end_equity")),
            _signed(d.get("profit", 0.0)),
            _pct(d.get("profit", 0.0) / start if start else None),
            _pct(d.get("max_drawdown")),
            str(d.get("trades", 0)),
            _pct(d.get("win_rate")),
        )
    return table


@click.command("status")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--url", help="The control API's address, e.g. http://127.0.0.1:8000 (no CONFIG).")
@click.option(
    "--token",
    envvar="TRADEKIT_API_TOKEN",
    help="The API token with --url (default: $TRADEKIT_API_TOKEN).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON instead of tables.")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for the bot.")
def status_command(
    config: Path | None, url: str | None, token: str | None, as_json: bool, timeout: float
) -> None:
    """Show a running bot's state: positions, recent orders and fills, daily performance.

    The address and token come from CONFIG's api block (the token usually from
    ${TRADEKIT_API_TOKEN}), or from --url and --token. Exits 1 when the bot does not
    answer, 2 when the token is refused or the arguments are wrong.
    """
    if (config is None) == (url is None):
        raise click.UsageError("give either CONFIG or --url URL")
    if config is not None:
        from tradekit.cli_config import load_config

        api = load_config(config).api
        url = api_url(api.host, api.port)
        token = api.token or None
    assert url is not None
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected http://HOST:PORT, got {url!r}", param_hint="--url")
    state = fetch_state(url, token or os.environ.get("TRADEKIT_API_TOKEN") or None, timeout)
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # piped: wide enough for the tables
    console.print(render_state(state))
