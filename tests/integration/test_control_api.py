"""The control API over real sockets: uvicorn on 127.0.0.1, httpx, a real SQLite store."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from tradekit.errors import StorageError
from tradekit.events import DailyReport, EntryRejected, FillEvent
from tradekit.models import Bar, Fill, Order, OrderStatus, OrderType, Position, Side
from tradekit.runner.api import MAX_LIMIT, MAX_TIME_MS, create_app, serve
from tradekit.runner.control import BotStatus, NoPosition, TodayStatus, UnknownMarket
from tradekit.runner.dashboard.page import ASSETS, CONTENT_SECURITY_POLICY
from tradekit.runner.metrics import Metrics
from tradekit.store import AsyncStore, Store

TOKEN = "tk-api-token-7f3a9c1e5b"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRETS = (TOKEN, "exchange-secret-do-not-leak", "postgres-password-do-not-leak")
T0 = 1_700_000_000_000
H = 3_600_000
BTC, ETH, XRP = "KRW-BTC", "KRW-ETH", "KRW-XRP"
TIMEOUT = 15

PROTECTED = [
    ("GET", "/status"),
    ("GET", "/positions"),
    ("GET", "/orders"),
    ("GET", "/fills"),
    ("GET", "/performance"),
    ("POST", "/pause"),
    ("POST", "/resume"),
    ("POST", f"/positions/{BTC}/close"),
    ("GET", "/metrics"),
    ("GET", "/today"),
    ("GET", f"/candles/{BTC}"),
    ("GET", "/schema"),
    ("GET", "/schema/openapi.json"),
]


class FakeBot:
    """A BotControl holding plain state; records what the API asked of it."""

    def __init__(self, store: AsyncStore | None) -> None:
        self.store = store
        self.markets = [BTC, ETH]
        self.paused = False
        self.held = {BTC: Position(BTC, 0.5, 50_000_000.0, T0, 47_500_000.0, 55_000_000.0)}
        self.close_requests: list[str] = []
        self.fail_with: Exception | None = None
        self.bars = {
            BTC: [
                Bar(BTC, T0 + i * H, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 1.5)
                for i in range(5)
            ],
            ETH: [],
        }

    def status(self) -> BotStatus:
        if self.fail_with is not None:
            raise self.fail_with
        return BotStatus(
            mode="paper",
            version="0.1.0",
            markets=list(self.markets),
            timeframe="1h",
            strategy="breakout",
            paused=self.paused,
            halted=False,
            equity=10_123_456.5,
            equity_at_close=10_100_000.0,
            cash=9_000_000.25,
            started_ms=T0,
            last_bar_ms={BTC: T0 + 2 * H, ETH: T0 + H},
            bars_processed=5,
            fills=3,
            open_positions=len(self.held),
            remainders={ETH: 0.00004},
            blocked={ETH: "order x: fate unknown"},
        )

    def positions(self) -> list[Position]:
        return list(self.held.values())

    def today(self) -> TodayStatus:
        blocks = ["paused by the operator: no new entries until resumed"] if self.paused else []
        return TodayStatus(
            trading_day="2023-11-16",
            start_equity=10_050_000.0,
            equity=10_123_456.5,
            profit=73_456.5,
            max_drawdown=0.002,
            trades=1,
            win_rate=1.0,
            loss_limit=0.05,
            loss_limit_reference=10_050_000.0,
            loss_limit_equity=9_547_500.0,
            halted=False,
            entries_allowed=not self.paused,
            entry_blocks=[*blocks, f"{ETH}: order x: fate unknown"],
        )

    def candles(self, market: str, limit: int) -> list[Bar]:
        if market not in self.markets:
            raise UnknownMarket(market)
        return self.bars[market][-limit:]

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def request_close(self, market: str) -> None:
        if market not in self.markets:
            raise UnknownMarket(market)
        if market not in self.held:
            raise NoPosition(market)
        self.close_requests.append(market)


def order(cid: str, market: str, created_ms: int, status: OrderStatus) -> Order:
    return Order(
        client_order_id=cid,
        market=market,
        side=Side.BUY,
        type=OrderType.LIMIT,
        volume=0.001,
        price=50_000_000.0,
        status=status,
        created_ms=created_ms,
        updated_ms=created_ms,
        exchange_order_id=f"ex-{cid}",
        reason="entry",
    )


ORDERS = [
    order("tk-1", BTC, T0, OrderStatus.FILLED),
    order("tk-2", ETH, T0 + H, OrderStatus.CANCELLED),
    order("tk-3", BTC, T0 + 2 * H, OrderStatus.OPEN),
    order("tk-4", BTC, T0 + 3 * H, OrderStatus.FILLED),
]
FILLS = [
    Fill(T0, BTC, Side.BUY, 50_000_000.0, 0.001, 125.0, "entry", "tk-1"),
    Fill(T0 + H, ETH, Side.BUY, 3_000_000.0, 0.1, 750.0, "entry", None),
    Fill(T0 + 2 * H, BTC, Side.SELL, 55_000_000.0, 0.0005, 68.75, "take_profit", "tk-1"),
    Fill(T0 + 3 * H, BTC, Side.SELL, 54_000_000.0, 0.0005, 67.5, "trailing_stop", None),
]
DAYS = [
    DailyReport(T0, "2023-11-15", 10_000_000.0, 10_050_000.0, 50_000.0, 0.01, 2, 0.5),
    DailyReport(T0 + 24 * H, "2023-11-16", 10_050_000.0, 10_123_456.5, 73_456.5, 0.0, 1, None),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    """A SQLite file with a few orders, fills and days recorded."""
    sync = Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    sync.start_run("paper")
    for o in ORDERS:
        sync.record_order(o)
    sync.record_fills(FILLS)
    for day in DAYS:
        sync.record_daily_performance(day)
    async with AsyncStore(sync) as opened:
        yield opened


class Responses(list[httpx.Response]):
    """Every response a test received, checked for secrets when the server stops."""

    def check_no_secrets(self) -> None:
        for response in self:
            text = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
            for secret in SECRETS:
                assert secret not in text, f"{response.request.url} leaked a secret"


@contextlib.asynccontextmanager
async def running(
    bot: FakeBot,
    *,
    token: str | None = TOKEN,
    metrics: Metrics | None = None,
    **serve_options: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Responses]]:
    """The app on a free port of 127.0.0.1 and a client for it; stopped on exit."""
    seen = Responses()

    async def record(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    app = create_app(bot, token=token, metrics=metrics or Metrics(bot.markets))
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await tg.start(functools.partial(serve, **serve_options), app, "127.0.0.1", 0)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                trust_env=False,  # no proxy from the environment between us and 127.0.0.1
                event_hooks={"response": [record]},
            ) as client:
                yield client, seen
            tg.cancel_scope.cancel()
    seen.check_no_secrets()


def reason(response: httpx.Response) -> str:
    body = response.json()
    assert body["status_code"] == response.status_code
    detail = body["detail"]
    assert isinstance(detail, str)
    return detail


# -- authentication ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_health_needs_no_token(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mode": "paper"}


@pytest.mark.anyio
async def test_every_other_route_needs_the_token(store: AsyncStore) -> None:
    bot = FakeBot(store)
    wrong = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer tökén".encode()},  # raw UTF-8 bytes on the wire
    ]
    async with running(bot) as (client, _):
        for method, path in PROTECTED:
            for headers in wrong:
                response = await client.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, headers)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "token" in reason(response)
            ok = await client.request(method, path, headers=AUTH)
            assert ok.status_code in (200, 202), (method, path, ok.text)
        # The scheme is case-insensitive (RFC 7235).
        lower = await client.get("/status", headers={"Authorization": f"bearer {TOKEN}"})
        assert lower.status_code == 200
    # Refused requests did nothing; the accepted ones did.
    assert bot.close_requests == [BTC]


@pytest.mark.anyio
async def test_missing_and_wrong_tokens_get_different_reasons(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        missing = await client.get("/status")
        wrong = await client.get("/status", headers={"Authorization": "Bearer nope"})
    assert reason(missing).startswith("missing bearer token")
    assert reason(wrong) == "invalid bearer token"
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]


@pytest.mark.anyio
async def test_without_a_token_only_local_non_browser_requests_are_served(
    store: AsyncStore,
) -> None:
    bot = FakeBot(store)
    async with running(bot, token=None) as (client, _):
        assert (await client.get("/status")).status_code == 200
        assert (await client.get("/status", headers={"Host": "localhost:8000"})).status_code == 200
        assert (await client.post("/pause", headers={"Origin": "http://127.0.0.1:3000"})).is_success
        # A page elsewhere POSTing to 127.0.0.1 (CSRF), or reaching it by DNS rebinding.
        csrf = await client.post(
            f"/positions/{BTC}/close", headers={"Origin": "https://evil.example"}
        )
        rebound = await client.get("/status", headers={"Host": "evil.example:8000"})
        null_origin = await client.post("/resume", headers={"Origin": "null"})
        health = await client.get("/health", headers={"Host": "evil.example"})
    assert csrf.status_code == 403
    assert "cross-origin" in reason(csrf)
    assert rebound.status_code == 403
    assert "localhost" in reason(rebound)
    assert null_origin.status_code == 403
    assert health.status_code == 200
    assert bot.close_requests == []
    assert bot.paused  # the local pause went through, the foreign resume did not


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["", "  "])
async def test_an_empty_token_means_no_token(token: str) -> None:
    # `token: "${TRADEKIT_API_TOKEN:-}"` with the variable unset gives an empty string.
    async with running(FakeBot(None), token=token) as (client, _):
        assert (await client.get("/status")).status_code == 200
        assert (await client.get("/status", headers={"Host": "evil.example"})).status_code == 403


@pytest.mark.anyio
async def test_the_configured_token_is_stripped() -> None:
    async with running(FakeBot(None), token=f" {TOKEN}\n") as (client, _):
        assert (await client.get("/status", headers=AUTH)).status_code == 200


# -- payloads ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_status(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        response = await client.get("/status", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "mode": "paper",
        "version": "0.1.0",
        "markets": [BTC, ETH],
        "timeframe": "1h",
        "strategy": "breakout",
        "paused": False,
        "halted": False,
        "equity": 10_123_456.5,
        "equity_at_close": 10_100_000.0,
        "cash": 9_000_000.25,
        "started_ms": T0,
        "last_bar_ms": {BTC: T0 + 2 * H, ETH: T0 + H},
        "bars_processed": 5,
        "fills": 3,
        "open_positions": 1,
        "remainders": {ETH: 0.00004},
        "blocked": {ETH: "order x: fate unknown"},
    }


@pytest.mark.anyio
async def test_positions(store: AsyncStore) -> None:
    bot = FakeBot(store)
    bot.held[ETH] = Position(
        ETH,
        2.0,
        3_000_000.0,
        T0 + H,
        None,
        None,
        True,
        3_300_000.0,
        3_100_000.0,
        trailing_stop=0.01,
    )
    async with running(bot) as (client, _):
        response = await client.get("/positions", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "positions": [
            {
                "market": BTC,
                "quantity": 0.5,
                "entry_price": 50_000_000.0,
                "entry_time_ms": T0,
                "stop": 47_500_000.0,
                "take_profit_price": 55_000_000.0,
                "take_profit_reached": False,
                "highest": None,
                "trailing_stop": None,
                "last_price": None,
                "unrealized_pnl": 0.0,
                "status": "open",
                "remainder": 0.0,
            },
            {
                "market": ETH,
                "quantity": 2.0,
                "entry_price": 3_000_000.0,
                "entry_time_ms": T0 + H,
                "stop": None,
                "take_profit_price": None,
                "take_profit_reached": True,
                "highest": 3_300_000.0,
                "trailing_stop": 0.01,
                "last_price": 3_100_000.0,
                "unrealized_pnl": 200_000.0,
                "status": "open",
                "remainder": 0.0,
            },
        ]
    }


@pytest.mark.anyio
async def test_orders_with_filters_and_limit(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        every = await client.get("/orders", headers=AUTH)
        btc = await client.get("/orders", params={"market": BTC}, headers=AUTH)
        statuses = await client.get(
            "/orders", params=[("status", "open"), ("status", "cancelled")], headers=AUTH
        )
        recent = await client.get("/orders", params={"limit": 2}, headers=AUTH)
        since = await client.get("/orders", params={"since_ms": T0 + 2 * H}, headers=AUTH)
        most = await client.get("/orders", params={"limit": MAX_LIMIT}, headers=AUTH)
    assert every.status_code == 200
    body = every.json()
    assert body["truncated"] is False
    assert body["orders"][0] == {
        "client_order_id": "tk-1",
        "exchange_order_id": "ex-tk-1",
        "market": BTC,
        "side": "buy",
        "type": "limit",
        "volume": 0.001,
        "price": 50_000_000.0,
        "status": "filled",
        "created_ms": T0,
        "updated_ms": T0,
        "executed_volume": 0.0,
        "average_price": None,
        "fee": 0.0,
        "reason": "entry",
    }

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [o["client_order_id"] for o in response.json()["orders"]]

    assert ids(every) == ["tk-1", "tk-2", "tk-3", "tk-4"]
    assert ids(btc) == ["tk-1", "tk-3", "tk-4"]
    assert ids(statuses) == ["tk-2", "tk-3"]
    assert ids(recent) == ["tk-3", "tk-4"]  # the most recent, oldest first
    assert recent.json()["truncated"] is True
    assert ids(since) == ["tk-3", "tk-4"]
    assert ids(most) == ["tk-1", "tk-2", "tk-3", "tk-4"]


@pytest.mark.anyio
async def test_fills_with_filters_and_limit(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        every = await client.get("/fills", headers=AUTH)
        btc = await client.get("/fills", params={"market": BTC}, headers=AUTH)
        since = await client.get("/fills", params={"since_ms": T0 + H, "limit": 2}, headers=AUTH)
    assert every.status_code == 200
    assert every.json() == {
        "fills": [
            {
                "time_ms": f.time_ms,
                "market": f.market,
                "side": f.side.value,
                "price": f.price,
                "quantity": f.quantity,
                "fee": f.fee,
                "reason": f.reason,
                "client_order_id": f.client_order_id,
            }
            for f in FILLS
        ],
        "truncated": False,
    }
    assert [f["reason"] for f in btc.json()["fills"]] == ["entry", "take_profit", "trailing_stop"]
    assert [f["time_ms"] for f in since.json()["fills"]] == [T0 + 2 * H, T0 + 3 * H]
    assert since.json()["truncated"] is True


@pytest.mark.anyio
async def test_performance(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        response = await client.get("/performance", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "days": [
            {
                "trading_day": d.trading_day,
                "start_equity": d.start_equity,
                "end_equity": d.end_equity,
                "profit": d.profit,
                "max_drawdown": d.max_drawdown,
                "trades": d.trades,
                "win_rate": d.win_rate,
                "notes": d.notes,
            }
            for d in DAYS
        ]
    }


@pytest.mark.anyio
async def test_pause_and_resume_toggle_the_bot(store: AsyncStore) -> None:
    bot = FakeBot(store)
    async with running(bot) as (client, _):
        paused = await client.post("/pause", headers=AUTH)
        assert bot.paused
        again = await client.post("/pause", headers=AUTH)  # idempotent
        assert (await client.get("/status", headers=AUTH)).json()["paused"] is True
        resumed = await client.post("/resume", headers=AUTH)
        assert not bot.paused
    assert paused.status_code == again.status_code == resumed.status_code == 200
    assert paused.json()["paused"] is True
    assert resumed.json()["paused"] is False


@pytest.mark.anyio
async def test_close_a_position(store: AsyncStore) -> None:
    bot = FakeBot(store)
    async with running(bot) as (client, _):
        accepted = await client.post(f"/positions/{BTC}/close", headers=AUTH)
        nothing_held = await client.post(f"/positions/{ETH}/close", headers=AUTH)
        not_traded = await client.post(f"/positions/{XRP}/close", headers=AUTH)
        wrong_method = await client.get(f"/positions/{BTC}/close", headers=AUTH)
    assert accepted.status_code == 202
    assert accepted.json() == {
        "market": BTC,
        "detail": "the position is closed at the next bar's open",
    }
    assert nothing_held.status_code == 404
    assert reason(nothing_held) == f"no open position in {ETH}"
    assert not_traded.status_code == 404
    assert reason(not_traded) == f"unknown market '{XRP}': this bot trades {BTC}, {ETH}"
    assert wrong_method.status_code == 405
    assert bot.close_requests == [BTC]


# -- the dashboard and its data ----------------------------------------------------------


@pytest.mark.anyio
async def test_today(store: AsyncStore) -> None:
    bot = FakeBot(store)
    async with running(bot) as (client, _):
        response = await client.get("/today", headers=AUTH)
        bot.paused = True
        paused = await client.get("/today", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "trading_day": "2023-11-16",
        "start_equity": 10_050_000.0,
        "equity": 10_123_456.5,
        "profit": 73_456.5,
        "max_drawdown": 0.002,
        "trades": 1,
        "win_rate": 1.0,
        "loss_limit": 0.05,
        "loss_limit_reference": 10_050_000.0,
        "loss_limit_equity": 9_547_500.0,
        "halted": False,
        "entries_allowed": True,
        "entry_blocks": [f"{ETH}: order x: fate unknown"],
    }
    assert paused.json()["entries_allowed"] is False
    assert paused.json()["entry_blocks"][0].startswith("paused by the operator")


@pytest.mark.anyio
async def test_candles(store: AsyncStore) -> None:
    bot = FakeBot(store)
    async with running(bot) as (client, _):
        every = await client.get(f"/candles/{BTC}", headers=AUTH)
        last_two = await client.get(f"/candles/{BTC}", params={"limit": 2}, headers=AUTH)
        none_yet = await client.get(f"/candles/{ETH}", headers=AUTH)
        not_traded = await client.get(f"/candles/{XRP}", headers=AUTH)
        malformed = await client.get("/candles/btc", headers=AUTH)
        too_many = await client.get(f"/candles/{BTC}", params={"limit": 1001}, headers=AUTH)
    assert every.status_code == 200
    body = every.json()
    assert (body["market"], body["timeframe"], body["timeframe_ms"]) == (BTC, "1h", H)
    assert body["candles"][0] == {
        "time_ms": T0,
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 1.5,
    }
    assert [c["time_ms"] for c in body["candles"]] == [T0 + i * H for i in range(5)]
    assert [c["time_ms"] for c in last_two.json()["candles"]] == [T0 + 3 * H, T0 + 4 * H]
    assert none_yet.json()["candles"] == []
    assert not_traded.status_code == 404
    assert reason(not_traded) == f"unknown market '{XRP}': this bot trades {BTC}, {ETH}"
    assert malformed.status_code == 400
    assert "market must be a market id such as KRW-BTC" in reason(malformed)
    assert too_many.status_code == 400
    assert "limit must be an integer from 1 to 1000" in reason(too_many)


@pytest.mark.anyio
async def test_the_dashboard_page_needs_no_token_but_its_data_does(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        page = await client.get("/")
        assets = {name: await client.get(f"/dashboard/{name}") for name in ASSETS}
        unknown = await client.get("/dashboard/secrets.txt")
        data = await client.get("/today")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<meta name="tradekit-auth" content="token">' in page.text
    # The page holds no data of the bot: that comes from the routes that need the token.
    assert "10,123,456" not in page.text
    assert TOKEN not in page.text
    for name, response in assets.items():
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(ASSETS[name][1]), name
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "LightweightCharts" in assets["lightweight-charts.js"].text
    assert unknown.status_code == 404
    assert reason(unknown) == "no dashboard asset 'secrets.txt'"
    assert data.status_code == 401


@pytest.mark.anyio
async def test_the_page_loads_nothing_but_its_own_assets(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        page = (await client.get("/")).text
        referenced = re.findall(r'(?:src|href)="([^"]+)"', page)
        local = [url for url in referenced if url.startswith("/")]
        answers = [(await client.get(url)).status_code for url in local]
    assert local, "the page should reference its script and style"
    assert answers == [200] * len(local)
    # Only the footer's credit link leaves the bot; it loads nothing.
    assert [url for url in referenced if not url.startswith("/")] == [
        "https://www.tradingview.com/"
    ]
    assert "<style" not in page
    assert " style=" not in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None  # no inline script


@pytest.mark.anyio
async def test_without_a_token_the_page_answers_localhost_only(store: AsyncStore) -> None:
    async with running(FakeBot(store), token=None) as (client, _):
        page = await client.get("/")
        script = await client.get("/dashboard/app.js")
        rebound = await client.get("/", headers={"Host": "evil.example:8000"})
        asset_rebound = await client.get("/dashboard/app.js", headers={"Host": "evil.example"})
    assert page.status_code == script.status_code == 200
    assert '<meta name="tradekit-auth" content="local">' in page.text
    assert rebound.status_code == asset_rebound.status_code == 403
    assert "localhost" in reason(rebound)


# -- misuse and failures -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "params", "key", "allowed"),
    [
        ("/orders", {"limit": "ten"}, "limit", f"an integer from 1 to {MAX_LIMIT}"),
        ("/orders", {"limit": 0}, "limit", f"an integer from 1 to {MAX_LIMIT}"),
        ("/orders", {"limit": MAX_LIMIT + 1}, "limit", f"an integer from 1 to {MAX_LIMIT}"),
        ("/orders", {"status": "exploded"}, "status", "one of new, submitted, open, filled"),
        ("/orders", {"since_ms": -1}, "since_ms", "an integer from 0 to 9223372036854775807"),
        ("/orders", {"since_ms": 2**63}, "since_ms", "an integer from 0 to 9223372036854775807"),
        ("/orders", {"market": "../etc"}, "market", "a market id such as KRW-BTC"),
        ("/fills", {"since_ms": "yesterday"}, "since_ms", "an integer from 0 to"),
        ("/fills", {"since_ms": -1}, "since_ms", "an integer from 0 to 9223372036854775807"),
        ("/fills", {"since_ms": 2**63}, "since_ms", "an integer from 0 to 9223372036854775807"),
        ("/fills", {"since_ms": 10**30}, "since_ms", "an integer from 0 to 9223372036854775807"),
        ("/fills", {"limit": "1.5"}, "limit", f"an integer from 1 to {MAX_LIMIT}"),
        ("/fills", {"market": "krw-btc"}, "market", "a market id such as KRW-BTC"),
    ],
)
async def test_bad_query_parameters_are_400_naming_the_parameter_and_what_it_accepts(
    store: AsyncStore, path: str, params: dict[str, Any], key: str, allowed: str
) -> None:
    async with running(FakeBot(store)) as (client, _):
        response = await client.get(path, params=params, headers=AUTH)
    assert response.status_code == 400
    assert reason(response).startswith("Validation failed")
    assert f"{key} must be {allowed}" in reason(response)
    assert [e["key"] for e in response.json()["extra"]] == [key]


@pytest.mark.anyio
async def test_since_ms_takes_the_whole_64_bit_range(store: AsyncStore) -> None:
    # 2**63 used to reach SQLite and fail there with an OverflowError (a 500).
    assert MAX_TIME_MS == 2**63 - 1
    async with running(FakeBot(store)) as (client, _):
        for path in ("/orders", "/fills"):
            newest = await client.get(path, params={"since_ms": MAX_TIME_MS}, headers=AUTH)
            oldest = await client.get(path, params={"since_ms": 0}, headers=AUTH)
            assert newest.status_code == oldest.status_code == 200
            key = path.lstrip("/")
            assert newest.json() == {key: [], "truncated": False}
            assert len(oldest.json()[key]) == 4


@pytest.mark.anyio
async def test_a_malformed_market_in_the_close_path_is_400(store: AsyncStore) -> None:
    bot = FakeBot(store)
    async with running(bot) as (client, _):
        lower = await client.post("/positions/krw-btc/close", headers=AUTH)
        dotted = await client.post("/positions/..%2Fetc/close", headers=AUTH)
    assert lower.status_code == 400
    assert "market must be a market id such as KRW-BTC" in reason(lower)
    assert [e["key"] for e in lower.json()["extra"]] == ["market"]
    assert dotted.status_code in (400, 404)  # refused either by the pattern or by routing
    assert bot.close_requests == []


@pytest.mark.anyio
async def test_unknown_routes_and_wrong_methods_are_json(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        unknown = await client.get("/nope", headers=AUTH)
        wrong = await client.delete("/status", headers=AUTH)
        post_get = await client.post("/metrics", headers=AUTH)
    assert unknown.status_code == 404
    assert reason(unknown) == "Not Found"
    assert wrong.status_code == post_get.status_code == 405
    assert reason(wrong) == "Method Not Allowed"
    assert "GET" in wrong.headers["allow"]


@pytest.mark.anyio
async def test_without_a_store_the_records_are_503() -> None:
    async with running(FakeBot(None)) as (client, _):
        for path in ("/orders", "/fills", "/performance"):
            response = await client.get(path, headers=AUTH)
            assert response.status_code == 503
            assert reason(response).startswith("this bot has no store")
        assert (await client.get("/status", headers=AUTH)).status_code == 200


class BrokenStore(AsyncStore):
    """A store whose reads fail with a message that names a secret."""

    async def orders(self, **filters: Any) -> list[Order]:
        raise StorageError("read orders failed (postgresql://bot:postgres-password-do-not-leak@db)")


@pytest.mark.anyio
async def test_errors_do_not_leak_their_text(store: AsyncStore) -> None:
    bot = FakeBot(BrokenStore(store.store))
    async with running(bot) as (client, _):
        storage = await client.get("/orders", headers=AUTH)
        bot.fail_with = RuntimeError("signing with exchange-secret-do-not-leak failed")
        crash = await client.get("/status", headers=AUTH)
        scrape = await client.get("/metrics", headers=AUTH)
    assert storage.status_code == 503
    assert reason(storage) == "the store could not be read; see the bot's log"
    assert crash.status_code == scrape.status_code == 500
    assert crash.json() == {"status_code": 500, "detail": "Internal Server Error"}
    # running() checks that no response anywhere carried a secret.


# -- metrics and schema ------------------------------------------------------------------


@pytest.mark.anyio
async def test_metrics_exposition(store: AsyncStore) -> None:
    metrics = Metrics([BTC, ETH])
    metrics.observe_bar(Bar(BTC, T0 + 2 * H, 100.0, 110.0, 90.0, 105.0, 1.0), 0.003)
    metrics.observe_event(FillEvent(T0, FILLS[0], 9_000_000.0, 10_000_000.0))
    metrics.observe_event(EntryRejected(T0, ETH, "max_positions", "full"))
    metrics.exchange_error("timeout")
    bot = FakeBot(store)
    bot.paused = True
    async with running(bot, metrics=metrics) as (client, _):
        response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    assert value("tradekit_bars_total", market=BTC) == 1
    assert value("tradekit_bars_total", market=ETH) == 0
    assert value("tradekit_fills_total", market=BTC, side="buy", reason="entry") == 1
    assert value("tradekit_entries_rejected_total", market=ETH, rule="max_positions") == 1
    assert value("tradekit_exchange_errors_total", kind="timeout") == 1
    assert value("tradekit_bar_processing_seconds_count") == 1
    # A scrape refreshes the snapshot gauges from the bot itself.
    assert value("tradekit_equity_krw") == 10_123_456.5
    assert value("tradekit_cash_krw") == 9_000_000.25
    assert value("tradekit_paused") == 1
    assert value("tradekit_halted") == 0
    assert value("tradekit_position_quantity", market=BTC) == 0.5
    assert value("tradekit_position_quantity", market=ETH) == 0
    assert value("tradekit_last_bar_timestamp_seconds", market=BTC) == (T0 + 2 * H) / 1000
    assert value("tradekit_last_bar_timestamp_seconds", market=ETH) == (T0 + H) / 1000
    assert value("tradekit_info", version="0.1.0", mode="paper", strategy="breakout") == 1


@pytest.mark.anyio
async def test_openapi_schema(store: AsyncStore) -> None:
    async with running(FakeBot(store)) as (client, _):
        schema = await client.get("/schema", headers=AUTH)
        same = await client.get("/schema/openapi.json", headers=AUTH)
        yaml = await client.get("/schema/openapi.yaml", headers=AUTH)
    assert schema.status_code == same.status_code == yaml.status_code == 200
    doc = schema.json()
    assert doc == same.json()
    assert doc["info"]["title"] == "tradekit control API"
    assert set(doc["paths"]) == {
        "/health",
        "/status",
        "/positions",
        "/orders",
        "/fills",
        "/performance",
        "/pause",
        "/resume",
        "/positions/{market}/close",
        "/metrics",
        "/today",
        "/candles/{market}",
    }
    assert doc["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert "security" not in doc["paths"]["/health"]["get"]
    assert doc["paths"]["/status"]["get"]["security"] == [{"BearerToken": []}]
    params = {p["name"] for p in doc["paths"]["/orders"]["get"]["parameters"]}
    assert params == {"market", "status", "since_ms", "limit"}
    for path in ("/orders", "/fills"):
        (since,) = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "since_ms"]
        assert since["schema"]["minimum"] == 0
        assert since["schema"]["maximum"] == 2**63 - 1
    # Every error a route can answer with is documented: 401 without the right token, 404 for
    # a market the bot does not hold, 503 when the store cannot be read.
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            if path == "/health":
                assert "401" not in codes
            else:
                assert "401" in codes, (method, path)
                assert "403" not in codes, (method, path)  # with a token, Host is not checked
    assert {"404", "401"} <= set(doc["paths"]["/positions/{market}/close"]["post"]["responses"])
    for path in ("/orders", "/fills", "/performance"):
        assert "503" in doc["paths"][path]["get"]["responses"]


OPENAPI_SNAPSHOT = Path(__file__).with_name("control_api_openapi.json")


@pytest.mark.anyio
async def test_openapi_document_matches_the_snapshot(store: AsyncStore) -> None:
    """The OpenAPI document is exactly the reviewed one in ``control_api_openapi.json``.

    Moving code around must not make the document vaguer. A deliberate change to the API
    rewrites the snapshot with ``TRADEKIT_UPDATE_OPENAPI=1``; review its diff like code.
    """
    async with running(FakeBot(store)) as (client, _):
        doc = (await client.get("/schema/openapi.json", headers=AUTH)).json()
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TRADEKIT_UPDATE_OPENAPI") == "1":
        OPENAPI_SNAPSHOT.write_text(text, encoding="utf-8")
    expected = json.loads(OPENAPI_SNAPSHOT.read_text(encoding="utf-8"))
    assert doc["paths"].keys() == expected["paths"].keys()
    for path, methods in expected["paths"].items():
        assert doc["paths"][path] == methods, path
    assert doc["components"] == expected["components"]
    assert doc == expected
    assert "404" not in doc["paths"]["/status"]["get"]["responses"]


@pytest.mark.anyio
async def test_openapi_schema_without_a_token_documents_403(store: AsyncStore) -> None:
    async with running(FakeBot(store), token=None) as (client, _):
        doc = (await client.get("/schema")).json()
        # The documented refusal is what a foreign Host really gets.
        refused = await client.get("/status", headers={"Host": "evil.example"})
    assert refused.status_code == 403
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert "401" not in codes, (method, path)
            assert ("403" in codes) == (path != "/health"), (method, path)
    assert "404" in doc["paths"]["/positions/{market}/close"]["post"]["responses"]


# -- serving -----------------------------------------------------------------------------


async def read_until_closed(stream: anyio.abc.SocketStream) -> bytes:
    """Everything the server sends until it closes the connection (fails after TIMEOUT)."""
    received = b""
    with anyio.fail_after(TIMEOUT):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return received


@pytest.mark.anyio
async def test_a_half_sent_request_is_cut_off_with_408(store: AsyncStore) -> None:
    app = create_app(FakeBot(store), token=TOKEN, metrics=Metrics())
    serve_fast = functools.partial(serve, header_timeout=0.5)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_fast, app, "127.0.0.1", 0)
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /health HT")  # never finished
            received = await read_until_closed(stream)
        assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert received.endswith(b"request head not received within 0.5 s\n")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_many_stalled_connections_are_all_closed(store: AsyncStore) -> None:
    app = create_app(FakeBot(store), token=TOKEN, metrics=Metrics())
    serve_fast = functools.partial(serve, header_timeout=0.5)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_fast, app, "127.0.0.1", 0)
        async with contextlib.AsyncExitStack() as stack:
            stalled = [
                await stack.enter_async_context(await anyio.connect_tcp("127.0.0.1", port))
                for _ in range(50)
            ]
            for i, stream in enumerate(stalled):
                if i % 2:  # half send nothing at all, half a few bytes of a request
                    await stream.send(b"POST /pause HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            received = [await read_until_closed(stream) for stream in stalled]
        assert [r == b"" for r in received] == [i % 2 == 0 for i in range(50)]
        assert all(r.startswith(b"HTTP/1.1 408") for r in received[1::2])
        # The server still serves complete requests.
        async with httpx.AsyncClient(trust_env=False) as client:
            health = await client.get(f"http://127.0.0.1:{port}/health")
        assert health.status_code == 200
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_the_head_deadline_restarts_after_each_response(store: AsyncStore) -> None:
    app = create_app(FakeBot(store), token=TOKEN, metrics=Metrics())
    # A keep-alive longer than the head deadline: only the new deadline can close it.
    serve_fast = functools.partial(serve, header_timeout=0.5, keep_alive_timeout=60)
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_fast, app, "127.0.0.1", 0)
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            started = time.monotonic()
            await stream.send(request)
            with anyio.fail_after(TIMEOUT):
                first = await stream.receive()
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")
            await stream.send(b"GET /status HTTP/1.1\r\n")  # the next request stalls
            rest = await read_until_closed(stream)
        assert rest.startswith(b"HTTP/1.1 408")
        # Not before the deadline: a request being sent in time is never cut.
        assert time.monotonic() - started >= 0.5
        tg.cancel_scope.cancel()


@contextlib.contextmanager
def listening_socket() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.anyio
async def test_a_busy_port_is_a_clear_error() -> None:
    app = create_app(FakeBot(None), token=TOKEN, metrics=Metrics())
    with listening_socket() as port, anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
                await tg.start(serve, app, "127.0.0.1", port)


@pytest.mark.anyio
async def test_an_app_that_fails_to_start_does_not_exit_the_process() -> None:
    def boom() -> None:
        raise RuntimeError("startup broke")

    app = Litestar([], on_startup=[boom], logging_config=None)
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            with pytest.raises(RuntimeError, match="failed to start"):
                await tg.start(serve, app, "127.0.0.1", 0)


@pytest.mark.anyio
async def test_cancelling_stops_the_server_and_frees_the_port(store: AsyncStore) -> None:
    app = create_app(FakeBot(store), token=TOKEN, metrics=Metrics())
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            port = await tg.start(serve, app, "127.0.0.1", 0)
            async with httpx.AsyncClient(trust_env=False) as client:
                assert (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
            tg.cancel_scope.cancel()
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", port)
        # The port can be bound again at once: the server closed its socket.
        async with anyio.create_task_group() as tg:
            assert await tg.start(serve, app, "127.0.0.1", port) == port
            tg.cancel_scope.cancel()
