"""API 2.0 request signing: the query string, its SHA-512 hash and the HS256 JWT.

The rules are in docs/bithumb.md#authentication.

The query-string builder is the one piece nobody could pin down for values outside
``[A-Za-z0-9-_.]`` (docs/bithumb.md#known-pitfalls), so it is a single function that
:class:`~tradekit_bithumb.client.BithumbClient` takes as a parameter; the URL that is sent and
the string that is hashed always come from the same call.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from jwt import PyJWS
from jwt.algorithms import HMACAlgorithm

from tradekit.models import decimal_str

__all__ = [
    "QueryEncoder",
    "encode_query",
    "json_body",
    "make_token",
    "query_hash",
    "query_value",
]

QueryEncoder = Callable[[Mapping[str, Any]], str]

# JavaScript encodeURIComponent leaves these alone; ccxt (whose output the documented test
# vectors come from) escapes that way, so a space becomes %20, not "+".
_URI_SAFE = "-_.!~*'()"


def query_value(value: Any) -> str:
    """One parameter value as text: decimals plainly (never ``1e-05``), booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float):
        return decimal_str(value)
    return str(value)


def encode_query(params: Mapping[str, Any]) -> str:
    """``k1=v1&k2=v2`` in the mapping's order, as sent in URLs and hashed for ``query_hash``.

    A list or tuple value repeats its key with literal (unescaped) brackets:
    ``{"uuids": ["a", "b"]}`` gives ``uuids[]=a&uuids[]=b``. None values are left out. Keys
    and values are escaped by encodeURIComponent rules.
    """
    parts: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        name = quote(key, safe=_URI_SAFE)
        if isinstance(value, list | tuple):
            parts.extend(f"{name}[]={quote(query_value(item), safe=_URI_SAFE)}" for item in value)
        else:
            parts.append(f"{name}={quote(query_value(value), safe=_URI_SAFE)}")
    return "&".join(parts)


def query_hash(query: str) -> str:
    """Lower-case hex SHA-512 of a query string."""
    return hashlib.sha512(query.encode("utf-8")).hexdigest()


class _ExchangeIssuedKeyHMAC(HMACAlgorithm):
    """HS256 without PyJWT's short-key warning.

    The secret is issued by Bithumb; its length is not the user's choice, so a warning on every
    request would only be noise (and an error under ``-W error``).
    """

    def check_key_length(self, key: Any) -> str | None:
        return None


_JWS = PyJWS(algorithms=[])
_JWS.register_algorithm("HS256", _ExchangeIssuedKeyHMAC(HMACAlgorithm.SHA256))


def make_token(
    access_key: str,
    secret: str,
    query: str | None = None,
    *,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
) -> str:
    """A signed JWT for one request (put it in ``Authorization: Bearer <token>``).

    Args:
        access_key: The API key.
        secret: The secret key; its UTF-8 bytes are the HMAC key.
        query: The request's query string (see :func:`encode_query`); None or empty when the
            request has no parameters, which leaves out ``query_hash`` and ``query_hash_alg``.
        nonce: Unique per request (default: a fresh UUID4); fixed only in tests.
        timestamp_ms: Unix time in milliseconds (default: now); fixed only in tests.
    """
    payload: dict[str, Any] = {
        "access_key": access_key,
        "nonce": nonce if nonce is not None else str(uuid.uuid4()),
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
    }
    if query:
        payload["query_hash"] = query_hash(query)
        payload["query_hash_alg"] = "SHA512"
    # Compact JSON in claim order, exactly as PyJWT's jwt.encode would write it.
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return _JWS.encode(body, secret, algorithm="HS256")


def json_body(params: Mapping[str, Any], encoder: QueryEncoder = encode_query) -> tuple[bytes, str]:
    """The JSON body of a POST and the query string its hash covers (same keys, same order).

    Values are sent as strings (numbers as plain decimals), so the body and the hashed
    ``k=v`` string cannot disagree about how a number is written. ``encoder`` builds the
    hashed string (the same swappable builder as for URLs).
    """
    clean: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            clean[key] = [query_value(item) for item in value]
        else:
            clean[key] = query_value(value)
    body = json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body, encoder(clean)
