"""Row functions, money type, config digest, URL handling: no database involved."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from tradekit.errors import ConfigError, StorageError
from tradekit.events import DailyReport, FillEvent, TradingHalted
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
    Timeframe,
)
from tradekit.store import rows
from tradekit.store.candles import is_store_url, open_store_candle_source
from tradekit.store.cli import storage_url
from tradekit.store.engine import make_engine, safe_url
from tradekit.store.retry import RetryPolicy
from tradekit.store.types import Money

money = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
maybe_money = st.none() | money
times = st.integers(min_value=0, max_value=4_102_444_800_000)
text = st.text(max_size=20)


def _reread(row: dict[str, object]) -> dict[str, object]:
    """What the database hands back: money columns as Decimal (as the Money type does)."""
    return {k: Decimal(str(v)) if isinstance(v, Decimal) else v for k, v in row.items()}


@given(
    st.builds(
        Order,
        client_order_id=text,
        market=text,
        side=st.sampled_from(Side),
        type=st.sampled_from(OrderType),
        volume=maybe_money,
        price=maybe_money,
        status=st.sampled_from(OrderStatus),
        created_ms=times,
        updated_ms=times,
        exchange_order_id=st.none() | text,
        executed_volume=money,
        average_price=maybe_money,
        fee=money,
        reason=text,
    )
)
def test_order_round_trip(order: Order) -> None:
    assert rows.order_from_row(_reread(rows.order_to_row(order))) == order


@given(
    st.builds(Fill, times, text, st.sampled_from(Side), money, money, money, text, st.none() | text)
)
def test_fill_round_trip(fill: Fill) -> None:
    assert rows.fill_from_row(_reread(rows.fill_to_row(fill, "run"))) == fill


fractions = st.none() | st.floats(min_value=0, max_value=1)


@given(
    st.builds(
        Signal,
        market=text,
        time_ms=times,
        action=st.sampled_from(["buy", "sell", "hold"]),
        price=money,
        exit_plan=st.builds(ExitPlan, fractions, fractions, st.floats(0, 1), fractions),
        confidence=st.floats(0, 1),
        reason=text,
        strategy=text,
    )
)
def test_signal_round_trip(signal: Signal) -> None:
    assert rows.signal_from_row(_reread(rows.signal_to_row(signal))) == signal


@given(
    st.builds(
        Position,
        market=text,
        quantity=money,
        entry_price=money,
        entry_time_ms=times,
        stop=maybe_money,
        take_profit_price=maybe_money,
        take_profit_reached=st.booleans(),
        highest=maybe_money,
        last_price=maybe_money,
        status=st.sampled_from(["open", "closed"]),
    )
)
def test_position_round_trip(position: Position) -> None:
    row = rows.position_to_row(position, 123)
    assert row["unrealized_pnl"] == Decimal(repr(position.unrealized_pnl))
    assert rows.position_from_row(_reread(row)) == position


def test_bar_and_daily_report_round_trip() -> None:
    bar = Bar("KRW-BTC", 1_700_000_000_000, 1.5, 2.0, 1.0, 1.75, 0.30000000000000004)
    row = rows.bar_to_row(bar, Timeframe("1h"))
    assert row["timeframe"] == "1h"
    assert rows.bar_from_row(row) == bar
    report = DailyReport(1_709_251_200_000, "2024-03-01", 1e7, 1.01e7, 1e5, 0.02, 4, 0.5, "ok")
    assert rows.daily_report_from_row(rows.daily_report_to_row(report)) == report


def test_events_round_trip_and_unknown_kinds_stay_readable() -> None:
    fill = Fill(1, "KRW-BTC", Side.SELL, 2.0, 3.0, 0.1, "stop_loss", "tk-1")
    for event in (
        FillEvent(1, fill, cash=10.0, equity=12.5),
        TradingHalted(2, "2024-03-01", 9.0, 10.0, "daily loss limit"),
    ):
        row = rows.event_to_row(event, "run")
        assert row["kind"] == event.kind
        assert row["payload"]["time_ms"] == event.time_ms
        assert rows.event_from_row(row) == event
    plugin = {"kind": "plugin_thing", "time_ms": 5, "payload": {"time_ms": 5, "x": [1, 2]}}
    assert rows.event_from_row(plugin) == {"time_ms": 5, "x": [1, 2]}


@pytest.mark.parametrize("value", [0.1, 0.1 + 0.2, 1e-8, 123456789.12345679, 5, Decimal("1E+3")])
def test_money_is_exact_on_sqlite_and_postgresql(value: float | Decimal) -> None:
    money_type = Money()
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        stored = money_type.process_bind_param(value, dialect)
        back = money_type.process_result_value(stored, dialect)
        assert back is not None
        assert float(back) == float(value)
    assert money_type.process_bind_param(0.1, sqlite.dialect()) == "0.1"
    assert money_type.process_bind_param(None, sqlite.dialect()) is None


BASE_CONFIG = "mode: backtest\nmarkets: [KRW-BTC]\nstrategy: {use: breakout}\n"
BASE_CONFIG += "backtest: {data: {KRW-BTC: candles.csv}}\n"


def test_storage_url_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE_CONFIG + "storage: {url: 'postgresql+psycopg://u@h/db'}\n")
    assert storage_url(path) == "postgresql+psycopg://u@h/db"
    path.write_text(BASE_CONFIG)
    assert storage_url(path) == "sqlite:///tradekit.db"
    monkeypatch.setenv("TK_TEST_DB", "sqlite:///from-env.db")
    path.write_text(BASE_CONFIG + "storage: {url: '${TK_TEST_DB}'}\n")
    assert storage_url(path) == "sqlite:///from-env.db"
    path.write_text(BASE_CONFIG + "storage: {url: 3}\n")
    with pytest.raises(ConfigError, match=r"storage\.url"):
        storage_url(path)
    path.write_text(BASE_CONFIG + "storage: {uri: x}\n")
    with pytest.raises(ConfigError, match=r"storage\.uri.*did you mean 'url'"):
        storage_url(path)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data/btc.csv", False),
        ("file://data/btc.csv", False),
        ("https://example.com/btc.csv", False),
        ("sqlite:///candles.db", True),
        ("postgresql+psycopg://u@localhost/db", True),
    ],
)
def test_only_database_urls_open_a_store_candle_source(uri: str, expected: bool) -> None:
    assert is_store_url(uri) is expected
    assert (open_store_candle_source(uri) is not None) is expected


def test_bad_urls_and_hidden_passwords() -> None:
    with pytest.raises(StorageError, match="cannot use database URL"):
        make_engine("nosuchdb://x")
    assert "hunter2" not in safe_url("postgresql+psycopg://bot:hunter2@db/x")
    assert safe_url("not a url") == "<invalid database URL>"


def test_retry_delays_are_bounded() -> None:
    assert list(RetryPolicy(attempts=6, first_delay=0.5, max_delay=2.0).delays()) == [
        0.5,
        1.0,
        2.0,
        2.0,
        2.0,
    ]
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_store_names_are_loaded_lazily() -> None:
    import tradekit.store

    assert tradekit.store.Store.__name__ == "Store"
    assert tradekit.store.open_store_candle_source is open_store_candle_source
    with pytest.raises(AttributeError):
        _ = tradekit.store.nothing_here


def test_the_db_command_group_does_not_import_sqlalchemy() -> None:
    # `tradekit --help` must stay fast once the lead attaches `db` to the main CLI.
    code = "import sys, tradekit.store.cli; print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
