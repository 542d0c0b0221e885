"""Store write speed: candles in bulk, and the latency of the order writes a live bot waits on.

    uv run python bench/store_writes.py [--url URL] [--bars 100000] [--orders 1000]

An order row is committed before the order is sent, so ``record_order`` latency is added to
every order's round trip; ``update_order`` follows each exchange answer. Prints bars per
second for ``save_candles`` and p50/p95/p99/max latencies for both order writes. With no
``--url`` it uses a fresh SQLite file in a temporary folder; pass a PostgreSQL URL to compare.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import attrs

from tradekit.models import Order, OrderStatus, OrderType, Side
from tradekit.store import Store
from tradekit.store.engine import safe_url
from tradekit.testing import random_walk_bars


def percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100)
    return f"p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms, max {ms[-1]:.2f} ms"


def bench(url: str, n_bars: int, n_orders: int) -> None:
    bars = random_walk_bars(n_bars, seed=7)
    with Store.open(url) as store:
        store.start_run("paper")
        started = time.perf_counter()
        store.save_candles("1h", bars)
        elapsed = time.perf_counter() - started
        print(f"store:        {safe_url(url)}")
        print(f"save_candles: {n_bars:,} bars in {elapsed:.2f} s = {n_bars / elapsed:,.0f} bars/s")

        record: list[float] = []
        update: list[float] = []
        for i in range(n_orders):
            order = Order(
                client_order_id=f"bench-{time.time_ns()}-{i}",
                market="KRW-BTC",
                side=Side.BUY,
                type=OrderType.LIMIT,
                volume=0.001,
                price=50_000_000.0,
                status=OrderStatus.NEW,
                created_ms=i,
                updated_ms=i,
            )
            t0 = time.perf_counter()
            store.record_order(order)
            t1 = time.perf_counter()
            store.update_order(attrs.evolve(order, status=OrderStatus.OPEN, updated_ms=i + 1))
            t2 = time.perf_counter()
            record.append(t1 - t0)
            update.append(t2 - t1)
        print(f"record_order: {percentiles(record)} ({n_orders:,} orders)")
        print(f"update_order: {percentiles(update)}")
        store.end_run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="SQLAlchemy URL (default: a new SQLite file)")
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000)
    args = parser.parse_args()
    if args.url:
        bench(args.url, args.bars, args.orders)
        return
    with tempfile.TemporaryDirectory() as folder:
        bench(f"sqlite:///{Path(folder) / 'bench.db'}", args.bars, args.orders)


if __name__ == "__main__":
    main()
