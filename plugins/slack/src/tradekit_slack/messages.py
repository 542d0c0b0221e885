"""Turn tradekit events into Slack messages: Block Kit blocks plus a plain ``text`` fallback
(shown in notifications and by clients without blocks). Times are in KST; no secret ever
reaches a message.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tradekit.events import (
    DailyReport,
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    PositionClosed,
    SignalEvent,
    TradingHalted,
)
from tradekit.models import Side

__all__ = ["KST", "Message", "SlackMessages", "format_event"]

KST = timezone(timedelta(hours=9), "KST")

Message = dict[str, Any]  # {"text": ..., "blocks": [...]}: the JSON body of a webhook post

_MAX_LISTED_TRADES = 15

#: What an operator can do about an error, by the event's ``source``.
_ADVICE = {
    "orders": (
        "Check the market's orders on the exchange and the bot's log. The bot looks up an "
        "order of unknown fate by itself; new entries in that market resume once it is "
        "settled. `tradekit status CONFIG` shows blocked markets."
    ),
    "storage": (
        "The database is failing: trading goes on and events are kept in memory until it is "
        "back. Check the disk or the database server at `storage.url`."
    ),
    "exchange": (
        "Check the exchange's status page, the network and the API keys; the bot retries by itself."
    ),
    "engine": (
        "Read the bot's log for the cause, fix it, then start the bot again with "
        "`tradekit run CONFIG`: open positions are taken over on restart."
    ),
}
_FATAL_ADVICE = (
    "The bot has stopped trading and no stop is watched until it runs again. Read the bot's "
    "log, fix the cause, then start it with `tradekit run CONFIG`: open positions are taken "
    "over on restart."
)
_DEFAULT_ADVICE = "See the bot's log for details."


def _kst(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, KST).strftime("%Y-%m-%d %H:%M KST")


def _krw(value: float, sign: bool = False) -> str:
    return f"{value:+,.0f} KRW" if sign else f"{value:,.0f} KRW"


def _price(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:,.4g}"


def _pct(value: float, sign: bool = True) -> str:
    return f"{value:+.2%}" if sign else f"{value:.2%}"


def format_event(event: Event) -> str | None:
    """The plain text of an event's message, or None for events not worth a message."""
    message = SlackMessages().build(event)
    return None if message is None else str(message["text"])


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in pairs[:10]],
    }


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


class SlackMessages:
    """Builds messages, remembering what a message needs from earlier events: the cost of
    each market's open position (a sale's P&L) and the positions closed each KST day (the
    daily report's trade list). One per notifier; it only ever sees events in order."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[float, float]] = {}  # market -> (quantity, cost with fees)
        self._closed: dict[str, list[PositionClosed]] = {}  # KST day -> closes

    def build(self, event: Event) -> Message | None:
        """The message for ``event``, or None if it is not worth one."""
        if isinstance(event, FillEvent):
            return self._fill(event)
        if isinstance(event, PositionClosed):
            day = datetime.fromtimestamp(event.time_ms / 1000, KST).strftime("%Y-%m-%d")
            self._closed.setdefault(day, []).append(event)
            return self._closed_message(event)
        if isinstance(event, SignalEvent):
            return self._signal(event)
        if isinstance(event, EntryRejected):
            return None if event.rule == "paused" else self._rejected(event)
        if isinstance(event, TradingHalted):
            return self._halted(event)
        if isinstance(event, ErrorEvent):
            return self._error(event)
        if isinstance(event, DailyReport):
            return self._daily(event)
        return None

    # -- one method per kind ------------------------------------------------------------

    def _fill(self, event: FillEvent) -> Message:
        f = event.fill
        value = f.price * f.quantity
        held_qty, held_cost = self._held.get(f.market, (0.0, 0.0))
        pairs = [
            ("Price", f"{_price(f.price)} KRW"),
            ("Quantity", f"{f.quantity:.8g}"),
            ("Value", _krw(value)),
            ("Fee", _krw(f.fee)),
        ]
        pnl_text = ""
        if f.side is Side.BUY:
            self._held[f.market] = (held_qty + f.quantity, held_cost + value + f.fee)
            icon, verb = ":large_green_circle:", "Bought"
        else:
            icon, verb = ":red_circle:", "Sold"
            if held_qty > 0:
                sold = min(f.quantity, held_qty)
                cost = held_cost * sold / held_qty
                pnl = value - f.fee - cost
                pairs.append(("P&L of this sale", f"{_krw(pnl, True)} ({_pct(pnl / cost)})"))
                pnl_text = f"; P&L {_krw(pnl, True)}"
                left = held_qty - sold
                if left > held_qty * 1e-9:
                    self._held[f.market] = (left, held_cost - cost)
                else:
                    del self._held[f.market]
            else:
                pairs.append(("P&L of this sale", "unknown (bought before the bot started)"))
        pairs.append(("Equity", _krw(event.equity)))
        when = _kst(f.time_ms)
        text = (
            f"{icon} {verb} {f.quantity:.8g} {f.market} at {_price(f.price)} KRW "
            f"({f.reason}, fee {_krw(f.fee)}{pnl_text}); equity {_krw(event.equity)} · {when}"
        )
        blocks = [
            _header(f"{verb} {f.market} ({f.reason})"),
            _fields(pairs),
            _context(f"{when} · reason `{f.reason}`"),
        ]
        return {"text": text, "blocks": blocks}

    def _closed_message(self, event: PositionClosed) -> Message:
        p = event.position
        icon = ":white_check_mark:" if event.pnl > 0 else ":x:"
        when = _kst(event.time_ms)
        text = f"{icon} Closed {p.market} ({event.reason}): P&L {_krw(event.pnl, True)} · {when}"
        blocks = [
            _header(f"Closed {p.market}: {_krw(event.pnl, True)}"),
            _fields(
                [
                    ("Reason", f"`{event.reason}`"),
                    ("P&L after fees", _krw(event.pnl, True)),
                    ("Entry", f"{_price(p.entry_price)} KRW on {_kst(p.entry_time_ms)}"),
                ]
            ),
            _context(when),
        ]
        return {"text": text, "blocks": blocks}

    def _signal(self, event: SignalEvent) -> Message:
        s = event.signal
        when = _kst(s.time_ms)
        text = f":mag: Signal {s.action} {s.market} at {_price(s.price)} KRW: {s.reason} · {when}"
        blocks = [
            _text(f":mag: *Signal* {s.action} {s.market} at {_price(s.price)} KRW: {s.reason}"),
            _context(when),
        ]
        return {"text": text, "blocks": blocks}

    def _rejected(self, event: EntryRejected) -> Message:
        when = _kst(event.time_ms)
        text = f":no_entry: Entry rejected {event.market} by {event.rule}: {event.reason} · {when}"
        blocks = [
            _text(f":no_entry: *Entry rejected* {event.market} by `{event.rule}`: {event.reason}"),
            _context(when),
        ]
        return {"text": text, "blocks": blocks}

    def _halted(self, event: TradingHalted) -> Message:
        reference = event.reference_equity
        loss = reference - event.equity
        share = loss / reference if reference else 0.0
        limit = event.limit
        limit_text = "-" if limit is None else f"{limit:.2%} ({_krw(reference * limit)})"
        when = _kst(event.time_ms)
        text = (
            f":octagonal_sign: Trading halted for {event.trading_day}: lost {_krw(loss)} "
            f"({share:.2%}) against the day's start {_krw(reference)}; limit {limit_text}. "
            f"New entries resume next trading day; exits keep working. · {when}"
        )
        blocks = [
            _header(f"Trading halted for {event.trading_day}"),
            _fields(
                [
                    ("Loss today", f"{_krw(loss)} ({share:.2%})"),
                    ("Daily loss limit", limit_text),
                    ("Equity", _krw(event.equity)),
                    ("Day started at", _krw(reference)),
                ]
            ),
            _text(
                "No new entries until the next trading day (00:00 KST); stops and "
                "take-profits of open positions keep working."
            ),
            _context(when),
        ]
        return {"text": text, "blocks": blocks}

    def _error(self, event: ErrorEvent) -> Message:
        advice = _FATAL_ADVICE if event.fatal else _ADVICE.get(event.source, _DEFAULT_ADVICE)
        title = "Fatal error: the bot stopped" if event.fatal else f"Error in {event.source}"
        icon = ":rotating_light:" if event.fatal else ":warning:"
        when = _kst(event.time_ms)
        text = f"{icon} {title} ({event.source}): {event.message}. What to do: {advice} · {when}"
        blocks = [
            _header(f"{title}"),
            _text(f"{icon} *{event.source}*: {event.message}"),
            _text(f"*What to do:* {advice}"),
            _context(when),
        ]
        return {"text": text, "blocks": blocks}

    def _daily(self, event: DailyReport) -> Message:
        closes = self._closed.pop(event.trading_day, [])
        for day in [d for d in self._closed if d < event.trading_day]:
            del self._closed[day]  # days without a report (the bot was stopped)
        ret = event.profit / event.start_equity if event.start_equity else 0.0
        win = "-" if event.win_rate is None else f"{event.win_rate:.0%}"
        icon = ":chart_with_upwards_trend:" if event.profit >= 0 else ":chart_with_downwards_trend:"
        text = (
            f"{icon} Daily report {event.trading_day}: P&L {_krw(event.profit, True)} "
            f"({_pct(ret)}), equity {_krw(event.end_equity)}, max drawdown "
            f"{event.max_drawdown:.2%}, trades {event.trades}, win rate {win}"
        )
        blocks: list[dict[str, Any]] = [
            _header(f"Daily report {event.trading_day} (KST)"),
            _fields(
                [
                    ("P&L", f"{_krw(event.profit, True)} ({_pct(ret)})"),
                    ("Equity", _krw(event.end_equity)),
                    ("Max drawdown", f"{event.max_drawdown:.2%}"),
                    ("Trades", str(event.trades)),
                    ("Win rate", win),
                    ("Day started at", _krw(event.start_equity)),
                ]
            ),
        ]
        if closes:
            lines = [
                f"{':white_check_mark:' if c.pnl > 0 else ':x:'} "
                f"{datetime.fromtimestamp(c.time_ms / 1000, KST):%H:%M} {c.position.market} "
                f"`{c.reason}` {_krw(c.pnl, True)}"
                for c in closes[:_MAX_LISTED_TRADES]
            ]
            if len(closes) > _MAX_LISTED_TRADES:
                lines.append(f"... and {len(closes) - _MAX_LISTED_TRADES} more")
            blocks.append(_text("*Trades closed today*\n" + "\n".join(lines)))
        if event.notes:
            blocks.append(_context(event.notes))
        return {"text": text, "blocks": blocks}
