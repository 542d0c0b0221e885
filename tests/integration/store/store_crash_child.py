"""Child process for the crash test: writes orders in a loop until it is killed.

Usage: ``python store_crash_child.py URL``. After each committed write it prints
``<client order id> <status>`` so the parent knows what must have survived.
"""

from __future__ import annotations

import sys

import attrs

from tradekit.models import Fill, Order, OrderStatus, OrderType, Side
from tradekit.store import Store


def main(url: str) -> None:
    with Store.open(url) as store:
        store.start_run("live")
        i = 0
        while True:
            i += 1
            order = Order(
                f"tk-{i}",
                "KRW-BTC",
                Side.BUY,
                OrderType.MARKET,
                None,
                10_000.0,
                OrderStatus.NEW,
                i,
                i,
            )
            store.record_order(order)
            print(order.client_order_id, "new", flush=True)
            if i % 3:
                continue
            # Every third order gets as far as a fill, so final and non-final states mix.
            done = attrs.evolve(order, status=OrderStatus.FILLED, updated_ms=i + 1)
            store.record_fill(
                Fill(i, "KRW-BTC", Side.BUY, 10_000.0, 1.0, 25.0, "entry", done.client_order_id)
            )
            store.update_order(done)
            print(order.client_order_id, "filled", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
