"""The Slack notifier against a real local webhook server."""

from __future__ import annotations

import pytest
from loguru import logger
from tradekit_slack.messages import format_event
from tradekit_slack.notifier import SlackConfig, SlackNotifier
from webhook_server import WebhookServer

from tradekit.events import DailyReport, ErrorEvent, FillEvent, SignalEvent, TradingHalted
from tradekit.models import ExitPlan, Fill, Side, Signal
from tradekit.plugins import load_plugins

FILL = FillEvent(
    1_700_000_000_000,
    Fill(1_700_000_000_000, "KRW-BTC", Side.BUY, 50_000_000.0, 0.01, 1250.0, "entry"),
    cash=9_498_750.0,
    equity=9_998_750.0,
)


def test_registered_through_the_hook() -> None:
    assert load_plugins().get("notifier", "slack").cls is SlackNotifier


def test_messages_for_each_event_kind() -> None:
    signal = Signal(
        "KRW-BTC", 1_700_000_000_000, "buy", 50_000_000.0, ExitPlan(), reason="breakout"
    )
    assert format_event(SignalEvent(0, signal)) == (
        ":mag: *Signal* buy KRW-BTC at 50,000,000 (2023-11-14 22:13 UTC): breakout"
    )
    assert format_event(FILL) == (
        ":large_green_circle: *Fill* buy 0.01000000 KRW-BTC at 50,000,000 (fee 1,250, entry); "
        "equity 9,998,750"
    )
    assert format_event(ErrorEvent(0, "exchange", "timeout", fatal=True)) == (
        ":rotating_light: *Fatal error* in exchange: timeout"
    )
    report = DailyReport(0, "2026-11-25", 10e6, 10.1e6, 100_000.0, 0.012, 3, 2 / 3)
    assert format_event(report) == (
        ":bar_chart: *Daily report 2026-11-25*: P&L 100,000 KRW, equity 10,100,000, "
        "max drawdown 1.20%, trades 3, win rate 67%"
    )
    halted = TradingHalted(0, "2026-11-25", 9.4e6, 10e6, "equity fell")
    assert format_event(halted) == ":octagonal_sign: *Trading halted* for 2026-11-25: equity fell"


@pytest.mark.anyio
async def test_posts_to_the_webhook(webhook: WebhookServer) -> None:
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, channel="#bot"))
    try:
        await notifier.notify(FILL)
    finally:
        await notifier.aclose()
    assert webhook.received == [
        {"text": format_event(FILL), "username": "tradekit", "channel": "#bot"}
    ]
    assert notifier.sent == 1


@pytest.mark.anyio
async def test_retries_server_errors_then_succeeds(webhook: WebhookServer) -> None:
    webhook.answers = [(500, {}), (429, {"Retry-After": "0"})]
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3))
    try:
        await notifier.notify(FILL)
    finally:
        await notifier.aclose()
    assert len(webhook.received) == 3
    assert (notifier.sent, notifier.failed) == (1, 0)


@pytest.mark.anyio
async def test_gives_up_without_raising_and_never_logs_the_url(webhook: WebhookServer) -> None:
    from tradekit.log import add_secrets

    add_secrets([webhook.url])
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    webhook.answers = [(404, {})]  # a revoked webhook: not retried
    notifier = SlackNotifier(SlackConfig(webhook_url=webhook.url, retries=3))
    try:
        await notifier.notify(FILL)
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
        await notifier.notify(FILL)
    finally:
        await notifier.aclose()
    assert notifier.failed == 1


def test_config_rejects_a_non_url() -> None:
    from tradekit.config import ConfigValueError

    with pytest.raises(ConfigValueError, match="expected an https:// webhook URL"):
        SlackConfig(webhook_url="not-a-url")
