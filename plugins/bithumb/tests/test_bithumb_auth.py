"""JWT signing and query strings: test vectors made with ccxt 4.5.90 are the contract."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from tradekit_bithumb.auth import encode_query, json_body, make_token, query_hash

PINNED = {"nonce": "00000000-0000-4000-8000-000000000000", "timestamp_ms": 1700000000000}
HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

J1 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMD"
    "AwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMH0.kHQrDvfb_nrcM"
    "uK2SIb3L5DUt-Jgvr4LdK3czjwb3Kk"
)
J2 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMD"
    "AwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFza"
    "CI6ImI3NDlkZmMyZTE3Zjc1ZTViNDZjODE2MWY5N2ZlN2M5Mjk4ZWQ0MTY3ZWEyMWM1Yzk0ZDE2NTczZWZkOGE4MDEz"
    "NTE0NzBjMGZmMWE5YTNmMWU3NjNmODI0OTk2ODIxOGMwNGM1NzFjOGI0NWFhODBjZDQ1ODhlNmM0YmUwNzM4IiwicXV"
    "lcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.mTixFM_hTBzp0bZcFKq-hXQrCqpu79W7IbRC1-83oHU"
)
J3 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMD"
    "AwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFza"
    "CI6IjEzZWMyYzYyMzJhMmViZmQ3ZjI2ODc3YjFkN2QwOTI1OWIxZGMxMGI1ZTAxN2UwOGU0ZGU5YmMzNjg0YTBjODM2"
    "ZmRlNGJhMDRiNmZkMTJkMGM1NDE2ZTk4ZmU2ZWQ4NDk3OTM0NjJhYjkxOTdiNjE1MTY3ZmJkZDAyNTQ5MDVhIiwicXV"
    "lcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.IzTH6axtMQ0PK1v82xGNhZpacEA9-59rpS8pDif6LKA"
)
J4 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMD"
    "AwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFza"
    "CI6ImQ5NzI5NzE0ZjBjYjliNGJlYzFjNTgwYTYyNTUzYjk0YmI3NzQ2NWFhOTJhYzEzNzdjN2ZjNGIxZDI1NDQ0N2Vj"
    "Njk4YmUwZWFlZmI5MTllZDZiZDJiODQ2MDJlNDBmOGE1NWQ4NDg1YmIxMjRkMmJlZDU0Yzc0NDk0YWUyMjdlIiwicXV"
    "lcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.I9tnVqJjAr_r_7lra2Szl2f6Gn4PtpJXcZmOxHGKrEE"
)
J5 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3Nfa2V5IjoidGVzdC1rZXkiLCJub25jZSI6IjAwMDAwMD"
    "AwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCIsInRpbWVzdGFtcCI6MTcwMDAwMDAwMDAwMCwicXVlcnlfaGFza"
    "CI6IjE0MWM0NTM2YTM0OTUzOGE2OWE4MTFhMzExZWUwOWI4NzhhZWQxM2NlZTAzNjAzYjg3NmJmYzE5MmNjYTExYjg2"
    "ZTk3YTk2ODBjZjBlYzRlNGUwOTc5MjU3ZmIyNDJkODQ4Nzg5YWFjZDRmZmQ4YjMyZDBiZDc0OTE3ZmQwYWY5IiwicXV"
    "lcnlfaGFzaF9hbGciOiJTSEE1MTIifQ.wDrAv0jPrfn6fPwView8IjzKAgI5o-Euu4llZPGYwvQ"
)


def test_j1_no_params_has_no_query_hash() -> None:
    assert encode_query({}) == ""
    token = make_token("test-key", "test-secret", encode_query({}) or None, **PINNED)
    assert token == J1
    assert _claims(token) == {
        "access_key": "test-key",
        "nonce": "00000000-0000-4000-8000-000000000000",
        "timestamp": 1700000000000,
    }


def test_j2_order_chance() -> None:
    query = encode_query({"market": "KRW-BTC"})
    assert query == "market=KRW-BTC"
    assert query_hash(query) == (
        "b749dfc2e17f75e5b46c8161f97fe7c9298ed4167ea21c5c94d16573efd8a801"
        "351470c0ff1a9a3f1e763f8249968218c04c571c8b45aa80cd4588e6c4be0738"
    )
    assert make_token("test-key", "test-secret", query, **PINNED) == J2


def test_j3_array_params_repeat_the_key_with_literal_brackets() -> None:
    query = encode_query(
        {
            "market": "KRW-BTC",
            "uuids": ["C0101000000000000001", "C0101000000000000002"],
            "limit": 100,
        }
    )
    assert query == (
        "market=KRW-BTC&uuids[]=C0101000000000000001&uuids[]=C0101000000000000002&limit=100"
    )
    assert query_hash(query) == (
        "13ec2c6232a2ebfd7f26877b1d7d09259b1dc10b5e017e08e4de9bc3684a0c83"
        "6fde4ba04b6fd12d0c5416e98fe6ed849793462ab9197b615167fbdd0254905a"
    )
    assert make_token("test-key", "test-secret", query, **PINNED) == J3


def test_j4_post_body_and_hashed_string_agree() -> None:
    body, query = json_body(
        {
            "market": "KRW-BTC",
            "side": "bid",
            "volume": Decimal("0.001"),
            "price": Decimal("50000000"),
            "order_type": "limit",
        }
    )
    assert body == (
        b'{"market":"KRW-BTC","side":"bid","volume":"0.001","price":"50000000",'
        b'"order_type":"limit"}'
    )
    assert query == "market=KRW-BTC&side=bid&volume=0.001&price=50000000&order_type=limit"
    assert query_hash(query) == (
        "d9729714f0cb9b4bec1c580a62553b94bb77465aa92ac1377c7fc4b1d254447e"
        "c698be0eaefb919ed6bd2b84602e40f8a55d8485bb124d2bed54c74494ae227e"
    )
    assert make_token("test-key", "test-secret", query, **PINNED) == J4


def test_j5_cancel() -> None:
    query = encode_query({"order_id": "C0101000000000000001"})
    assert query_hash(query) == (
        "141c4536a349538a69a811a311ee09b878aed13cee03603b876bfc192cca11b8"
        "6e97a9680cf0ec4e4e0979257fb242d848789aacd4ffd8b32d0bd74917fd0af9"
    )
    assert make_token("test-key", "test-secret", query, **PINNED) == J5


def test_tokens_always_start_with_the_hs256_header_and_are_unique() -> None:
    first = make_token("k", "a-secret-that-is-long-enough-for-hs256!!")
    second = make_token("k", "a-secret-that-is-long-enough-for-hs256!!")
    assert first.startswith(HEADER + ".")
    assert _claims(first)["nonce"] != _claims(second)["nonce"]
    assert isinstance(_claims(first)["timestamp"], int)
    assert _claims(first)["timestamp"] > 1_700_000_000_000  # milliseconds, not seconds


def test_non_ascii_values_are_escaped_like_ccxt() -> None:
    # docs/bithumb.md#authentication, as ccxt does: encodeURIComponent rules (space -> %20, ':'
    # and '+' escaped).
    query = encode_query(
        {
            "currency": "USDT",
            "receiver_ko_name": "홍길동",
            "receiver_en_name": "HONG GIL DONG",
            "start_time": "2024-01-01T00:00:00+09:00",
        }
    )
    assert query == (
        "currency=USDT&receiver_ko_name=%ED%99%8D%EA%B8%B8%EB%8F%99"
        "&receiver_en_name=HONG%20GIL%20DONG&start_time=2024-01-01T00%3A00%3A00%2B09%3A00"
    )
    assert query_hash(query) == (
        "ce2f65212bf46530225445fe0c4711fbb0fef34475e26747cd8254dd2caea6b0"
        "f9549f4cf41d8d2c1c592f58bd7c401b4a729fefa8846b78492eae9dc58a6f35"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"price": Decimal("400000.0")}, "price=400000"),
        ({"volume": Decimal("0.00001")}, "volume=0.00001"),
        ({"volume": 1e-05}, "volume=0.00001"),
        ({"price": 400000.0}, "price=400000"),
        ({"isDetails": True, "flag": False}, "isDetails=true&flag=false"),
        ({"market": "KRW-BTC", "to": None, "count": 200}, "market=KRW-BTC&count=200"),
        ({"states": ("wait", "done")}, "states[]=wait&states[]=done"),
        ({"markets": "KRW-BTC,KRW-ETH"}, "markets=KRW-BTC%2CKRW-ETH"),
    ],
)
def test_encode_query_writes_plain_decimals_and_skips_none(
    params: dict[str, Any], expected: str
) -> None:
    assert encode_query(params) == expected


def test_json_body_lists_are_hashed_with_brackets() -> None:
    body, query = json_body({"client_order_ids": ["a", "b"], "skip": None})
    assert json.loads(body) == {"client_order_ids": ["a", "b"]}
    assert query == "client_order_ids[]=a&client_order_ids[]=b"


def test_short_secrets_do_not_warn() -> None:
    # Bithumb issues the secret; a PyJWT key-length warning per request would be noise and
    # fails this suite (filterwarnings = error). Being here without an error is the check.
    token = make_token("k", "short", "a=1")
    assert token.count(".") == 2
    expected = hashlib.sha512(b"a=1").hexdigest()
    assert _claims(token)["query_hash"] == expected


def _claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded
