"""The dashboard in a real headless Chromium, against a live bot trading on the fake Bithumb.

The bot is the real one (``mode: live``, the real Bithumb connector, SQLite store, control API
with a token); its bars are replayed tick by tick on the fake exchange, ending with a breakout
that leaves a position open. The page is driven as a person would: sign in, look, pause,
resume, close the position; each action is checked against what ``/status`` reports.

Needs Debian's ``chromium`` (``/usr/bin/chromium``, or ``TRADEKIT_CHROMIUM``); skipped with the
reason when it is missing. Playwright drives it through ``executable_path`` and never downloads
a browser. Set ``TRADEKIT_DASHBOARD_SCREENSHOT=docs/images/dashboard.png`` to refresh the
screenshot in the docs.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from live_replay import ReplayExchange, make_exchange
from run_helpers import free_port
from tradekit_bithumb.testing import BarReplay, FakeBithumb

from tradekit.config import parse_settings
from tradekit.models import Bar, Side
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot

async_api = pytest.importorskip("playwright.async_api")

CHROMIUM = os.environ.get("TRADEKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does, as root)",
    ),
]

TOKEN = "dash-token-5d1e9a7c3b"
MARKET = "KRW-BTC"
HOUR = 3_600_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR  # November 2026
WAIT = 20_000  # ms, for the page to show what the bot did


def market_bars(seed: int = 7, walk: int = 110) -> list[Bar]:
    """A random walk on the 1,000-won grid that trades a few times, then a calm stretch and a
    breakout whose position is still open when the replay ends."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    close = 95_000_000.0

    def add(o: float, h: float, lo: float, c: float, v: float) -> None:
        bars.append(Bar(MARKET, T0 + len(bars) * HOUR, o, h, lo, c, round(v, 4)))

    for _ in range(walk):
        o = close
        c = round(o * (1 + rng.gauss(0.0004, 0.009)) / 1000) * 1000
        h = max(o, c) + 1000 * rng.randint(0, 400)
        lo = min(o, c) - 1000 * rng.randint(0, 400)
        add(o, h, lo, c, rng.uniform(1, 2) * (4 if rng.random() < 0.15 else 1))
        close = c
    for _ in range(6):  # calm: no breakout, stops far away
        add(close, close + 100_000, close - 100_000, close, 1.0)
    top = close + 1_200_000  # the breakout: a close over the calm highs on four times the volume
    add(close, top, close - 50_000, top, 4.0)
    close = top
    for step in (150_000, 100_000):  # drifting up, under the take-profit, over the stop
        add(close, close + step + 100_000, close - 200_000, close + step, 1.2)
        close += step
    return bars


class ReplayedBithumb(ReplayExchange):
    """The live-runner tests' lock-step replay (with warm-up ``history``); after the last bar it
    waits until ``release`` is set, so the page can be read while the bot still runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at_end = anyio.Event()
        self.release = anyio.Event()

    async def after_last_bar(self) -> None:
        self.at_end.set()
        await self.release.wait()


def won(value: float) -> str:
    """KRW as the page shows it (Intl, ko-KR): ``₩10,123,457``."""
    return f"{'-' if value < 0 else ''}₩{abs(round(value)):,}"


def start_bot(
    tmp_path: Path, server: FakeBithumb, port: int, token: str | None = TOKEN
) -> tuple[Bot, ReplayedBithumb]:
    bars = market_bars()
    history, live = bars[:20], bars[20:]
    server.set_price(MARKET, live[0].open)
    exchange: ReplayedBithumb = make_exchange(server, ReplayedBithumb)
    exchange.history = history
    exchange.replay = BarReplay(
        server, MARKET, live, interval_ms=HOUR, candles="none", max_steps_per_leg=8
    )
    settings = parse_settings(
        {
            "mode": "live",
            "markets": [MARKET],
            "exchange": {"use": "bithumb"},
            "strategy": {"use": "breakout", "lookback": 5, "volume_factor": 1.5},
            "risk": [
                {"use": "position_size", "fraction": 0.3},
                {"use": "daily_loss_limit", "limit": 0.05},
            ],
            "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "api": {"enabled": True, "host": "127.0.0.1", "port": port, "token": token},
        },
        load_plugins(),
        {},
    )
    bot = Bot(settings, exchange=exchange, clock=lambda: exchange.replay.now_ms or live[0].time_ms)
    exchange.bot = bot
    return bot, exchange


async def launch(playwright: Any, profile: Path) -> Any:
    """Debian's Chromium, headless, with a fresh profile and nothing that calls home."""
    return await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1440, "height": 900},
        timezone_id="Europe/Berlin",  # not Seoul: the page must show KST by itself
        locale="en-US",
    )


@pytest.mark.anyio
async def test_the_dashboard_drives_a_live_bot_in_chromium(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    expect = async_api.expect
    expect.set_options(timeout=WAIT)  # a loaded CI machine is slow to paint, not wrong
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot, exchange = start_bot(tmp_path, fake_bithumb, port)
    console_errors: list[str] = []
    requests: list[str] = []

    async with (
        anyio.create_task_group() as tg,
        httpx.AsyncClient(
            base_url=base, trust_env=False, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as api,
    ):
        tg.start_soon(bot.run)
        with anyio.fail_after(240):
            await exchange.at_end.wait()

        async def status() -> dict[str, Any]:
            response = await api.get("/status")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        # The replay ended on a breakout: the bot holds a position, after earlier round trips.
        before = await status()
        assert (before["open_positions"], before["paused"]) == (1, False)
        reasons = [f.reason for f in bot.core.fills]
        assert reasons.count("entry") >= 2, reasons
        assert any(r != "entry" for r in reasons), reasons

        async with async_api.async_playwright() as playwright:
            context = await launch(playwright, tmp_path / "chromium-profile")
            page = context.pages[0] if context.pages else await context.new_page()
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else 0)
            page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
            page.on("request", lambda request: requests.append(request.url))
            try:
                await drive(page, expect, api, status, before, bot, console_errors, tmp_path)
            except BaseException:
                await page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
                raise
            finally:
                await context.close()

        assert console_errors == []
        assert requests
        assert all(url.startswith(base + "/") for url in requests), requests
        exchange.release.set()  # the bar stream ends, and with it the bot
    last = bot.core.fills[-1]
    assert (last.side, last.reason) == (Side.SELL, "manual")
    assert bot.core.positions() == []


async def drive(
    page: Any,
    expect: Any,
    api: httpx.AsyncClient,
    status: Any,
    before: dict[str, Any],
    bot: Bot,
    console_errors: list[str],
    tmp_path: Path,
) -> None:
    """What a person does on the page, each step checked against the bot's own API."""
    response = await page.goto(str(api.base_url))
    assert response is not None
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "'unsafe-inline'" not in csp

    # Asked for the token once; a wrong one is refused with the API's reason.
    await expect(page.locator("#login")).to_be_visible()
    assert console_errors == [], "the sign-in page logged errors"
    await page.fill("#token", "not-the-token")
    await page.click("#login-button")
    await expect(page.locator("#login-error")).to_contain_text("invalid bearer token", timeout=WAIT)
    assert console_errors, "the refused sign-in should show as a 401 in the console"
    assert all("401" in e for e in console_errors), console_errors
    console_errors.clear()  # from here on, not one error

    await page.fill("#token", TOKEN)
    await page.click("#login-button")
    await expect(page.locator("#app")).to_be_visible(timeout=WAIT)
    assert await page.evaluate("sessionStorage.getItem('tradekit.api-token')") == TOKEN
    assert await page.evaluate("localStorage.length") == 0
    assert await page.context.cookies() == []
    assert TOKEN not in page.url

    # The position from the breakout, with its levels, and the bot's numbers.
    row = page.locator(f'#positions tbody tr[data-market="{MARKET}"]')
    await expect(row).to_be_visible(timeout=WAIT)
    (held,) = (await api.get("/positions")).json()["positions"]
    assert held["stop"] is not None
    assert held["take_profit_price"] is not None
    await expect(row).to_contain_text(f"{round(held['stop']):,}")
    await expect(row).to_contain_text(f"{round(held['take_profit_price']):,}")
    await expect(page.locator("#equity")).to_have_text(won(before["equity"]))
    await expect(page.locator("#state")).to_have_text("RUNNING")
    await expect(page.locator("#mode")).to_have_text("live")
    await expect(page.locator("#today-sub")).to_contain_text("loss limit −5.00%")
    chart = page.locator(f'[data-testid="chart-{MARKET}"]')
    assert await chart.locator("canvas").count() > 0
    # Every fill is a marker on its bar; entry, stop and take-profit are lines.
    await expect(chart).to_have_attribute("data-markers", str(len(bot.core.fills)))
    await expect(chart).to_have_attribute("data-lines", "3")
    await expect(page.locator("#fills tbody tr")).to_have_count(len(bot.core.fills))
    days = (await api.get("/performance")).json()["days"]
    assert len(days) >= 3  # the replay spans several trading days
    await expect(page.locator("#days tbody tr")).to_have_count(len(days))

    # Pause: cancelling the confirmation does nothing; confirming pauses the bot.
    await page.click("#pause")
    await expect(page.locator("#confirm-title")).to_have_text("Pause new entries?")
    await page.click("#confirm-cancel")
    await expect(page.locator("#confirm")).to_be_hidden()
    assert (await status())["paused"] is False
    await page.click("#pause")
    await page.click("#confirm-ok")
    await expect(page.locator("#state")).to_have_text("PAUSED", timeout=WAIT)
    assert (await status())["paused"] is True
    await expect(page.locator("#banner")).to_contain_text("paused by the operator")

    await page.click("#resume")
    await expect(page.locator("#confirm-title")).to_have_text("Resume new entries?")
    await page.click("#confirm-ok")
    await expect(page.locator("#state")).to_have_text("RUNNING", timeout=WAIT)
    assert (await status())["paused"] is False
    await expect(page.locator("#banner")).to_be_hidden()

    # What a trader sees with the position open, kept for the docs.
    await expect(page.locator("#toast")).to_be_hidden(timeout=WAIT)
    await page.mouse.move(5, 5)  # no crosshair over the chart
    shot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if target := os.environ.get("TRADEKIT_DASHBOARD_SCREENSHOT"):
        shutil.copyfile(shot, target)

    # Close the position: live, a market sell at once.
    await page.click(f'#positions button[data-market="{MARKET}"]')
    await expect(page.locator("#confirm-title")).to_have_text(f"Close {MARKET}?")
    await page.click("#confirm-ok")
    with anyio.fail_after(30):
        while (await status())["open_positions"]:  # noqa: ASYNC110 - polled like a person
            await anyio.sleep(0.1)
    await expect(page.locator("#positions tbody")).to_contain_text(
        "No open positions.", timeout=WAIT
    )
    await expect(page.locator("#fills tbody tr").first).to_contain_text("Manual close")
    # The sale fell in the bar still forming: its marker shows at once, the lines are gone.
    await expect(chart).to_have_attribute("data-markers", str(len(bot.core.fills)), timeout=WAIT)
    await expect(chart).to_have_attribute("data-lines", "0")
    await page.mouse.move(5, 5)
    await page.screenshot(path=str(tmp_path / "closed.png"), full_page=True)


@pytest.mark.anyio
async def test_without_a_token_the_page_opens_on_localhost_without_asking(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    expect = async_api.expect
    expect.set_options(timeout=WAIT)  # a loaded CI machine is slow to paint, not wrong
    port = free_port()
    bot, exchange = start_bot(tmp_path, fake_bithumb, port, token=None)
    console_errors: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(bot.run)
        with anyio.fail_after(240):
            await exchange.at_end.wait()
        async with async_api.async_playwright() as playwright:
            context = await launch(playwright, tmp_path / "chromium-profile")
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.on(
                    "console", lambda m: console_errors.append(m.text) if m.type == "error" else 0
                )
                page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
                await page.goto(f"http://localhost:{port}/")
                await expect(page.locator("#app")).to_be_visible(timeout=WAIT)
                await expect(page.locator("#login")).to_be_hidden()
                await expect(page.locator("#logout")).to_be_hidden()  # nothing to sign out of
                row = page.locator(f'#positions tbody tr[data-market="{MARKET}"]')
                await expect(row).to_be_visible(timeout=WAIT)
                await page.click("#pause")
                await page.click("#confirm-ok")
                await expect(page.locator("#state")).to_have_text("PAUSED", timeout=WAIT)
                assert bot.status().paused
                assert await page.evaluate("sessionStorage.length") == 0
            finally:
                await context.close()
        assert console_errors == []
        exchange.release.set()
