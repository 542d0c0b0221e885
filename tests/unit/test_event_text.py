"""Events and errors as one readable line (the log notifier's and the runner's wording)."""

from __future__ import annotations

import socket

import httpx
import pytest

from tradekit.errors import ConfigError, TemporaryExchangeError
from tradekit.event_text import describe_error, describe_event, one_line
from tradekit.events import (
    AccountSnapshot,
    BarClosed,
    DailyReport,
    EngineStopped,
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    OrderEvent,
    Paused,
    PositionClosed,
    PositionOpened,
    Resumed,
    SignalEvent,
    TradingHalted,
    TradingResumed,
)
from tradekit.models import (
    Bar,
    ExitPlan,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
)
from tradekit.network import connect_failure, unreachable

T = 1_572_001_200_000  # 2019-10-25 11:00 UTC
POSITION = Position("KRW-BTC", 0.056, 8_925_000.0, T, 8_791_000.0, 9_193_000.0)
EVENTS: list[tuple[Event, str]] = [
    (
        SignalEvent(
            T,
            Signal("KRW-BTC", T, "buy", 8_925_000.0, ExitPlan(0.015), reason="close above high"),
        ),
        "signal: buy KRW-BTC at 8,925,000 on the bar of 2019-10-25 11:00 UTC: close above high",
    ),
    (
        FillEvent(T, Fill(T, "KRW-BTC", Side.BUY, 8_925_000.0, 0.056, 1249.5, "entry"), 9e6, 1e7),
        "fill: bought 0.056 KRW-BTC at 8,925,000 (entry, fee 1,250); cash 9,000,000, "
        "equity 10,000,000",
    ),
    (
        OrderEvent(
            T,
            Order(
                "entry-1",
                "KRW-BTC",
                Side.BUY,
                OrderType.MARKET,
                None,
                499_800.0,
                OrderStatus.FILLED,
                T,
                T,
                executed_volume=0.0560251,
                average_price=8_921_000.0,
                reason="entry",
            ),
        ),
        "order: buy 499,800 KRW of KRW-BTC market is filled, executed 0.0560251 at 8,921,000 "
        "(entry)",
    ),
    (
        PositionOpened(T, POSITION),
        "position_opened: 0.056 KRW-BTC at 8,925,000, stop 8,791,000, take-profit 9,193,000",
    ),
    (
        PositionClosed(T, POSITION, -7_628.4, "stop_loss"),
        "position_closed: KRW-BTC by stop_loss, P&L -7,628 KRW",
    ),
    (
        EntryRejected(T, "KRW-BTC", "position_size", "below the minimum"),
        "entry_rejected: KRW-BTC by position_size: below the minimum",
    ),
    (
        TradingHalted(T, "2019-10-25", 9.4e6, 1e7, "daily loss 6% >= 5%"),
        "halted: no new entries on 2019-10-25: daily loss 6% >= 5% (equity 9,400,000 of "
        "10,000,000 at the day's start)",
    ),
    (TradingResumed(T, "2019-10-26"), "halt_lifted: new entries allowed again on 2019-10-26"),
    (Paused(T), "paused: new entries paused by api (exits keep working)"),
    (Resumed(T), "resumed: new entries resumed by api"),
    (
        ErrorEvent(T, "engine", "error: cannot reach api.bithumb.com\nsecond line", fatal=True),
        "error: engine (fatal, the bot stops): error: cannot reach api.bithumb.com; second line",
    ),
    (EngineStopped(T, "shutdown"), "stopped: the bot stopped (shutdown)"),
    (
        DailyReport(T, "2019-10-25", 1e7, 10_003_734.6, 3_734.6, 0.00012, 1, 1.0),
        "daily_report: 2019-10-25: P&L +3,735 KRW (+0.04%), equity 10,003,735, max drawdown "
        "0.01%, 1 trade(s), win rate 100%",
    ),
    (
        BarClosed(T, Bar("KRW-BTC", T, 8.9e6, 9e6, 8.8e6, 8.95e6, 12.5)),
        "bar: KRW-BTC 2019-10-25 11:00 UTC open 8,900,000 high 9,000,000 low 8,800,000 close "
        "8,950,000 volume 12.5000",
    ),
    (
        AccountSnapshot(T, ("KRW-BTC",), 9.5e6, ()),
        "paper_account: cash 9,500,000, holding nothing",
    ),
]


@pytest.mark.parametrize(("event", "text"), EVENTS, ids=[e.kind for e, _ in EVENTS])
def test_every_event_kind_is_one_sentence(event: Event, text: str) -> None:
    assert describe_event(event) == text


def test_every_event_class_is_covered() -> None:
    import tradekit.events as events

    kinds = {
        cls.kind
        for cls in vars(events).values()
        if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
    }
    covered = {event.kind for event, _ in EVENTS} | {"live_account"}
    assert kinds <= covered


def test_an_unknown_event_kind_shows_its_plain_fields() -> None:
    import attrs

    @attrs.frozen
    class Custom(Event):
        kind = "custom"
        market: str
        nested: object = None

    assert describe_event(Custom(T, "KRW-BTC", object())) == (
        "custom: at 2019-10-25 11:00 UTC: market=KRW-BTC"
    )


def test_errors_are_one_line_and_tradekit_errors_lose_their_class_name() -> None:
    assert describe_error(TemporaryExchangeError("cannot reach x")) == "cannot reach x"
    assert describe_error(KeyError("k")) == "KeyError: 'k'"
    assert describe_error(RuntimeError()) == "RuntimeError"
    two = ConfigError(["a: bad", "b: worse"])
    assert "\n" not in describe_error(two)
    assert one_line("a\n\n  b \n") == "a; b"


def connect_error(cause: BaseException) -> httpx.ConnectError:
    """A connect error as httpx raises it: the OS error is the cause of the cause."""
    inner = RuntimeError(str(cause))
    inner.__cause__ = cause
    outer = httpx.ConnectError(str(cause))
    outer.__cause__ = inner
    return outer


def test_connect_failures_name_their_cause() -> None:
    dns = connect_error(socket.gaierror(-2, "Name or service not known"))
    assert connect_failure(dns).startswith("DNS lookup failed")
    refused = connect_error(ConnectionRefusedError(111, "Connection refused"))
    assert connect_failure(refused).startswith("connection refused")
    assert connect_failure(connect_error(TimeoutError())) == "connection timed out"
    assert connect_failure(OSError("weird")) == "weird"
    assert unreachable("api.bithumb.com", dns, "exchange.base_url", "GET /v1/x") == (
        "cannot reach api.bithumb.com for GET /v1/x (ConnectError: DNS lookup failed, so no "
        "network or a wrong host name): check the network connection and exchange.base_url"
    )
