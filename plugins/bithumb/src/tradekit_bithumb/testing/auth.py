"""JWT (HS256) verification as Bithumb API 2.0 does it, for the fake server.

Rules from docs/bithumb.md#authentication: ``Authorization: Bearer <jwt>``; claims ``access_key``,
``nonce``, ``timestamp`` (ms) and, when the request has parameters, ``query_hash`` (hex SHA-512 of
the query string) with ``query_hash_alg`` ``"SHA512"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

# What JavaScript's encodeURIComponent leaves alone (ccxt escapes this way).
_URI_SAFE = "-_.!~*'()"


class AuthError(Exception):
    """A 401 answer: ``name`` is the error name Bithumb documents."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def query_strings_for_body(body: dict[str, Any]) -> set[str]:
    """The strings a client may have hashed for a JSON body.

    The hash covers ``k1=v1&k2=v2`` built from the body in its key order, but clients escape
    values differently (docs/bithumb.md#known-pitfalls). For plain ASCII values all candidates
    agree; for others the fake accepts any of the three common encodings rather than guess.
    """
    pairs = list(_flatten(body))
    return {
        "&".join(f"{key}={quote_plus(value)}" for key, value in pairs),
        "&".join(f"{key}={quote(value, safe=_URI_SAFE)}" for key, value in pairs),
        "&".join(f"{key}={value}" for key, value in pairs),
    }


def query_strings_for_url(raw_query: str) -> set[str]:
    """The strings a client may have hashed for a URL query: as sent, or unescaped."""
    return {raw_query, unquote(raw_query)}


def _flatten(body: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in body.items():
        if isinstance(value, list):
            for item in value:
                yield f"{key}[]", _text(item)
        else:
            yield key, _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class JwtVerifier:
    """Checks the Authorization header of private requests for one key pair.

    Args:
        api_key: The access key the fake accepts.
        api_secret: The secret; its UTF-8 bytes are the HMAC key, as Bithumb uses it.
        max_clock_skew: Largest accepted distance in seconds between the token's
            ``timestamp`` and the server clock (Bithumb documents none; None disables the check).
    """

    def __init__(self, api_key: str, api_secret: str, max_clock_skew: float | None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.max_clock_skew = max_clock_skew
        self._nonces: set[str] = set()
        self._lock = threading.Lock()

    def verify(
        self, authorization: str | None, hashed_candidates: set[str] | None
    ) -> dict[str, Any]:
        """Verify a request's token; return its claims or raise AuthError.

        Args:
            authorization: The Authorization header value, if any.
            hashed_candidates: Strings the query hash may cover, or None when the request has
                no parameters.
        """
        if not authorization:
            raise AuthError("jwt_verification", "Authorization header is missing")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise AuthError("jwt_verification", "Authorization must be 'Bearer <jwt>'")
        claims = self._decode(token.strip())
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise AuthError("jwt_verification", "nonce claim must be a non-empty string")
        self._check_timestamp(claims.get("timestamp"))
        self._check_query_hash(claims, hashed_candidates)
        with self._lock:
            if nonce in self._nonces:
                # Bithumb lists no dedicated name for a replayed nonce; this is the documented
                # "token verification failed" name, with the reason in the message.
                raise AuthError("jwt_verification", f"nonce already used: {nonce}")
            self._nonces.add(nonce)
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        # Checked by hand rather than with PyJWT: PyJWT warns about HMAC keys shorter than 32
        # bytes, and real Bithumb secrets (and the documented test vectors) may be that short.
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError("jwt_verification", "malformed JWT: expected three segments")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError as exc:
            raise AuthError("jwt_verification", f"malformed JWT: {exc}") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthError("jwt_verification", "malformed JWT: header and payload must be objects")
        if header.get("alg") != "HS256":
            raise AuthError("jwt_verification", f"JWT alg must be HS256, got {header.get('alg')!r}")
        if claims.get("access_key") != self.api_key:
            raise AuthError("jwt_verification", "unknown access_key")
        signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self.api_secret.encode(), signed, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise AuthError("jwt_verification", "JWT signature verification failed")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp < time.time():
            raise AuthError("expired_jwt", "JWT has expired")
        return claims

    def _check_timestamp(self, timestamp: object) -> None:
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise AuthError("jwt_verification", "timestamp claim must be an integer (ms)")
        if self.max_clock_skew is None:
            return
        skew = abs(time.time() * 1000 - timestamp) / 1000
        if skew > self.max_clock_skew:
            raise AuthError(
                "expired_jwt",
                f"timestamp {timestamp} is {skew:.0f}s away from server time (ms expected)",
            )

    @staticmethod
    def _check_query_hash(claims: dict[str, Any], candidates: set[str] | None) -> None:
        query_hash = claims.get("query_hash")
        if candidates is None:
            if query_hash is not None and query_hash != hashlib.sha512(b"").hexdigest():
                raise AuthError("invalid_query_payload", "query_hash given but no parameters sent")
            return
        if query_hash is None:
            raise AuthError("invalid_query_payload", "query_hash is required with parameters")
        if claims.get("query_hash_alg") != "SHA512":
            raise AuthError("invalid_query_payload", "query_hash_alg must be 'SHA512'")
        digests = {hashlib.sha512(text.encode()).hexdigest() for text in candidates}
        if query_hash not in digests:
            raise AuthError("invalid_query_payload", "query_hash does not match the parameters")


def _b64decode(segment: str) -> bytes:
    """Decode base64url without padding, as JWT segments are written."""
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"bad base64url segment: {exc}") from None
