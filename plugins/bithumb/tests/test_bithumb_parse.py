"""Bithumb JSON -> tradekit values: numbers as numbers or strings, KST vs UTC, bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from loguru import logger
from tradekit_bithumb.parse import (
    kst_naive,
    parse_balances,
    parse_candles,
    parse_chance,
    parse_markets,
    parse_order,
    parse_orderbooks,
    parse_tickers,
    parse_time,
    parse_trades,
    to_decimal,
)

from tradekit.errors import ExchangeError
from tradekit.models import Balance, OrderStatus, OrderType, Side

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture
def log_lines() -> Any:
    lines: list[str] = []
    handler = logger.add(lines.append, format="{message}", level="WARNING")
    yield lines
    logger.remove(handler)


def candle(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "market": "KRW-BTC",
        "candle_date_time_utc": "2024-01-01T00:00:00",
        "candle_date_time_kst": "2024-01-01T09:00:00",
        "opening_price": 100,
        "high_price": "110.5",
        "low_price": 90.0,
        "trade_price": "105",
        "timestamp": T0 + 3_599_999,
        "candle_acc_trade_price": 1000,
        "candle_acc_trade_volume": "2.5",
        "unit": 60,
    }
    row.update(overrides)
    return row


def test_candle_numbers_may_be_json_numbers_or_strings() -> None:
    (bar,) = parse_candles([candle()], "KRW-BTC", "GET /v1/candles/minutes/60")
    assert (bar.market, bar.time_ms) == ("KRW-BTC", T0)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (100, 110.5, 90, 105, 2.5)


def test_candle_time_is_the_utc_field_and_kst_is_the_fallback() -> None:
    kst_only = candle()
    del kst_only["candle_date_time_utc"]
    # 09:00 KST == 00:00 UTC
    assert parse_candles([kst_only], "KRW-BTC", "src")[0].time_ms == T0
    # A day candle opens at KST midnight: 15:00 UTC the day before.
    day = candle(
        candle_date_time_utc="2023-12-31T15:00:00", candle_date_time_kst="2024-01-01T00:00:00"
    )
    assert parse_candles([day], "KRW-BTC", "src")[0].time_ms == T0 - 9 * 3_600_000


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"high_price": "abc"}, "high_price: expected a number, got 'abc'"),
        ({"trade_price": None}, "trade_price: expected a number, got None"),
        ({"opening_price": True}, "opening_price: expected a number, got True"),
        ({"low_price": "NaN"}, "low_price: expected a finite number"),
        ({"candle_date_time_utc": "yesterday"}, "candle_date_time_utc: expected an ISO"),
        ({"market": "KRW-ETH"}, "market: expected 'KRW-BTC', got 'KRW-ETH'"),
        ({"high_price": 95}, "high/low must contain open and close"),
    ],
)
def test_malformed_candles_raise_naming_field_and_value(
    overrides: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_candles([candle(), candle(**overrides)], "KRW-BTC", "GET /v1/candles/minutes/60")
    assert needle in str(info.value)
    assert "[1]" in str(info.value)  # which row
    assert info.value.code == "malformed_response"


def test_non_list_answer_is_malformed() -> None:
    with pytest.raises(ExchangeError, match="expected a JSON array"):
        parse_candles({"error": "?"}, "KRW-BTC", "src")


def test_to_decimal_is_exact() -> None:
    assert to_decimal(0.1, "f", "s") == Decimal("0.1")
    assert to_decimal("1,115.0508", "f", "s") == Decimal("1115.0508")  # legacy separators
    assert to_decimal(" 5 ", "f", "s") == Decimal(5)
    with pytest.raises(ExchangeError):
        to_decimal("Infinity", "f", "s")


def test_times_with_offsets_and_naive_kst() -> None:
    assert parse_time("2024-01-01T09:00:00+09:00", "created_at", "s") == T0
    assert parse_time("2024-01-01T09:00:00", "created_at", "s") == T0  # naive = KST
    assert parse_time("2024-01-01T00:00:00Z", "created_at", "s") == T0
    assert kst_naive(T0) == "2024-01-01T09:00:00"


def test_markets_skip_a_bad_row_with_a_log_line(log_lines: list[str]) -> None:
    markets = parse_markets(
        [
            {"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"},
            {"korean_name": "이름만"},
            {"market": "KRW-XRP", "english_name": "XRP", "market_warning": "CAUTION"},
        ]
    )
    assert [m.market for m in markets] == ["KRW-BTC", "KRW-XRP"]
    assert markets[1].warning == "CAUTION"
    assert len(log_lines) == 1
    assert "market" in log_lines[0]


def test_trades_taker_side_and_bad_rows_skipped(log_lines: list[str]) -> None:
    trades = parse_trades(
        [
            {
                "market": "KRW-BTC",
                "timestamp": T0,
                "trade_price": "50000000",
                "trade_volume": 0.5,
                "ask_bid": "BID",
                "sequential_id": 17,
            },
            {
                "market": "KRW-BTC",
                "timestamp": T0,
                "trade_price": "oops",
                "trade_volume": 1,
                "ask_bid": "ASK",
            },
            {
                "market": "KRW-BTC",
                "timestamp": T0 - 1,
                "trade_price": 49_999_000,
                "trade_volume": "1",
                "ask_bid": "ASK",
                "sequential_id": 16,
            },
        ],
        "KRW-BTC",
    )
    assert [(t.side, t.price, t.trade_id) for t in trades] == [
        (Side.BUY, 50_000_000, "17"),
        (Side.SELL, 49_999_000, "16"),
    ]
    assert len(log_lines) == 1


def test_tickers_and_orderbooks() -> None:
    (ticker,) = parse_tickers(
        [
            {
                "market": "KRW-BTC",
                "trade_price": 50_000_000,
                "trade_timestamp": T0,
                "acc_trade_volume_24h": "12.5",
            }
        ]
    )
    assert ticker.price == Decimal(50_000_000)
    assert ticker.acc_trade_volume_24h == Decimal("12.5")
    assert ticker.time_ms == T0
    (book,) = parse_orderbooks(
        [
            {
                "market": "KRW-BTC",
                "timestamp": T0,
                "orderbook_units": [
                    {"ask_price": 101, "bid_price": 100, "ask_size": "1", "bid_size": 0},
                    {"ask_price": 102, "bid_price": 99, "ask_size": 2, "bid_size": "3"},
                ],
            }
        ]
    )
    assert book.asks == ((Decimal(101), Decimal(1)), (Decimal(102), Decimal(2)))
    assert book.bids == ((Decimal(99), Decimal(3)),)  # the empty level is dropped


def test_balances() -> None:
    balances = parse_balances(
        [
            {"currency": "KRW", "balance": "1000.5", "locked": "0", "avg_buy_price": "0"},
            {"currency": "btc", "balance": 0.1, "locked": "0.02", "avg_buy_price": "49000000"},
        ]
    )
    assert balances["KRW"] == Balance("KRW", Decimal("1000.5"), Decimal(0), None)
    assert balances["BTC"] == Balance("BTC", Decimal("0.1"), Decimal("0.02"), Decimal(49_000_000))
    with pytest.raises(ExchangeError, match="balance: expected a number"):
        parse_balances([{"currency": "KRW", "balance": None}])


def test_chance_fields_are_optional() -> None:
    full = parse_chance(
        {
            "bid_fee": "0.0025",
            "ask_fee": 0.0004,
            "market": {
                "bid": {"currency": "KRW", "min_total": "5000"},
                "ask": {"currency": "BTC", "min_total": 5000},
                "max_total": "1000000000",
            },
        },
        "KRW-BTC",
    )
    assert (full.bid_fee, full.ask_fee) == (Decimal("0.0025"), Decimal("0.0004"))
    assert (full.bid_min_total, full.max_total) == (Decimal(5000), Decimal(1_000_000_000))
    bare = parse_chance({}, "KRW-BTC")
    assert bare.bid_fee is None
    assert bare.ask_min_total is None


def order(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uuid": "C0101000000000000001",
        "side": "bid",
        "ord_type": "limit",
        "price": "49000000",
        "state": "done",
        "market": "KRW-BTC",
        "created_at": "2024-01-01T09:00:00+09:00",
        "volume": "0.01",
        "remaining_volume": "0",
        "paid_fee": "1225",
        "executed_volume": "0.01",
        "executed_funds": "490000",
        "trades_count": 1,
        "client_order_id": "sig-1",
    }
    row.update(overrides)
    return row


def test_order_filled_with_average_price_and_fee() -> None:
    parsed = parse_order(order(), "GET /v1/order", now_ms=T0 + 5)
    assert parsed.status is OrderStatus.FILLED
    assert (parsed.side, parsed.type) == (Side.BUY, OrderType.LIMIT)
    assert (parsed.volume, parsed.price) == (0.01, 49_000_000)
    assert parsed.average_price == 49_000_000
    assert parsed.fee == 1225
    assert (parsed.created_ms, parsed.updated_ms) == (T0, T0 + 5)
    assert (parsed.client_order_id, parsed.exchange_order_id) == ("sig-1", "C0101000000000000001")


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"state": "wait", "executed_volume": "0"}, OrderStatus.OPEN),
        ({"state": "watch", "executed_volume": "0"}, OrderStatus.OPEN),
        ({"state": "cancel", "executed_volume": "0.005"}, OrderStatus.CANCELLED),
        # An IOC order that filled only in part ends "done" (docs/bithumb.md#known-pitfalls).
        ({"state": "done", "executed_volume": "0.004"}, OrderStatus.CANCELLED),
        (
            {"state": "done", "ord_type": "price", "volume": None, "price": "10000"},
            OrderStatus.FILLED,
        ),
    ],
)
def test_order_states(overrides: dict[str, Any], status: OrderStatus) -> None:
    assert parse_order(order(**overrides), "src").status is status


def test_market_orders_and_average_from_trades() -> None:
    sell = parse_order(
        order(
            side="ask",
            ord_type="market",
            price=None,
            executed_funds=None,
            trades=[{"funds": "300000", "volume": "0.006"}, {"funds": "200000", "volume": "0.004"}],
        ),
        "src",
    )
    assert (sell.side, sell.type, sell.price) == (Side.SELL, OrderType.MARKET, None)
    assert sell.average_price == pytest.approx(50_000_000)


def test_order_with_unknown_state_or_side_is_malformed() -> None:
    with pytest.raises(ExchangeError, match="state: expected wait, watch, done or cancel"):
        parse_order(order(state="trade"), "src")
    with pytest.raises(ExchangeError, match="side"):
        parse_order(order(side="buy"), "src")
    with pytest.raises(ExchangeError, match="uuid"):
        parse_order(order(uuid=None), "src")
