"""A live `tradekit run` killed with SIGKILL while its entry order is out, then restarted.

Against the fake Bithumb, as a user runs it: the bot warms up on REST candles, trades 1-minute
bars built from WebSocket trades, buys on a breakout; the exchange fills the buy but its answer
never comes back, and the bot process is killed while the store has the order as ``submitted``.
The restarted bot settles that order once (no second buy), takes the coins over with the stop
of the order's exit plan, and sells them when a trade falls through that stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from tradekit_bithumb.testing import FakeBithumb

from tradekit.models import OrderStatus, Side
from tradekit.store import Store

SCRIPT = Path(sys.executable).with_name("tradekit")
TOKEN = "live-crash-api-token-7e2a"
MARKET = "KRW-BTC"
MINUTE = 60_000
LOOKBACK = 5
STOP_LOSS = 0.015
QUIET = 50_000_000  # the warm-up bars: high 50.1M, volume 1 each
BREAKOUT_CLOSE = 51_000_000  # above every warm-up high, with 3x their volume
FILL_PRICE = 51_050_000  # the trade of the next minute that closes the breakout bar
STEP = 1e-4  # Bithumb sells in 4 decimals

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    bot: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail if the bot dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if bot is not None and bot.poll() is not None:
            text = log.read_text(encoding="utf-8") if log is not None else ""
            pytest.fail(f"the bot exited ({bot.returncode}) while waiting for {what}:\n{text}")
        if time.monotonic() > deadline:
            text = log.read_text(encoding="utf-8") if log is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{text[-5000:]}")
        time.sleep(0.05)


def write_config(tmp_path: Path, fake: FakeBithumb, port: int) -> Path:
    config = {
        "mode": "live",
        "markets": [MARKET],
        "timeframe": "1m",
        "exchange": {
            "use": "bithumb",
            "api_key": "${BITHUMB_API_KEY}",
            "api_secret": "${BITHUMB_API_SECRET}",
            "base_url": fake.base_url,
            "ws_url": fake.ws_url,
            # The bot is killed well before its request could time out and be looked up.
            "timeout": 30,
        },
        "strategy": {"use": "breakout", "lookback": LOOKBACK, "stop_loss": STOP_LOSS},
        "risk": [{"use": "position_size", "fraction": 0.1}],
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "api": {"host": "127.0.0.1", "port": port, "token": "${TRADEKIT_API_TOKEN}"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Bot:
    """One `tradekit run` process (the console script execs Python: its pid is the bot's)."""

    def __init__(self, config: Path, env: dict[str, str], log: Path, port: int) -> None:
        self.log = log
        self.base = f"http://127.0.0.1:{port}"
        self.auth = {"Authorization": f"Bearer {TOKEN}"}
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(SCRIPT), "run", str(config)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def wait_up(self) -> None:
        wait_for("the API", self.healthy, timeout=60, bot=self.proc, log=self.log)

    def get(self, route: str) -> Any:
        answer = httpx.get(f"{self.base}{route}", headers=self.auth, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 30) -> T:
        return wait_for(what, probe, timeout=timeout, bot=self.proc, log=self.log)

    def stop(self) -> int:
        """SIGTERM, then the exit status (SIGKILL if it hangs: the test then fails)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def load_warmup(fake: FakeBithumb) -> None:
    """Quiet 1-minute candles ending just before the current minute."""
    now = now_ms()
    current = now - now % MINUTE
    rows = [
        (current - i * MINUTE, QUIET, QUIET + 100_000, QUIET - 100_000, QUIET, 1)
        for i in range(30, 0, -1)
    ]
    fake.load_candles(MARKET, 1, rows)


def push_breakout(fake: FakeBithumb) -> None:
    """A bar closing above the warm-up highs on 3x their volume, closed by the next minute.

    The bar holding the moment the stream went live is built from trades but held back until
    it has ended (REST is asked whether it missed any): it comes out about 2 s after its
    minute; a later bar as soon as a trade of the following minute arrives.
    """
    if now_ms() % MINUTE > 55_000:  # too close to the end of the minute: use the next one
        time.sleep((MINUTE - now_ms() % MINUTE) / 1000 + 0.3)
    started = now_ms()
    fake.push_trade(MARKET, QUIET, 1, time_ms=now_ms())
    fake.push_trade(MARKET, BREAKOUT_CLOSE, 2, time_ms=now_ms())
    assert now_ms() // MINUTE == started // MINUTE, "the breakout trades straddle two minutes"
    next_minute = started - started % MINUTE + MINUTE
    time.sleep(max(0.0, (next_minute - now_ms()) / 1000) + 0.3)
    fake.push_trade(MARKET, FILL_PRICE, 0.001, time_ms=now_ms())


@pytest.mark.slow
def test_a_bot_killed_while_its_buy_is_out_settles_it_once_and_the_stop_sells_it(
    tmp_path: Path, fake_bithumb: FakeBithumb
) -> None:
    fake = fake_bithumb
    load_warmup(fake)
    port = free_port()
    config = write_config(tmp_path, fake, port)
    db_url = f"sqlite:///{tmp_path / 'bot.db'}"
    env = {
        **os.environ,
        "BITHUMB_API_KEY": fake.api_key,
        "BITHUMB_API_SECRET": fake.api_secret,
        "TRADEKIT_API_TOKEN": TOKEN,
    }
    env.pop("TRADEKIT_LOAD_PLUGINS", None)

    # ---- run 1: buy on a breakout; the exchange fills it, its answer never arrives -----
    first = Bot(config, env, tmp_path / "run1.log", port)
    try:
        first.wait_up()
        first.wait("the trade stream", lambda: len(fake.ws_subscriptions) >= 1)
        fake.faults.timeout_after_accept_next("POST /v2/orders", delay=300)
        push_breakout(fake)
        first.wait("the entry order", lambda: fake.requests_to("POST", "/v2/orders"), timeout=45)
        cmdline = Path(f"/proc/{first.proc.pid}/cmdline")
        if cmdline.exists():  # Linux: the pid is the Python process running the bot
            argv = cmdline.read_bytes().split(b"\0")
            assert Path(os.fsdecode(argv[0])).name.startswith("python"), argv
            assert argv[1:3] == [os.fsencode(SCRIPT), b"run"], argv
        first.proc.kill()  # SIGKILL, while the bot waits for the answer
        assert first.proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
            first.proc.wait()
    assert not first.healthy()  # the killed process was the bot itself
    assert fake.faults.count("timeout_after_accept") == 1

    (buy,) = fake.orders
    assert (buy.side, buy.ord_type, buy.state) == ("bid", "price", "done")
    assert len(buy.fills) == 1
    fill_price = float(buy.fills[0].price)
    bought = float(buy.executed_volume)
    assert fill_price == FILL_PRICE
    assert round(bought, 4) != bought  # a sub-step quantity: the sale leaves a remainder
    assert float(fake.balance("BTC").balance) == pytest.approx(bought, abs=1e-12)
    with Store.open(db_url) as store:
        (stored,) = store.orders()
        assert stored.client_order_id == buy.client_order_id
        assert (stored.side, stored.status) == (Side.BUY, OrderStatus.SUBMITTED)
        assert stored.exit_plan is not None
        assert stored.exit_plan.stop_loss == STOP_LOSS
        assert store.fills() == []

    # ---- run 2: same config and store --------------------------------------------------
    subscribed = len(fake.ws_subscriptions)
    second = Bot(config, env, tmp_path / "run2.log", port)
    try:
        second.wait_up()  # the API serves once the start-up check and the takeover are done
        (position,) = second.get("/positions")["positions"]
        assert position["market"] == MARKET
        assert position["quantity"] == pytest.approx(bought, abs=1e-12)
        assert position["entry_price"] == pytest.approx(fill_price)
        stop = position["stop"]
        assert stop == pytest.approx(fill_price * (1 - STOP_LOSS), rel=1e-9)
        status = second.get("/status")
        assert status["blocked"] == {}, status
        assert len(fake.orders) == 1  # settled by looking it up, never sent again

        second.wait("the trade stream", lambda: len(fake.ws_subscriptions) > subscribed)
        fake.push_trade(MARKET, QUIET, 0.01, time_ms=now_ms())  # below the stop
        second.wait("the stop's sale", lambda: len(fake.orders) == 2)
        second.wait(
            "the sale to be booked",
            lambda: (
                not second.get("/positions")["positions"]
                and len(second.get("/fills")["fills"]) == 2
            ),
        )
    finally:
        code = second.stop()
    log = second.text()
    assert code == 0, log

    # The log says what the restart found and did.
    assert "settled 1 order(s) left open by the previous run (1 fill(s) not booked yet)" in log
    assert f"{MARKET}: took over a buy of {bought} at {fill_price}" in log
    assert "1 position(s) taken over" in log
    for secret in (TOKEN, fake.api_secret):
        assert secret not in first.text() + log

    # The exchange: one buy, one sell, no id sent twice, less than a step of BTC left.
    buy_order, sell_order = fake.orders
    assert buy_order.order_id == buy.order_id
    assert (sell_order.side, sell_order.ord_type, sell_order.state) == ("ask", "market", "done")
    assert [o.side for o in fake.orders].count("bid") == 1
    assert fake.duplicate_client_order_ids == []
    assert len(fake.requests_to("POST", "/v2/orders")) == 2  # the buy was sent once
    left = fake.balance("BTC")
    assert float(left.balance + left.locked) < STEP
    assert sell_order.executed_volume == buy.executed_volume.quantize(Decimal("0.0001"), ROUND_DOWN)

    # The store: one fill per exchange order, the sale's reason is the stop.
    with Store.open(db_url) as store:
        fills = store.fills()
        by_order = {o.client_order_id or "": o for o in fake.orders}
        assert sorted(f.client_order_id or "" for f in fills) == sorted(by_order)
        entry, sale = sorted(fills, key=lambda f: f.side is Side.SELL)
        assert (entry.side, entry.reason, entry.price) == (Side.BUY, "entry", fill_price)
        assert entry.quantity == pytest.approx(bought, abs=1e-12)
        assert (sale.side, sale.reason) == (Side.SELL, "stop_loss")
        assert sale.quantity == pytest.approx(float(sell_order.executed_volume), abs=1e-12)
        assert sale.price < stop
        orders = {o.client_order_id: o for o in store.orders()}
        assert set(orders) == set(by_order)
        assert {o.status for o in orders.values()} == {OrderStatus.FILLED}
        runs = store.runs()
        assert len(runs) == 2
        assert runs[0]["ended_ms"] is None  # killed: never ended
        assert runs[1]["ended_ms"] is not None
