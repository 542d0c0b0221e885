"""Prometheus metrics of a running bot, served by the control API at ``GET /metrics``.

Every :class:`Metrics` owns its own :class:`~prometheus_client.CollectorRegistry`, never the
process-wide default one, so several bots (or tests) in one process do not clash. Labelled
children are created once and kept in dicts: the per-bar path is a dict lookup and an add.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from tradekit import __version__
from tradekit.events import (
    EntryRejected,
    ErrorEvent,
    Event,
    FillEvent,
    Paused,
    PositionClosed,
    PositionOpened,
    Resumed,
    SignalEvent,
    TradingHalted,
    TradingResumed,
)
from tradekit.models import Bar, Position, PositionStatus
from tradekit.runner.control import BotStatus

__all__ = ["BAR_SECONDS_BUCKETS", "Metrics"]

#: Histogram buckets for ``tradekit_bar_processing_seconds``: a bar normally takes well under a
#: millisecond to a few milliseconds, so the low end is finer than prometheus_client's default.
BAR_SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """The bot's metrics in a private registry.

    The runner calls :meth:`observe_bar` for every processed bar, :meth:`observe_event` for
    every engine event, :meth:`exchange_error` for every failed exchange call, and
    :meth:`update_status` / :meth:`update_positions` with fresh snapshots (the control API
    does so on every scrape, so the gauges Prometheus sees are never stale).

    Args:
        markets: markets known up front; their counters are created at 0, so a rate over them
            works from the first scrape.
        mode: ``paper`` or ``live``, for ``tradekit_info`` before the first status update.
        strategy: the strategy's name, likewise.
    """

    def __init__(
        self, markets: Iterable[str] = (), *, mode: str | None = None, strategy: str | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._info = Info("tradekit", "The running bot: version, mode, strategy.", registry=r)
        self._info_labels: tuple[str, str, str] | None = None
        self._equity = Gauge("tradekit_equity_krw", "Equity (cash + positions) in KRW.", registry=r)
        self._cash = Gauge("tradekit_cash_krw", "Cash in KRW.", registry=r)
        self._paused = Gauge(
            "tradekit_paused", "1 while an operator has paused new entries.", registry=r
        )
        self._halted = Gauge(
            "tradekit_halted", "1 while a risk rule has halted new entries.", registry=r
        )
        self._position_quantity = Gauge(
            "tradekit_position_quantity",
            "Quantity held, in the market's base currency.",
            ["market"],
            registry=r,
        )
        self._last_bar = Gauge(
            "tradekit_last_bar_timestamp_seconds",
            "Open time (Unix seconds) of the last closed bar processed.",
            ["market"],
            registry=r,
        )
        self._bars = Counter(
            "tradekit_bars_total", "Closed bars processed.", ["market"], registry=r
        )
        self._signals = Counter(
            "tradekit_signals_total", "Signals the strategy produced.", ["market"], registry=r
        )
        self._fills = Counter(
            "tradekit_fills_total",
            "Fills (executions), by side and reason.",
            ["market", "side", "reason"],
            registry=r,
        )
        self._rejections = Counter(
            "tradekit_entries_rejected_total",
            "Entries refused, by the risk rule (or market rule) that refused them.",
            ["market", "rule"],
            registry=r,
        )
        self._exchange_errors = Counter(
            "tradekit_exchange_errors_total",
            "Failed exchange calls, by kind.",
            ["kind"],
            registry=r,
        )
        self._errors = Counter(
            "tradekit_errors_total",
            "Error events the engine emitted, by source.",
            ["source"],
            registry=r,
        )
        self._bar_seconds = Histogram(
            "tradekit_bar_processing_seconds",
            "Time spent processing one closed bar.",
            buckets=BAR_SECONDS_BUCKETS,
            registry=r,
        )

        # Pre-bound children: .labels() parses and validates its arguments on every call.
        self._bar_children: dict[str, Counter] = {}
        self._signal_children: dict[str, Counter] = {}
        self._last_bar_children: dict[str, Gauge] = {}
        self._quantity_children: dict[str, Gauge] = {}
        self._fill_children: dict[tuple[str, str, str], Counter] = {}
        self._rejection_children: dict[tuple[str, str], Counter] = {}
        self._exchange_error_children: dict[str, Counter] = {}
        self._error_children: dict[str, Counter] = {}
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            FillEvent: self._on_fill,
            SignalEvent: self._on_signal,
            EntryRejected: self._on_rejected,
            PositionOpened: self._on_opened,
            PositionClosed: self._on_closed,
            TradingHalted: lambda _e: self._halted.set(1),
            TradingResumed: lambda _e: self._halted.set(0),
            Paused: lambda _e: self._paused.set(1),
            Resumed: lambda _e: self._paused.set(0),
            ErrorEvent: self._on_error,
        }
        if mode is not None or strategy is not None:
            self._set_info(__version__, mode or "", strategy or "")
        for market in markets:
            self._bar_child(market)
            self._signal_child(market)
            self._quantity_child(market)

    # -- what the runner calls -------------------------------------------------------------

    def observe_bar(self, bar: Bar, seconds: float) -> None:
        """Count a processed bar, remember its time and how long processing it took."""
        market = bar.market
        child = self._bar_children.get(market)
        if child is None:
            child = self._bar_child(market)
        child.inc()
        gauge = self._last_bar_children.get(market)
        if gauge is None:
            gauge = self._last_bar_child(market)
        gauge.set(bar.time_ms / 1000)
        self._bar_seconds.observe(seconds)

    def observe_event(self, event: Event) -> None:
        """Update the metrics an engine event affects; other events are ignored.

        Bars are counted by :meth:`observe_bar`, not from ``BarClosed`` events, so feeding both
        does not count a bar twice.
        """
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def update_status(self, status: BotStatus) -> None:
        """Set the gauges a status snapshot carries (equity, cash, paused, halted, last bars)."""
        self._set_info(status.version, status.mode, status.strategy)
        self._equity.set(status.equity)
        self._cash.set(status.cash)
        self._paused.set(1 if status.paused else 0)
        self._halted.set(1 if status.halted else 0)
        for market, time_ms in status.last_bar_ms.items():
            gauge = self._last_bar_children.get(market)
            if gauge is None:
                gauge = self._last_bar_child(market)
            gauge.set(time_ms / 1000)

    def update_positions(self, positions: Iterable[Position]) -> None:
        """Set ``tradekit_position_quantity`` from the open positions (others become 0)."""
        held = {p.market: p.quantity for p in positions if p.status is PositionStatus.OPEN}
        for market in held.keys() - self._quantity_children.keys():
            self._quantity_child(market)
        for market, gauge in self._quantity_children.items():
            gauge.set(held.get(market, 0.0))

    def exchange_error(self, kind: str) -> None:
        """Count a failed exchange call (``kind``: e.g. ``rate_limited``, ``timeout``)."""
        child = self._exchange_error_children.get(kind)
        if child is None:
            child = self._exchange_error_children[kind] = self._exchange_errors.labels(kind)
        child.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of every metric."""
        return generate_latest(self.registry)

    # -- events ----------------------------------------------------------------------------

    def _on_fill(self, event: FillEvent) -> None:
        fill = event.fill
        key = (fill.market, fill.side.value, fill.reason)
        child = self._fill_children.get(key)
        if child is None:
            child = self._fill_children[key] = self._fills.labels(*key)
        child.inc()
        self._equity.set(event.equity)
        self._cash.set(event.cash)

    def _on_signal(self, event: SignalEvent) -> None:
        market = event.signal.market
        child = self._signal_children.get(market)
        if child is None:
            child = self._signal_child(market)
        child.inc()

    def _on_rejected(self, event: EntryRejected) -> None:
        key = (event.market, event.rule)
        child = self._rejection_children.get(key)
        if child is None:
            child = self._rejection_children[key] = self._rejections.labels(*key)
        child.inc()

    def _on_opened(self, event: PositionOpened) -> None:
        self._quantity(event.position.market).set(event.position.quantity)

    def _on_closed(self, event: PositionClosed) -> None:
        self._quantity(event.position.market).set(0)

    def _on_error(self, event: ErrorEvent) -> None:
        child = self._error_children.get(event.source)
        if child is None:
            child = self._error_children[event.source] = self._errors.labels(event.source)
        child.inc()

    # -- children --------------------------------------------------------------------------

    def _set_info(self, version: str, mode: str, strategy: str) -> None:
        labels = (version, mode, strategy)
        if labels != self._info_labels:  # called per bar: skip the lock when nothing changed
            self._info.info({"version": version, "mode": mode, "strategy": strategy})
            self._info_labels = labels

    def _bar_child(self, market: str) -> Counter:
        child = self._bar_children[market] = self._bars.labels(market)
        return child

    def _signal_child(self, market: str) -> Counter:
        child = self._signal_children[market] = self._signals.labels(market)
        return child

    def _last_bar_child(self, market: str) -> Gauge:
        child = self._last_bar_children[market] = self._last_bar.labels(market)
        return child

    def _quantity(self, market: str) -> Gauge:
        gauge = self._quantity_children.get(market)
        return self._quantity_child(market) if gauge is None else gauge

    def _quantity_child(self, market: str) -> Gauge:
        child = self._quantity_children[market] = self._position_quantity.labels(market)
        return child
