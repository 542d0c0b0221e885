"""Prometheus metrics: a private registry per bot, and what each observation changes."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tradekit import __version__
from tradekit.events import (
    BarClosed,
    EntryRejected,
    ErrorEvent,
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
from tradekit.runner.control import BotStatus
from tradekit.runner.metrics import Metrics

T0 = 1_700_000_000_000
BTC = "KRW-BTC"
ETH = "KRW-ETH"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(metrics: Metrics) -> Samples:
    """Every sample of the text exposition, parsed back, keyed by name and labels."""
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def bar(market: str = BTC, time_ms: int = T0) -> Bar:
    return Bar(market, time_ms, 100.0, 110.0, 90.0, 105.0, 3.0)


def position(market: str = BTC, quantity: float = 0.5) -> Position:
    return Position(market, quantity, 100.0, T0, 95.0, 110.0, last_price=105.0)


def status(**changes: object) -> BotStatus:
    values: dict[str, object] = {
        "mode": "paper",
        "version": "9.9.9",
        "markets": [BTC, ETH],
        "timeframe": "1h",
        "strategy": "breakout",
        "paused": False,
        "halted": False,
        "equity": 10_050_000.0,
        "equity_at_close": 10_040_000.0,
        "cash": 9_000_000.0,
        "started_ms": T0,
        "last_bar_ms": {BTC: T0 + 3_600_000},
        "bars_processed": 2,
        "fills": 1,
        "open_positions": 1,
    }
    values.update(changes)
    return BotStatus(**values)  # type: ignore[arg-type]


def test_every_metric_is_exposed_from_the_start() -> None:
    found = samples(Metrics([BTC, ETH]))
    names = {name for name, _ in found}
    assert {
        "tradekit_equity_krw",
        "tradekit_cash_krw",
        "tradekit_paused",
        "tradekit_halted",
        "tradekit_bar_processing_seconds_count",
        "tradekit_bars_total",
        "tradekit_signals_total",
        "tradekit_position_quantity",
    } <= names
    # Known markets start at 0, so rate() works from the first scrape.
    for market in (BTC, ETH):
        assert value(found, "tradekit_bars_total", market=market) == 0
        assert value(found, "tradekit_signals_total", market=market) == 0
        assert value(found, "tradekit_position_quantity", market=market) == 0


def test_each_bot_has_its_own_registry() -> None:
    one, two = Metrics([BTC]), Metrics([BTC])  # same names: would clash in one registry
    one.observe_bar(bar(), 0.001)
    assert value(samples(one), "tradekit_bars_total", market=BTC) == 1
    assert value(samples(two), "tradekit_bars_total", market=BTC) == 0
    default_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("tradekit") for name in default_names)


def test_observe_bar_counts_times_and_remembers_the_bar() -> None:
    metrics = Metrics()
    metrics.observe_bar(bar(BTC, T0), 0.002)
    metrics.observe_bar(bar(BTC, T0 + 3_600_000), 0.004)
    metrics.observe_bar(bar(ETH, T0), 0.5)
    found = samples(metrics)
    assert value(found, "tradekit_bars_total", market=BTC) == 2
    assert value(found, "tradekit_bars_total", market=ETH) == 1
    assert value(found, "tradekit_last_bar_timestamp_seconds", market=BTC) == T0 / 1000 + 3600
    assert value(found, "tradekit_last_bar_timestamp_seconds", market=ETH) == T0 / 1000
    assert value(found, "tradekit_bar_processing_seconds_count") == 3
    assert value(found, "tradekit_bar_processing_seconds_sum") == pytest.approx(0.506)
    assert value(found, "tradekit_bar_processing_seconds_bucket", le="0.0025") == 1
    assert value(found, "tradekit_bar_processing_seconds_bucket", le="0.005") == 2
    assert value(found, "tradekit_bar_processing_seconds_bucket", le="+Inf") == 3


def test_fills_signals_and_rejections_are_counted_by_label() -> None:
    metrics = Metrics([BTC])
    buy = Fill(T0, BTC, Side.BUY, 100.0, 0.5, 0.125, "entry")
    sell = Fill(T0 + 1, BTC, Side.SELL, 110.0, 0.25, 0.07, "take_profit")
    metrics.observe_event(FillEvent(T0, buy, 9_950_000.0, 9_999_900.0))
    metrics.observe_event(FillEvent(T0 + 1, sell, 9_977_000.0, 10_002_000.0))
    signal = Signal(BTC, T0, "buy", 100.0, ExitPlan(stop_loss=0.05), strategy="breakout")
    metrics.observe_event(SignalEvent(T0, signal))
    metrics.observe_event(SignalEvent(T0, signal))
    metrics.observe_event(EntryRejected(T0, BTC, "max_positions", "3 positions open"))
    metrics.observe_event(EntryRejected(T0, ETH, "paused", "trading is paused"))
    metrics.observe_event(EntryRejected(T0, ETH, "paused", "trading is paused"))
    found = samples(metrics)
    assert value(found, "tradekit_fills_total", market=BTC, side="buy", reason="entry") == 1
    assert value(found, "tradekit_fills_total", market=BTC, side="sell", reason="take_profit") == 1
    assert value(found, "tradekit_equity_krw") == 10_002_000.0  # from the latest fill
    assert value(found, "tradekit_cash_krw") == 9_977_000.0
    assert value(found, "tradekit_signals_total", market=BTC) == 2
    assert value(found, "tradekit_entries_rejected_total", market=BTC, rule="max_positions") == 1
    assert value(found, "tradekit_entries_rejected_total", market=ETH, rule="paused") == 2


def test_halts_pauses_positions_and_errors_follow_events() -> None:
    metrics = Metrics()
    metrics.observe_event(TradingHalted(T0, "2023-11-15", 9.0e6, 1.0e7, "daily loss limit"))
    metrics.observe_event(Paused(T0))
    metrics.observe_event(PositionOpened(T0, position(BTC, 0.5)))
    metrics.observe_event(ErrorEvent(T0, "storage", "database is locked"))
    found = samples(metrics)
    assert value(found, "tradekit_halted") == 1
    assert value(found, "tradekit_paused") == 1
    assert value(found, "tradekit_position_quantity", market=BTC) == 0.5
    assert value(found, "tradekit_errors_total", source="storage") == 1

    metrics.observe_event(TradingResumed(T0, "2023-11-16"))
    metrics.observe_event(Resumed(T0))
    metrics.observe_event(PositionClosed(T0, position(BTC, 0.5), 1234.0, "stop_loss"))
    found = samples(metrics)
    assert value(found, "tradekit_halted") == 0
    assert value(found, "tradekit_paused") == 0
    assert value(found, "tradekit_position_quantity", market=BTC) == 0


def test_events_without_metrics_change_nothing() -> None:
    metrics = Metrics([BTC])
    before = samples(metrics)
    order = Order("tk-1", BTC, Side.BUY, OrderType.MARKET, None, 50_000.0, OrderStatus.NEW, T0, T0)
    # Bars are counted by observe_bar only: a BarClosed event must not count them again.
    metrics.observe_event(BarClosed(T0, bar()))
    metrics.observe_event(OrderEvent(T0, order))
    assert samples(metrics) == before


def test_update_status_sets_the_snapshot_gauges_and_info() -> None:
    metrics = Metrics()
    metrics.update_status(status(paused=True, halted=True))
    found = samples(metrics)
    assert value(found, "tradekit_info", version="9.9.9", mode="paper", strategy="breakout") == 1
    assert value(found, "tradekit_equity_krw") == 10_050_000.0
    assert value(found, "tradekit_cash_krw") == 9_000_000.0
    assert value(found, "tradekit_paused") == 1
    assert value(found, "tradekit_halted") == 1
    assert value(found, "tradekit_last_bar_timestamp_seconds", market=BTC) == T0 / 1000 + 3600

    metrics.update_status(status(mode="live"))
    found = samples(metrics)
    assert value(found, "tradekit_paused") == 0
    info = [labels for name, labels in found if name == "tradekit_info"]
    assert info == [frozenset({"version": "9.9.9", "mode": "live", "strategy": "breakout"}.items())]


def test_info_is_known_before_the_first_status() -> None:
    found = samples(Metrics(mode="paper", strategy="breakout"))
    assert value(found, "tradekit_info", version=__version__, mode="paper", strategy="breakout")


def test_update_positions_sets_held_markets_and_zeroes_the_rest() -> None:
    metrics = Metrics([BTC, ETH])
    metrics.update_positions([position(BTC, 0.5), position(ETH, 2.0)])
    metrics.update_positions([position(BTC, 0.25), position("KRW-XRP", 10.0)])
    found = samples(metrics)
    assert value(found, "tradekit_position_quantity", market=BTC) == 0.25
    assert value(found, "tradekit_position_quantity", market=ETH) == 0
    assert value(found, "tradekit_position_quantity", market="KRW-XRP") == 10.0


def test_exchange_errors_are_counted_by_kind() -> None:
    metrics = Metrics()
    for kind in ("rate_limited", "timeout", "rate_limited"):
        metrics.exchange_error(kind)
    found = samples(metrics)
    assert value(found, "tradekit_exchange_errors_total", kind="rate_limited") == 2
    assert value(found, "tradekit_exchange_errors_total", kind="timeout") == 1
