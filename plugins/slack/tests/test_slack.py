"""The Slack notifier against a real local webhook server."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from loguru import logger
from tradekit_slack.messages import SlackMessages, format_event
from tradekit_slack.notifier import SlackConfig, SlackNotifier
from webhook_server import WebhookServer

from tradekit.builtin.risk import DailyLossLimit
from tradekit.events import (
    DailyReport,
    ErrorEvent,
    FillEvent,
    PositionClosed,
    SignalEvent,
    TradingHalted,
)
from tradekit.models import ExitPlan, Fill, Position, Side, Signal
from tradekit.plugins import load_plugins

T = 1_700_000_000_000  # 2023-11-14 22:13 UTC = 2023-11-15 07:13 KST
BUY = FillEvent(
    T,
    Fill(T, "KRW-BTC", Side.BUY, 50_000_000.0, 0.01, 1250.0, "entry"),
    cash=9_498_750.0,
    equity=9_998_750.0,
)
SELL = FillEvent(
    T + 3_600_000,
    Fill(T + 3_600_000, "KRW-BTC", Side.SELL, 51_000_000.0, 0.01, 1275.0, "take_profit"),
    cash=10_007_475.0,
    equity=10_007_475.0,
)


def _fields(message: dict[str, Any]) -> dict[str, str]:
    """Block Kit section fields as {title: value}."""
    out = {}
    for block in message["blocks"]:
        for field in block.get("fields", []):
            title, _, value = field["text"].partition("\n")
            out[title.strip("*")] = value
    return out


def _all_text(message: dict[str, Any]) -> str:
    parts = []
    for block in message["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)


def test_registered_through_the_hook() -> None:
    assert load_plugins().get("notifier", "slack").cls is SlackNotifier


def test_a_sale_shows_its_profit_after_both_fees_in_kst() -> None:
    messages = SlackMessages()
    bought = messages.build(BUY)
    sold = messages.build(SELL)
    assert bought is not None
    assert sold is not None
    assert bought["blocks"][0]["text"]["text"] == "Bought KRW-BTC (entry)"
    assert "2023-11-15 07:13 KST" in _all_text(bought)
    # Paid 500,000 + 1,250; got 510,000 - 1,275: +7,475 KRW on a cost of 501,250.
    assert _fields(sold)["P&L of this sale"] == "+7,475 KRW (+1.49%)"
    assert _fields(sold)["Equity"] == "10,007,475 KRW"
    assert sold["text"] == (
        ":red_circle: Sold 0.01 KRW-BTC at 51,000,000 KRW (take_profit, fee 1,275 KRW; "
        "P&L +7,475 KRW); equity 10,007,475 KRW · 2023-11-15 08:13 KST"
    )


def test_a_partial_sale_books_its_share_of_the_cost() -> None:
    messages = SlackMessages()
    messages.build(BUY)
    half = FillEvent(
        T + 1,
        Fill(T + 1, "KRW-BTC", Side.SELL, 51_000_000.0, 0.005, 637.5, "take_profit"),
        cash=0.0,
        equity=0.0,
    )
    first = messages.build(half)
    second = messages.build(half)
    third = messages.build(half)
    assert first is not None
    assert second is not None
    assert third is not None
    # Half the cost (250,625) against 255,000 - 637.5.
    assert _fields(first)["P&L of this sale"] == "+3,738 KRW (+1.49%)"
    assert _fields(second)["P&L of this sale"] == "+3,738 KRW (+1.49%)"
    assert _fields(third)["P&L of this sale"] == "unknown (bought before the bot started)"


def test_a_halt_says_the_limit_and_the_loss() -> None:
    rule = DailyLossLimit(DailyLossLimit.Config(limit=0.05))
    rule.reset(10_000_000.0, T)
    halted = rule.on_bar_close(T + 60_000, 9_400_000.0)
    assert isinstance(halted, TradingHalted)
    message = SlackMessages().build(halted)
    assert message is not None
    fields = _fields(message)
    assert fields["Loss today"] == "600,000 KRW (6.00%)"
    assert fields["Daily loss limit"] == "5.00% (500,000 KRW)"
    assert fields["Equity"] == "9,400,000 KRW"
    assert "lost 600,000 KRW (6.00%)" in message["text"]
    assert "No new entries until the next trading day (00:00 KST)" in _all_text(message)


def test_errors_say_what_to_do() -> None:
    fatal = SlackMessages().build(ErrorEvent(T, "engine", "exchange unreachable", fatal=True))
    assert fatal is not None
    assert fatal["blocks"][0]["text"]["text"] == "Fatal error: the bot stopped"
    assert "*What to do:* The bot has stopped trading" in _all_text(fatal)
    assert "`tradekit run CONFIG`" in fatal["text"]
    storage = SlackMessages().build(ErrorEvent(T, "storage", "database is locked"))
    assert storage is not None
    assert "Check the disk or the database server at `storage.url`" in _all_text(storage)


def test_the_daily_report_lists_the_days_trades() -> None:
    messages = SlackMessages()
    position = Position("KRW-BTC", 0.01, 50_000_000.0, T, None, None)
    # 2023-11-15 in KST: 07:13 and 23:00 KST; the second close falls on the 16th.
    messages.build(PositionClosed(T, position, 7_475.0, "take_profit"))
    messages.build(
        PositionClosed(T + 15 * 3_600_000 + 47 * 60_000, position, -9_000.0, "stop_loss")
    )
    messages.build(PositionClosed(T + 17 * 3_600_000, position, 1.0, "signal"))
    report = DailyReport(T, "2023-11-15", 10e6, 9_998_475.0, -1_525.0, 0.012, 2, 0.5)
    message = messages.build(report)
    assert message is not None
    fields = _fields(message)
    assert fields["P&L"] == "-1,525 KRW (-0.02%)"
    assert fields["Equity"] == "9,998,475 KRW"
    assert fields["Max drawdown"] == "1.20%"
    assert fields["Win rate"] == "50%"
    listed = message["blocks"][-1]["text"]["text"]
    assert listed.splitlines() == [
        "*Trades closed today*",
        ":white_check_mark: 07:13 KRW-BTC `take_profit` +7,475 KRW",
        ":x: 23:00 KRW-BTC `stop_loss` -9,000 KRW",
    ]
    assert message["text"].startswith(":chart_with_downwards_trend: Daily report 2023-11-15")


def test_plain_text_for_every_kind() -> None:
    signal = Signal("KRW-BTC", T, "buy", 50_000_000.0, ExitPlan(), reason="breakout")
    assert format_event(SignalEvent(0, signal)) == (
        ":mag: Signal buy KRW-BTC at 50,000,000 KRW: breakout · 2023-11-15 07:13 KST"
    )
    assert format_event(BUY) is not None
    assert format_event(DailyReport(T, "2023-11-15", 1.0, 1.0, 0.0, 0.0, 0, None)) is not None
    assert format_event(ErrorEvent(T, "orders", "x")) is not None


@pytest.mark.anyio
async def test_posts_blocks_with_a_fallback_text(webhook: WebhookServer) -> None:
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, channel="#bot"))
    try:
        await notifier.notify(BUY)
    finally:
        await notifier.aclose()
    (body,) = webhook.received
    assert body["text"] == format_event(BUY)
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Bought KRW-BTC (entry)", "emoji": True},
    }
    assert (body["username"], body["channel"]) == ("tradekit", "#bot")
    assert notifier.sent == 1


@pytest.mark.anyio
async def test_kinds_filter_still_tracks_positions(webhook: WebhookServer) -> None:
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, kinds=["position_closed"]))
    try:
        await notifier.notify(BUY)
        await notifier.notify(SELL)
    finally:
        await notifier.aclose()
    assert webhook.received == []


@pytest.mark.anyio
async def test_retries_server_errors_then_succeeds(webhook: WebhookServer) -> None:
    webhook.answers = [(500, {}), (503, {})]
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3))
    try:
        await notifier.notify(BUY)
    finally:
        await notifier.aclose()
    assert len(webhook.received) == 3
    assert (notifier.sent, notifier.failed) == (1, 0)


@pytest.mark.anyio
async def test_a_429_waits_for_retry_after_before_posting_again(webhook: WebhookServer) -> None:
    webhook.answers = [(429, {"Retry-After": "1"})]
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3))
    try:
        await notifier.notify(BUY)
    finally:
        await notifier.aclose()
    assert len(webhook.received) == 2
    assert webhook.received[0] == webhook.received[1]
    assert webhook.arrived[1] - webhook.arrived[0] >= 1.0
    assert (notifier.sent, notifier.failed) == (1, 0)


@pytest.mark.anyio
async def test_a_long_retry_after_drops_messages_without_posting_or_stalling(
    webhook: WebhookServer,
) -> None:
    webhook.answers = [(429, {"Retry-After": "3600"})]
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3, rate_limit_wait=2))
    try:
        with anyio.fail_after(10):  # a hang guard: waiting an hour would trip it
            await notifier.notify(BUY)
            await notifier.notify(SELL)  # inside Slack's window: not even tried
    finally:
        await notifier.aclose()
    assert len(webhook.received) == 1
    assert (notifier.sent, notifier.failed) == (0, 2)


@pytest.mark.anyio
async def test_gives_up_without_raising_and_never_logs_the_url(webhook: WebhookServer) -> None:
    from tradekit.log import add_secrets

    add_secrets([webhook.url])
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    webhook.answers = [(404, {})]  # a revoked webhook: not retried
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3))
    try:
        await notifier.notify(BUY)
    finally:
        await notifier.aclose()
        logger.remove(handler)
    assert len(webhook.received) == 1
    assert notifier.failed == 1
    assert any("dropped a fill message after errors (HTTP 404)" in line for line in lines)
    assert not any("XXXX" in line for line in lines)


@pytest.mark.anyio
async def test_unreachable_webhook_is_dropped_after_bounded_retries() -> None:
    notifier = SlackNotifier(
        SlackConfig(webhook_url="http://127.0.0.1:9/hook", retries=1, timeout=1.0)
    )
    try:
        await notifier.notify(BUY)
    finally:
        await notifier.aclose()
    assert notifier.failed == 1


def test_config_rejects_a_non_url() -> None:
    from tradekit.params import ConfigValueError

    with pytest.raises(ConfigValueError, match="expected an https:// webhook URL"):
        SlackConfig(webhook_url="not-a-url")
