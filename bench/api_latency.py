"""Control API latency of a running paper bot: GET /status, /positions, /metrics over HTTP.

    uv run python bench/api_latency.py [--requests 2000]

Starts a real paper bot (engine, SQLite store, uvicorn + Litestar on 127.0.0.1) whose bar feed
stays idle, then sends requests one at a time with httpx over a kept-alive connection and
prints requests per second and p50/p95/p99/max latency per route. One client on the same
2-core machine, so the figures include the client's own cost.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from tradekit.config import parse_settings
from tradekit.models import Bar, Timeframe
from tradekit.plugins import load_plugins
from tradekit.runner.bot import Bot


class IdleExchange:
    """No history, and a live feed that waits forever: the bot just sits and serves."""

    name = "idle"

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
        class Feed:
            async def __aiter__(self) -> AsyncIterator[Bar]:
                await anyio.sleep_forever()
                yield  # pragma: no cover

            async def aclose(self) -> None:
                pass

        return Feed()

    async def aclose(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def summary(route: str, samples: list[float], elapsed: float) -> str:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100)
    return (
        f"{route:<11} {len(ms) / elapsed:8,.0f} req/s   p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  "
        f"p99 {q[98]:.2f} ms  max {ms[-1]:.2f} ms"
    )


async def bench(requests: int, folder: Path) -> None:
    port = free_port()
    token = "bench-token-0123456789"
    settings = parse_settings(
        {
            "mode": "paper",
            "markets": ["KRW-BTC", "KRW-ETH"],
            "exchange": {"use": "bithumb"},
            "strategy": {"use": "breakout"},
            "storage": {"url": f"sqlite:///{folder / 'bench.db'}"},
            "api": {"port": port, "token": token},
        },
        load_plugins(),
        {},
    )
    bot = Bot(settings, exchange=IdleExchange())  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(bot.run)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            while True:
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await anyio.sleep(0.05)
            for route in ("/status", "/positions", "/metrics"):
                for _ in range(50):  # warm-up
                    (await client.get(route)).raise_for_status()
                samples = []
                started = time.perf_counter()
                for _ in range(requests):
                    t0 = time.perf_counter()
                    response = await client.get(route)
                    samples.append(time.perf_counter() - t0)
                    response.raise_for_status()
                print(summary(route, samples, time.perf_counter() - started))
        tg.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from tradekit.log import setup_logging

    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(bench, args.requests, Path(folder))


if __name__ == "__main__":
    main()
