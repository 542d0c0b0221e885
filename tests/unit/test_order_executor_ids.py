"""client_order_id_for: deterministic ids that Bithumb accepts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.engine.executor import CLIENT_ORDER_ID_PATTERN, client_order_id_for

RUN = "3f2a9c0d5b6e4f718293a4b5c6d7e8f9"
T0 = 1_704_067_200_000


def test_same_decision_same_id() -> None:
    first = client_order_id_for(RUN, "KRW-BTC", T0, "entry")
    assert first == client_order_id_for(RUN, "KRW-BTC", T0, "entry")
    assert first.startswith("entry-")
    assert CLIENT_ORDER_ID_PATTERN.match(first)


def test_every_input_changes_the_id() -> None:
    ids = {
        client_order_id_for(run, market, time_ms, purpose)
        for run, market, time_ms, purpose in itertools.product(
            (RUN, "other-run"),
            ("KRW-BTC", "KRW-ETH"),
            (T0, T0 + 3_600_000),
            ("entry", "stop_loss", "take_profit"),
        )
    }
    assert len(ids) == 2 * 2 * 2 * 3


def test_fields_cannot_run_into_each_other() -> None:
    # Plain concatenation would make these two the same text.
    assert client_order_id_for("ab", "c", T0, "entry") != client_order_id_for(
        "a", "bc", T0, "entry"
    )


def test_long_or_odd_purposes_still_fit() -> None:
    cid = client_order_id_for(RUN, "KRW-BTC", T0, "trailing stop / 손절 " * 10)
    assert CLIENT_ORDER_ID_PATTERN.match(cid)
    assert cid.startswith("trailing-")
    assert CLIENT_ORDER_ID_PATTERN.match(client_order_id_for(RUN, "KRW-BTC", T0, "손절"))


def test_empty_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="purpose"):
        client_order_id_for(RUN, "KRW-BTC", T0, "")


@given(
    run_id=st.text(max_size=80),
    market=st.text(max_size=20),
    time_ms=st.integers(min_value=0, max_value=2**63),
    purpose=st.text(min_size=1, max_size=80),
)
def test_always_1_to_36_safe_characters(
    run_id: str, market: str, time_ms: int, purpose: str
) -> None:
    cid = client_order_id_for(run_id, market, time_ms, purpose)
    assert CLIENT_ORDER_ID_PATTERN.match(cid), cid
    assert cid == client_order_id_for(run_id, market, time_ms, purpose)
