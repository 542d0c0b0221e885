"""What /status shows right after a fill: cash plus holdings at the last trade, not the last close.

A real bot (live on the fake Bithumb, and on paper) with its real control API over HTTP; the
bars and trades come from a script so the test knows exactly which price is the latest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from live_replay import make_exchange
from run_helpers import free_port
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb

from tradekit.config import parse_settings
from tradekit.models import Bar, Side, Timeframe, Trade
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
MARKET = "KRW-BTC"


class Script:
    """Bars and trades the test hands to the bot's feed one by one."""

    def __init__(self) -> None:
        self.send, self.receive = anyio.create_memory_object_stream[Bar | Trade](100)
        self.handled = 0
        self.progress = anyio.Event()

    def done(self) -> None:
        self.handled += 1
        self.progress.set()
        self.progress = anyio.Event()

    def feed(self, on_trade: Any) -> Any:
        script = self

        class Feed:
            async def __aiter__(self) -> AsyncIterator[Bar]:
                async for item in script.receive:
                    if isinstance(item, Trade):
                        on_trade(item)
                    else:
                        yield item
                    script.done()

            async def aclose(self) -> None:
                pass

        return Feed()


class ScriptedBars:
    """No history; the bars and trades of a :class:`Script` as the live feed."""

    script: Script

    async def fetch_candles(
        self, market: str, timeframe: Timeframe, since_ms: int, until_ms: int | None = None
    ) -> list[Bar]:
        return []

    def live_bars(
        self,
        markets: Sequence[str],
        timeframe: Timeframe,
        *,
        start_ms: int | None = None,
        on_trade: Any = None,
    ) -> Any:
        return self.script.feed(on_trade)


class ScriptedBithumb(ScriptedBars, BithumbExchange):
    """The real connector on the fake Bithumb (orders, balances); bars from a script."""


class PaperExchange(ScriptedBars):
    """Paper needs no exchange account: only the scripted feed."""

    name = "scripted"

    async def aclose(self) -> None:
        pass


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 1.0) -> Bar:
    return Bar(MARKET, T0 + i * HOUR, o, h, lo, c, v)


def quiet(i: int) -> Bar:
    return bar(i, 50e6, 50.1e6, 49.9e6, 50e6)


def breakout(i: int) -> Bar:
    return bar(i, 50e6, 51e6, 49.95e6, 51e6, 3.0)


def settings(tmp_path: Path, mode: str, port: int) -> Any:
    return parse_settings(
        {
            "mode": mode,
            "markets": [MARKET],
            "exchange": {"use": "bithumb"},
            "strategy": {"use": "breakout", "lookback": 5},
            "risk": [{"use": "position_size", "fraction": 0.2}],
            "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "api": {"port": port},
        },
        load_plugins(),
        {},
    )


class Running:
    """A bot running in a task group, driven through its script and its HTTP API."""

    def __init__(self, bot: Bot, script: Script, client: httpx.AsyncClient) -> None:
        self.bot, self.script, self.client = bot, script, client
        self.sent = 0

    async def play(self, *items: Bar | Trade) -> None:
        for item in items:
            await self.script.send.send(item)
            self.sent += 1
        with anyio.fail_after(20):
            while self.script.handled < self.sent:
                await self.script.progress.wait()
            if self.bot.execution is not None:
                await self.bot.execution.wait_idle()

    async def get(self, path: str) -> Any:
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()


async def drive(bot: Bot, script: Script, port: int, body: Any) -> None:
    with script.receive, script.send:
        await _drive(bot, script, port, body)


async def _drive(bot: Bot, script: Script, port: int, body: Any) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(bot.run)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            with anyio.fail_after(20):
                while True:
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.02)
            await body(Running(bot, script, client))
        script.send.close()


def held(status: Any, positions: Any) -> float:
    return float(sum(p["quantity"] for p in positions) + sum(status["remainders"].values()))


@pytest.mark.anyio
async def test_live_status_shows_cash_plus_holdings_at_the_last_trade_after_fills(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    fake_bithumb.set_price(MARKET, 50_000_000)
    exchange = make_exchange(fake_bithumb, ScriptedBithumb)
    exchange.script = script = Script()
    port = free_port()
    bot = Bot(settings(tmp_path, "live", port), exchange=exchange, clock=lambda: T0 + 6 * HOUR)

    async def body(run: Running) -> None:
        await run.play(*(quiet(i) for i in range(5)))
        fake_bithumb.set_price(MARKET, 51_000_000)
        await run.play(breakout(5))  # bought at once, at 51,000,000
        assert [f.side for f in bot.core.fills] == [Side.BUY]

        # The price moves on between bars: equity follows the last trade at once.
        await run.play(Trade(MARKET, T0 + 6 * HOUR + 10, 51_300_000, 0.01))
        status = await run.get("/status")
        positions = (await run.get("/positions"))["positions"]
        cash = status["cash"]
        assert cash == pytest.approx(float(fake_bithumb.balance("KRW").balance), abs=1e-6)
        quantity = held(status, positions)
        assert quantity > 0
        assert status["equity"] == pytest.approx(cash + quantity * 51_300_000, abs=1.0)
        # Sizing and the loss limit keep the bar-close figure, shown beside it.
        assert status["equity_at_close"] == bot.core.equity
        assert status["equity"] - status["equity_at_close"] > 1_000  # the move is visible
        assert positions[0]["last_price"] == 51_300_000
        today = await run.get("/today")
        assert today["equity"] == status["equity"]
        assert today["profit"] == pytest.approx(today["equity"] - today["start_equity"])

        # A manual close fills at once; what is left is cash and the sub-step remainder.
        fake_bithumb.set_price(MARKET, 51_200_000)
        await run.play(Trade(MARKET, T0 + 6 * HOUR + 20, 51_200_000, 0.01))
        closed = await run.client.post(f"/positions/{MARKET}/close")
        assert closed.status_code == 202, closed.text
        await run.play()
        assert [f.reason for f in bot.core.fills] == ["entry", "manual"]
        status = await run.get("/status")
        assert status["open_positions"] == 0
        cash = status["cash"]
        assert cash == pytest.approx(float(fake_bithumb.balance("KRW").balance), abs=1e-6)
        remainder = sum(status["remainders"].values())
        assert status["equity"] == pytest.approx(cash + remainder * 51_200_000, abs=1.0)
        # The bar-close figure still holds the position at 51,000,000 (until the next bar).
        assert status["equity_at_close"] == bot.core.equity
        assert abs(status["equity"] - status["equity_at_close"]) > 1_000
        metrics = (await run.client.get("/metrics")).text
        (line,) = [x for x in metrics.splitlines() if x.startswith("tradekit_equity_krw ")]
        assert float(line.split()[1]) == pytest.approx(status["equity"], abs=1.0)

        # The next bar re-marks the decision figure: both agree again.
        await run.play(bar(6, 51.1e6, 51.3e6, 51.1e6, 51.2e6))
        status = await run.get("/status")
        assert status["equity"] == pytest.approx(status["equity_at_close"], abs=1e-6)

    try:
        await drive(bot, script, port, body)
    finally:
        await exchange.aclose()


@pytest.mark.anyio
async def test_paper_status_shows_holdings_at_the_last_trade_and_decides_on_closes(
    tmp_path: Path,
) -> None:
    exchange = PaperExchange()
    exchange.script = script = Script()
    port = free_port()
    bot = Bot(settings(tmp_path, "paper", port), exchange=exchange, clock=lambda: T0 + 6 * HOUR)

    async def body(run: Running) -> None:
        await run.play(*(quiet(i) for i in range(5)), breakout(5))
        assert bot.core.fills == []  # paper: bought at the next bar's open
        await run.play(Trade(MARKET, T0 + 6 * HOUR + 5, 51_050_000, 0.01))
        assert bot.core.position(MARKET) is None  # a trade decides nothing on paper
        await run.play(bar(6, 51.05e6, 51.4e6, 51e6, 51.2e6))
        assert [f.side for f in bot.core.fills] == [Side.BUY]
        status = await run.get("/status")
        # No trade since that bar opened: the close is the latest price.
        assert status["equity"] == pytest.approx(status["equity_at_close"], abs=1e-6)

        await run.play(Trade(MARKET, T0 + 7 * HOUR + 5, 51_600_000, 0.01))
        status = await run.get("/status")
        positions = (await run.get("/positions"))["positions"]
        quantity = held(status, positions)
        assert status["equity"] == pytest.approx(status["cash"] + quantity * 51_600_000, abs=1.0)
        assert status["equity_at_close"] == pytest.approx(
            status["cash"] + quantity * 51_200_000, abs=1.0
        )
        assert bot.core.equity_values[-1] == status["equity_at_close"]  # the curve: closes
        assert positions[0]["last_price"] == 51_600_000

    await drive(bot, script, port, body)
