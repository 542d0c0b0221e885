"""The replay venue: candles played as trades on their own clock, orders filled by the rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradekit.builtin.replay import ReplayConfig
from tradekit.builtin.replay.venue import ReplayVenue
from tradekit.config import load_settings
from tradekit.errors import ConfigError, DataError, OrderRejected
from tradekit.models import Bar, Order, OrderStatus, OrderType, Side, Timeframe

HOUR = 3_600_000
T0 = 1_572_000_000_000 - 1_572_000_000_000 % HOUR
H1 = Timeframe("1h")
MARKET = "KRW-BTC"


def bars(count: int = 5) -> list[Bar]:
    # Each bar: open 10,000,000, low 9,990,000, high 10,020,000, close 10,010,000 (+i ticks).
    return [
        Bar(MARKET, T0 + i * HOUR, 10e6 + i * 1000, 10.02e6 + i * 1000, 9.99e6, 10.01e6, 2.0)
        for i in range(count)
    ]


def venue(start_bar: int = 2, **options: object) -> ReplayVenue:
    config = ReplayConfig(data="unused.csv", start=_iso(T0 + start_bar * HOUR), **options)  # type: ignore[arg-type]
    return ReplayVenue(config, [MARKET], H1, {MARKET: bars()})


def _iso(time_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()


def order(
    side: Side, *, volume: float | None = None, price: float | None = None, cid: str = "o1"
) -> Order:
    return Order(cid, MARKET, side, OrderType.MARKET, volume, price, OrderStatus.SUBMITTED, 0, 0)


def test_history_holds_only_bars_closed_on_the_replay_clock() -> None:
    v = venue(start_bar=2)
    assert v.now_ms == T0 + 2 * HOUR
    assert [b.time_ms for b in v.history(MARKET, 0, None)] == [T0, T0 + HOUR]
    assert [b.time_ms for b in v.history(MARKET, T0 + HOUR, T0 + 10 * HOUR)] == [T0 + HOUR]


def test_a_bar_is_played_open_low_high_close_inside_its_interval() -> None:
    v = venue(start_bar=2, steps_per_leg=5)
    interval = v.next_interval_ms
    assert interval == T0 + 2 * HOUR
    trades = v.interval_trades(interval)
    prices = [t.price for t in trades]
    bar = bars()[2]
    assert prices[0] == bar.open
    assert prices[-1] == bar.close
    assert min(prices) == bar.low
    assert max(prices) == bar.high
    assert prices.index(bar.low) < prices.index(bar.high)
    times = [t.time_ms for t in trades]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert interval <= times[0]
    assert times[-1] < interval + HOUR
    assert sum(t.volume for t in trades) == pytest.approx(bar.volume)
    for trade in trades:
        v.play(trade)
        assert v.price(MARKET) == Decimal(str(trade.price))
        assert v.now_ms == trade.time_ms
    closed = v.close_interval(interval)
    assert closed == [bar]
    assert v.now_ms == interval + HOUR
    assert v.price(MARKET) == Decimal(str(bars()[3].open))  # the next open, without a trade
    assert [b.time_ms for b in v.history(MARKET, 0, None)][-1] == interval


def test_a_market_buy_spends_whole_krw_and_gets_eight_decimals_at_the_current_price() -> None:
    v = venue()
    filled = v.place(order(Side.BUY, price=500_000.7))
    price = v.price(MARKET)
    assert filled.status is OrderStatus.FILLED
    assert filled.exchange_order_id
    assert filled.average_price == float(price)
    volume = (Decimal(500_000) / price).quantize(Decimal("0.00000001"), rounding="ROUND_DOWN")
    assert Decimal(str(filled.executed_volume)) == volume
    fee = volume * price * Decimal("0.0025")
    assert filled.fee == pytest.approx(float(fee))
    balances = v.balances()
    assert balances["BTC"].free == volume
    assert balances["KRW"].free == Decimal(10_000_000) - volume * price - fee
    assert v.order("o1") == filled


def test_sales_must_be_on_the_step_above_the_minimum_and_held() -> None:
    v = venue()
    v.place(order(Side.BUY, price=1_000_000, cid="buy"))
    with pytest.raises(OrderRejected, match="off the step") as off:
        v.place(order(Side.SELL, volume=0.00005, cid="s1"))
    assert off.value.code == "invalid_volume"
    with pytest.raises(OrderRejected, match="under the minimum"):
        v.place(order(Side.SELL, volume=0.0004, cid="s2"))  # about 4,000 KRW
    with pytest.raises(OrderRejected, match="needs 1 BTC"):
        v.place(order(Side.SELL, volume=1, cid="s3"))
    sold = v.place(order(Side.SELL, volume=0.05, cid="s4"))
    assert sold.executed_volume == 0.05
    assert v.balances()["BTC"].free == Decimal(str(v.order("buy").executed_volume)) - Decimal(  # type: ignore[union-attr]
        "0.05"
    )


def test_buys_need_the_money_and_the_minimum_and_ids_are_used_once() -> None:
    v = venue(balances={"KRW": 100_000.0})
    with pytest.raises(OrderRejected, match="under the minimum"):
        v.place(order(Side.BUY, price=4_999, cid="a"))
    with pytest.raises(OrderRejected, match="needs 100250") as poor:
        v.place(order(Side.BUY, price=100_000, cid="b"))
    assert poor.value.code == "insufficient_funds"
    v.place(order(Side.BUY, price=50_000, cid="c"))
    with pytest.raises(OrderRejected, match="already used"):
        v.place(order(Side.BUY, price=5_000, cid="c"))
    limit = Order("d", MARKET, Side.BUY, OrderType.LIMIT, 0.001, 9e6, OrderStatus.SUBMITTED, 0, 0)
    with pytest.raises(OrderRejected, match="market orders only"):
        v.place(limit)


def test_rules_are_bithumbs_with_the_configured_step() -> None:
    rules = venue(quantity_decimals=3).market_rules(MARKET)
    assert rules.tick_for(Decimal(10_000_000)) == Decimal(1000)
    assert rules.tick_for(Decimal(9_000)) == Decimal(5)
    assert rules.quantity_decimals == 3
    assert rules.min_order_value == Decimal(5000)


def test_a_start_after_the_data_names_the_key() -> None:
    config = ReplayConfig(data="x.csv", start="2030-01-01")
    with pytest.raises(DataError, match=r"exchange\.start: '2030-01-01' is after the last bar"):
        ReplayVenue(config, [MARKET], H1, {MARKET: bars()})


def test_without_start_the_first_200_bars_are_history(real_candles: Path) -> None:
    v = ReplayVenue(ReplayConfig(data=str(real_candles)), [MARKET], H1)
    history = v.history(MARKET, 0, None)
    assert len(history) == 200
    assert v.start_ms == history[-1].time_ms + HOUR


def write_config(tmp_path: Path, exchange: str) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(
        "mode: paper\nmarkets: [KRW-BTC]\ntimeframe: 1h\nstrategy: {use: breakout}\n"
        f"exchange: {exchange}\n",
        encoding="utf-8",
    )
    return path


def test_data_is_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "{use: replay, data: candles.csv}"))
    assert settings.exchange is not None
    assert settings.exchange.config.data == str(tmp_path / "candles.csv")
    mapped = load_settings(
        write_config(tmp_path, "{use: replay, data: {KRW-BTC: /abs/btc.csv}, speed: '60'}")
    )
    assert mapped.exchange is not None
    assert mapped.exchange.config.data == {"KRW-BTC": "/abs/btc.csv"}
    assert mapped.exchange.config.speed == 60.0


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("{use: replay}", "exchange.data: required key is missing"),
        ("{use: replay, data: 3}", "exchange.data: expected a candle file"),
        ("{use: replay, data: a.csv, speed: 0}", "exchange.speed: expected a number in (0, inf]"),
        ("{use: replay, data: a.csv, start: soon}", "exchange.start: expected an ISO 8601 date"),
        ("{use: replay, data: a.csv, balances: {KRW: -1}}", "exchange.balances: expected amounts"),
        # Not a number, or infinite money: the venue's Decimal comparisons would raise on
        # every order (NaN) or size entries without bound (inf).
        ("{use: replay, data: a.csv, balances: {KRW: .nan}}", "exchange.balances: expected"),
        ("{use: replay, data: a.csv, balances: {KRW: .inf}}", "exchange.balances: expected"),
    ],
)
def test_config_mistakes_name_the_key(tmp_path: Path, block: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, block))
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
