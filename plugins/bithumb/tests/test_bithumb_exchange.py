"""BithumbExchange (tradekit's Exchange protocol) against the fake Bithumb server; its config."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anyio
import pytest
from tradekit_bithumb import hooks
from tradekit_bithumb.client import Backoff, BithumbClient
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb

from tradekit.config import masked, parse_settings, secret_values
from tradekit.errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
)
from tradekit.interfaces import Exchange
from tradekit.models import Order, OrderStatus, OrderType, Side, Timeframe
from tradekit.plugins import load_plugins

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


async def no_sleep(_seconds: float) -> None:
    return None


def make_exchange(
    server: FakeBithumb, *, clock: Any = None, keys: bool = True, **config: Any
) -> BithumbExchange:
    settings: dict[str, Any] = {"base_url": server.base_url, "ws_url": server.ws_url}
    if keys:
        settings |= {"api_key": server.api_key, "api_secret": server.api_secret}
    settings.update(config)
    cfg = BithumbConfig(**settings)
    client = BithumbClient.from_config(cfg, backoff=Backoff(0.001, 0.01), sleep=no_sleep)
    return BithumbExchange(cfg, client=client, clock=clock)


@pytest.fixture
async def exchange(fake_bithumb: FakeBithumb) -> AsyncIterator[BithumbExchange]:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    ex = make_exchange(fake_bithumb)
    yield ex
    await ex.aclose()


def new_order(
    type_: OrderType = OrderType.LIMIT,
    side: Side = Side.BUY,
    volume: float | None = 0.01,
    price: float | None = 40_000_000.0,
    client_order_id: str = "sig-1",
    status: OrderStatus = OrderStatus.NEW,
) -> Order:
    return Order(
        client_order_id=client_order_id,
        market="KRW-BTC",
        side=side,
        type=type_,
        volume=volume,
        price=price,
        status=status,
        created_ms=T0,
        updated_ms=T0,
        reason="entry",
    )


# ---- registration and config -----------------------------------------------------------------


def test_registered_by_the_hook_and_implements_the_protocol() -> None:
    (cls,) = hooks.register_exchanges()
    assert cls is BithumbExchange
    assert cls.name == "bithumb"
    ex = BithumbExchange(BithumbConfig())
    assert isinstance(ex, Exchange)
    anyio.run(ex.aclose)


def test_config_block_from_yaml_settings_with_secrets_masked() -> None:
    data = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        "strategy": {"use": "breakout"},
        "exchange": {
            "use": "bithumb",
            "api_key": "${BITHUMB_API_KEY}",
            "api_secret": "${BITHUMB_API_SECRET}",
            "base_url": "http://127.0.0.1:9999",
            "rate_limits": {"order": 5},
            "max_retries": "2",
        },
    }
    env = {"BITHUMB_API_KEY": "key-123456", "BITHUMB_API_SECRET": "secret-abcdef"}
    settings = parse_settings(data, load_plugins(), env)
    assert settings.exchange is not None
    config = settings.exchange.config
    assert isinstance(config, BithumbConfig)
    assert (config.api_key, config.max_retries, config.rate_limits.order) == ("key-123456", 2, 5)
    assert config.rate_limits.public == 100  # defaults kept
    assert "secret-abcdef" not in repr(config)
    assert masked(settings)["exchange"]["api_secret"] == "***"
    assert set(secret_values(settings)) >= {"key-123456", "secret-abcdef"}
    assert isinstance(settings.exchange.build(), BithumbExchange)


def test_config_errors_name_the_field() -> None:
    data = {
        "mode": "paper",
        "markets": ["KRW-BTC"],
        "strategy": {"use": "breakout"},
        "exchange": {
            "use": "bithumb",
            "max_retries": 5,
            "base_url": "ftp://x",
            "tick_table": [[0, 0]],
        },
    }
    with pytest.raises(ConfigError) as info:
        parse_settings(data, load_plugins(), {})
    problems = "\n".join(info.value.problems)
    assert "exchange.max_retries: expected a number in [0, 3], got 5" in problems
    assert "exchange.base_url: expected a URL starting with https:// or http://" in problems
    assert "exchange.tick_table" in problems
    # A wrong type or an unknown key is reported before the range checks run.
    for block, problem in [
        ({"order_endpoint": "v3"}, "exchange.order_endpoint: expected one of 'v2', 'v1', got 'v3'"),
        ({"api_sekret": "x"}, "exchange.api_sekret: unknown key (did you mean 'api_secret'?)"),
    ]:
        data["exchange"] = {"use": "bithumb", **block}
        with pytest.raises(ConfigError) as single:
            parse_settings(data, load_plugins(), {})
        assert single.value.problems == [problem]


@pytest.mark.anyio
async def test_private_calls_without_keys_say_what_is_missing(fake_bithumb: FakeBithumb) -> None:
    ex = make_exchange(fake_bithumb, keys=False)
    try:
        with pytest.raises(ConfigError, match="required for balances"):
            await ex.balances()
        with pytest.raises(ConfigError, match="required for placing orders"):
            await ex.place_order(new_order())
        # Public data still works, and rules fall back to the configured minimum.
        rules = await ex.market_rules("KRW-BTC")
        assert rules.min_order_value == Decimal(5000)
    finally:
        await ex.aclose()
    assert fake_bithumb.requests_to("GET", "/v1/accounts") == []


# ---- market data -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_market_rules_come_from_order_chance_and_are_cached() -> None:
    with FakeBithumb(min_order_krw=7000, fee_rate="0.0004") as server:
        ex = make_exchange(server, quantity_decimals=8)
        try:
            rules = await ex.market_rules("KRW-BTC")
            again = await ex.market_rules("KRW-BTC")
        finally:
            await ex.aclose()
        assert rules is again
        assert len(server.requests_to("GET", "/v1/orders/chance")) == 1
    assert (rules.min_order_value, rules.taker_fee, rules.maker_fee) == (
        Decimal(7000),
        Decimal("0.0004"),
        Decimal("0.0004"),
    )
    assert rules.quantity_decimals == 8
    assert rules.tick_for(Decimal(50_000_000)) == Decimal(1000)
    assert rules.round_price(Decimal("50000999"), Side.BUY) == Decimal(50_000_000)


@pytest.mark.anyio
async def test_fetch_candles_returns_closed_candles_oldest_first(
    fake_bithumb: FakeBithumb,
) -> None:
    rows = [(T0 + i * HOUR_MS, 100, 110, 90, 105, 1) for i in range(450)]
    fake_bithumb.load_candles("KRW-BTC", 60, rows)
    # "Now" is 30 minutes into the last candle: it is still open and must not be returned.
    now = T0 + 449 * HOUR_MS + 30 * 60_000
    ex = make_exchange(fake_bithumb, clock=lambda: now)
    try:
        bars = await ex.fetch_candles("KRW-BTC", Timeframe("1h"), T0)
        window = await ex.fetch_candles(
            "KRW-BTC", Timeframe("1h"), T0 + 10 * HOUR_MS, T0 + 20 * HOUR_MS
        )
    finally:
        await ex.aclose()
    assert len(bars) == 449
    assert [b.time_ms for b in bars] == sorted(b.time_ms for b in bars)
    assert bars[-1].time_ms == T0 + 448 * HOUR_MS
    assert [b.time_ms for b in window] == [T0 + i * HOUR_MS for i in range(10, 20)]


@pytest.mark.anyio
async def test_grace_period_keeps_a_just_ended_candle_back(fake_bithumb: FakeBithumb) -> None:
    fake_bithumb.load_candles("KRW-BTC", 60, [(T0, 100, 110, 90, 105, 1)])
    just_ended = T0 + HOUR_MS + 500  # 0.5 s after the candle's end, grace is 2 s
    ex = make_exchange(fake_bithumb, clock=lambda: just_ended)
    later = make_exchange(fake_bithumb, clock=lambda: just_ended + 2000)
    try:
        assert await ex.fetch_candles("KRW-BTC", Timeframe("1h"), T0) == []
        assert len(await later.fetch_candles("KRW-BTC", Timeframe("1h"), T0)) == 1
    finally:
        await ex.aclose()
        await later.aclose()


@pytest.mark.anyio
async def test_stream_trades_uses_the_configured_websocket(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    stream: Any = exchange.stream_trades(["KRW-BTC"])
    try:
        assert stream.ws_url == fake_bithumb.ws_url
        assert stream.stale_after == exchange.config.stale_after_s
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def push_when_subscribed() -> None:
                    await fake_bithumb.ws_subscribed(1)
                    fake_bithumb.push_trade("KRW-BTC", 50_123_000, "0.2", ask_bid="BID")

                tg.start_soon(push_when_subscribed)
                trade = await stream.__anext__()
        assert (trade.market, trade.price, trade.side) == ("KRW-BTC", 50_123_000, Side.BUY)
    finally:
        await stream.aclose()


@pytest.mark.anyio
async def test_live_bars_start_with_rest_history_then_follow_trades(
    fake_bithumb: FakeBithumb,
) -> None:
    hour = 3_600_000
    now = int(time.time() * 1000)
    current = now - now % hour
    start = current - 5 * hour
    history = [(start + i * hour, 100 + i, 110 + i, 90 + i, 105 + i, 1 + i) for i in range(5)]
    fake_bithumb.load_candles("KRW-BTC", 60, history)
    ex = make_exchange(fake_bithumb)
    try:
        feed = ex.live_bars(["KRW-BTC"], Timeframe("1h"), start_ms=start)
        async with feed:
            assert feed.stream.ws_url == fake_bithumb.ws_url
            bars = []
            with anyio.fail_after(15):
                async for bar in feed:  # closed history comes from REST, before any trade
                    bars.append(bar)
                    if len(bars) == len(history):
                        break
                async with anyio.create_task_group() as tg:

                    async def trade_when_subscribed() -> None:
                        await fake_bithumb.ws_subscribed(1)
                        fake_bithumb.push_trade("KRW-BTC", 120, "0.5", ask_bid="BID")

                    tg.start_soon(trade_when_subscribed)
                    trade = None
                    while trade is None:  # the live side is the configured WebSocket
                        trade = await feed.stream.receive(1.0)
            assert (trade.market, trade.price, trade.volume) == ("KRW-BTC", 120, 0.5)
        assert [(b.time_ms, b.open, b.close, b.volume) for b in bars] == [
            (t, o, c, v) for t, o, _h, _l, c, v in history
        ]
        assert {b.market for b in bars} == {"KRW-BTC"}
    finally:
        await ex.aclose()


# ---- account and orders ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_balances(fake_bithumb: FakeBithumb, exchange: BithumbExchange) -> None:
    fake_bithumb.set_balance("BTC", "0.25", avg_buy_price=48_000_000)
    balances = await exchange.balances()
    assert balances["KRW"].free == Decimal(10_000_000)
    assert (balances["BTC"].free, balances["BTC"].average_buy_price) == (
        Decimal("0.25"),
        Decimal(48_000_000),
    )


@pytest.mark.anyio
async def test_market_buy_then_sell(fake_bithumb: FakeBithumb, exchange: BithumbExchange) -> None:
    fake_bithumb.set_price_path("KRW-BTC", [50_000_000, 51_000_000])
    buy = await exchange.place_order(
        new_order(OrderType.MARKET, Side.BUY, volume=None, price=1_000_000.0, client_order_id="b1")
    )
    # The v2 answer carries no state: accepted is all it says (the caller polls for fills).
    assert (buy.status, buy.executed_volume) == (OrderStatus.OPEN, 0)
    assert (buy.client_order_id, buy.reason, buy.type) == ("b1", "entry", OrderType.MARKET)
    assert fake_bithumb.requests_to("GET", "/v1/order") == []
    bought = await exchange.get_order("b1")
    assert bought is not None
    assert bought.exchange_order_id == buy.exchange_order_id
    assert bought.status is OrderStatus.FILLED
    assert (bought.executed_volume, bought.average_price, bought.fee) == (0.02, 50_000_000, 2500)
    await exchange.place_order(
        new_order(OrderType.MARKET, Side.SELL, volume=0.02, price=None, client_order_id="s1")
    )
    sold = await exchange.get_order("s1")
    assert sold is not None
    assert sold.status is OrderStatus.FILLED
    assert sold.average_price == 51_000_000
    (body,) = [r.params for r in fake_bithumb.requests_to("POST", "/v2/orders")][1:]
    assert body == {
        "market": "KRW-BTC",
        "side": "ask",
        "order_type": "market",
        "volume": "0.02",
        "client_order_id": "s1",
    }


@pytest.mark.anyio
async def test_limit_order_is_put_on_the_grid_and_cancelled(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    # Float noise and an off-tick price: sent as 0.3 at 10,000,000 (a buy rounds down).
    placed = await exchange.place_order(new_order(volume=0.1 + 0.2, price=10_000_700.0))
    assert placed.status is OrderStatus.OPEN
    (created,) = fake_bithumb.orders
    assert (created.price, created.volume) == (Decimal(10_000_000), Decimal("0.3"))
    assert placed.exchange_order_id == created.order_id
    found = await exchange.get_order("sig-1")
    assert found is not None
    assert found.exchange_order_id == created.order_id
    assert await exchange.get_order("never-sent") is None
    cancelled = await exchange.cancel_order(placed)
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.reason == "entry"
    assert fake_bithumb.get_order(created.order_id).state == "cancel"


@pytest.mark.anyio
async def test_cancel_of_an_order_that_already_filled_returns_it_filled(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    placed = await exchange.place_order(new_order())
    fake_bithumb.fill_order(placed.exchange_order_id or "")
    ended = await exchange.cancel_order(placed)
    assert ended.status is OrderStatus.FILLED
    assert ended.executed_volume == 0.01


@pytest.mark.anyio
async def test_cancel_by_client_order_id_only(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    await exchange.place_order(new_order(client_order_id="cid-only"))
    fresh = make_exchange(fake_bithumb)  # knows nothing of the order but its client id
    try:
        ended = await fresh.cancel_order(new_order(client_order_id="cid-only"))
    finally:
        await fresh.aclose()
    assert ended.status is OrderStatus.CANCELLED
    with pytest.raises(ExchangeError) as info:
        await exchange.cancel_order(new_order(client_order_id="unknown"))
    assert info.value.code == "order_not_found"


# ---- place_order: one attempt, classified -----------------------------------------------------


def order_posts(server: FakeBithumb) -> int:
    return len(server.requests_to("POST", "/v2/orders"))


def lookups(server: FakeBithumb) -> int:
    return len(server.requests_to("GET", "/v1/order")) + len(
        server.requests_to("GET", "/v1/orders")
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "outcome", "created"),
    [
        (None, None, 1),
        ("rejected", OrderRejected, 0),
        ("429", OrderNotSent, 0),
        ("503", OrderStateUnknown, 0),  # the fake failed it before handling; Bithumb may not
        ("timeout_after_accept", OrderStateUnknown, 1),
        ("dropped_after_accept", OrderStateUnknown, 1),
    ],
)
async def test_each_outcome_is_one_post_and_no_look_up(
    fake_bithumb: FakeBithumb, fault: str | None, outcome: type[Exception] | None, created: int
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    faults = fake_bithumb.faults
    order = new_order(client_order_id="sig-o")
    if fault == "rejected":
        order = new_order(volume=1.0, client_order_id="sig-o")  # 40M KRW > 10M balance
    elif fault == "429":
        faults.rate_limit_next(1, "POST /v2/orders", retry_after=2)
    elif fault == "503":
        faults.fail_next("POST /v2/orders", status=503)
    elif fault is not None:
        faults.timeout_after_accept_next(drop=fault == "dropped_after_accept", delay=10)
    ex = make_exchange(fake_bithumb, timeout=0.3)
    try:
        if outcome is None:
            placed = await ex.place_order(order)
            assert placed.exchange_order_id == fake_bithumb.orders[0].order_id
            assert (placed.status, placed.reason) == (OrderStatus.OPEN, "entry")
        else:
            with pytest.raises(outcome):
                await ex.place_order(order)
    finally:
        await ex.aclose()
    assert order_posts(fake_bithumb) == 1
    assert lookups(fake_bithumb) == 0
    assert len(fake_bithumb.orders_for_client_order_id("sig-o")) == created


@pytest.mark.anyio
async def test_place_order_never_looks_up_first_whatever_the_status(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    # An order of unknown fate is the caller's to look up; handed one, the connector sends it
    # (once), and Bithumb's idempotency answers with the existing order.
    first = await exchange.place_order(new_order(client_order_id="sig-u"))
    again = await exchange.place_order(
        new_order(client_order_id="sig-u", status=OrderStatus.UNKNOWN)
    )
    assert again.exchange_order_id == first.exchange_order_id
    assert order_posts(fake_bithumb) == 2
    assert lookups(fake_bithumb) == 0
    assert len(fake_bithumb.orders) == 1


@pytest.mark.anyio
async def test_refused_key_while_placing_is_an_authentication_error(
    fake_bithumb: FakeBithumb,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    ex = make_exchange(fake_bithumb, api_secret="a-wrong-secret-that-is-long-enough-for-hs256")
    try:
        with pytest.raises(AuthenticationError):
            await ex.place_order(new_order())
    finally:
        await ex.aclose()
    assert order_posts(fake_bithumb) == 1
    assert fake_bithumb.orders == []


@pytest.mark.anyio
async def test_v1_lookup_without_an_exchange_id_says_unknown_not_absent(
    fake_bithumb: FakeBithumb,
) -> None:
    ex = make_exchange(fake_bithumb, order_endpoint="v1")
    try:
        with pytest.raises(ExchangeError) as info:
            await ex.get_order("sig-never-seen-here")
    finally:
        await ex.aclose()
    assert info.value.code == "order_state_unknown"
    assert fake_bithumb.requests_to("GET", "/v1/order") == []


@pytest.mark.anyio
async def test_timeout_after_accept_is_state_unknown_and_the_caller_can_look_it_up(
    fake_bithumb: FakeBithumb,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders", delay=10)
    ex = make_exchange(fake_bithumb, timeout=0.3)
    try:
        with pytest.raises(OrderStateUnknown) as info:
            await ex.place_order(new_order(client_order_id="sig-t"))
        assert info.value.code == "order_state_unknown"
        assert lookups(fake_bithumb) == 0
        found = await ex.get_order("sig-t")  # what the OrderExecutor does next
    finally:
        await ex.aclose()
    (created,) = fake_bithumb.orders_for_client_order_id("sig-t")
    assert found is not None
    assert (found.exchange_order_id, found.status) == (created.order_id, OrderStatus.OPEN)
    assert order_posts(fake_bithumb) == 1


@pytest.mark.anyio
async def test_rejections_surface_as_order_rejected(
    fake_bithumb: FakeBithumb, exchange: BithumbExchange
) -> None:
    with pytest.raises(OrderRejected) as info:
        await exchange.place_order(new_order(volume=1.0))  # 40M KRW > 10M balance
    assert info.value.code == "insufficient_funds_bid"
    with pytest.raises(OrderRejected) as local:
        await exchange.place_order(new_order(volume=0.00001))  # truncates to 0 at 4 decimals
    assert local.value.code == "invalid_order_local"
    assert len(fake_bithumb.requests_to("POST", "/v2/orders")) == 1


@pytest.mark.anyio
async def test_v1_endpoint_end_to_end(fake_bithumb: FakeBithumb) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    ex = make_exchange(fake_bithumb, order_endpoint="v1")
    try:
        placed = await ex.place_order(new_order(client_order_id="v1-order"))
        assert placed.status is OrderStatus.OPEN
        # Bithumb's v1 orders have no client id; the exchange remembers the one it sent.
        found = await ex.get_order("v1-order")
        assert found is not None
        assert found.exchange_order_id == placed.exchange_order_id
        cancelled = await ex.cancel_order(placed)
    finally:
        await ex.aclose()
    assert cancelled.status is OrderStatus.CANCELLED
    assert len(fake_bithumb.requests_to("DELETE", "/v1/order")) == 1


@pytest.mark.anyio
async def test_v1_lost_answer_is_state_unknown_and_cannot_be_found_by_client_id(
    fake_bithumb: FakeBithumb,
) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v1/orders", delay=10)
    ex = make_exchange(fake_bithumb, order_endpoint="v1", timeout=0.3)
    try:
        with pytest.raises(OrderStateUnknown):
            await ex.place_order(new_order(client_order_id="lost"))
        # v1 orders carry no client id and the answer (with the exchange id) was lost: a
        # look-up cannot say "absent", so it says "unknown" (a human checks the account).
        with pytest.raises(OrderStateUnknown):
            await ex.get_order("lost")
    finally:
        await ex.aclose()
    assert len(fake_bithumb.requests_to("POST", "/v1/orders")) == 1
    assert len(fake_bithumb.orders) == 1
    assert fake_bithumb.requests_to("GET", "/v1/order") == []
