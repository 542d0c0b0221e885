"""The example in docs/bithumb.md, run as written (keep the two in step)."""

from __future__ import annotations

import pytest
from tradekit_bithumb.config import BithumbConfig
from tradekit_bithumb.exchange import BithumbExchange
from tradekit_bithumb.testing import FakeBithumb

from tradekit.errors import OrderStateUnknown
from tradekit.models import Order, OrderStatus, OrderType, Side


@pytest.mark.anyio
async def test_a_timeout_after_submit_is_state_unknown(fake_bithumb: FakeBithumb) -> None:
    fake_bithumb.set_price("KRW-BTC", 50_000_000)
    fake_bithumb.faults.timeout_after_accept_next("POST /v2/orders")  # accept, never answer
    exchange = BithumbExchange(
        BithumbConfig(
            api_key=fake_bithumb.api_key,
            api_secret=fake_bithumb.api_secret,
            base_url=fake_bithumb.base_url,
            ws_url=fake_bithumb.ws_url,
            timeout=0.5,
            backoff_base_s=0.01,
        )
    )
    order = Order(
        client_order_id="my-order-1",
        market="KRW-BTC",
        side=Side.BUY,
        type=OrderType.MARKET,
        volume=None,
        price=10_000,
        status=OrderStatus.NEW,
        created_ms=0,
        updated_ms=0,
    )
    with pytest.raises(OrderStateUnknown):  # sent once; whether it exists is unknown
        await exchange.place_order(order)
    assert len(fake_bithumb.orders_for_client_order_id("my-order-1")) == 1  # it does
    found = await exchange.get_order("my-order-1")  # look it up; never send it again
    assert found is not None
    await exchange.aclose()
