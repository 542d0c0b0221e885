"""Scripted misbehaviour for the fake Bithumb server; every fault that fires is recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

import attrs

FaultKind = Literal[
    "fail", "rate_limit", "timeout_after_accept", "order_not_ready", "drop_ws", "malformed_ws"
]


@attrs.frozen
class FiredFault:
    """A fault that happened: its kind, the request it hit (empty for WebSocket ones), when."""

    kind: FaultKind
    method: str
    path: str
    at: float


@attrs.define
class HttpFault:
    """A pending HTTP fault rule; ``target`` None matches every request."""

    kind: FaultKind
    method: str | None
    path: str | None
    remaining: int
    status: int = 500
    name: str | int = "server_error"
    message: str = ""
    delay: float = 0.0
    drop: bool = False
    retry_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


def _parse_target(target: str | None) -> tuple[str | None, str | None]:
    """``"POST /v2/orders"`` -> both; ``"/v2/orders"`` -> path only; ``"POST"`` -> method only."""
    if target is None:
        return None, None
    target = target.strip()
    if " " in target:
        method, path = target.split(None, 1)
        return method.upper(), path.strip()
    if target.startswith("/"):
        return None, target
    return target.upper(), None


class Faults:
    """Fault injection for one fake server; reach it as ``server.faults``.

    Each ``*_next`` call arms faults that fire on the following matching requests; ``fired``
    lists what actually happened, and ``count(kind)`` counts it.
    """

    def __init__(self, drop_ws: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self._drop_ws = drop_ws
        self._rules: list[HttpFault] = []
        self._order_not_ready = 0
        self._malformed = 0
        self.fired: list[FiredFault] = []

    def fail_next(
        self,
        target: str | None = None,
        status: int = 500,
        times: int = 1,
        *,
        name: str | int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with an error instead of handling them.

        Args:
            target: ``"POST /v2/orders"``, a path (``"/v1/accounts"``, any method), a method
                (``"GET"``) or None for any request.
            status: HTTP status to answer.
            times: How many requests to fail.
            name: The error name in the body (default ``server_error`` for 5xx, else the status).
            message: The error message in the body.
        """
        method, path = _parse_target(target)
        default_name: str | int = "server_error" if status >= 500 else status
        self._add(
            HttpFault(
                "fail",
                method,
                path,
                times,
                status=status,
                name=default_name if name is None else name,
                message=message or f"Injected failure (HTTP {status})",
            )
        )

    def rate_limit_next(
        self, n: int = 1, target: str | None = None, *, retry_after: float | None = None
    ) -> None:
        """Answer the next ``n`` matching requests with 429 ``too_many_requests``.

        Args:
            n: How many requests to refuse.
            target: As for :meth:`fail_next`.
            retry_after: If set, also send a ``Retry-After`` header (seconds).
        """
        method, path = _parse_target(target)
        self._add(
            HttpFault(
                "rate_limit",
                method,
                path,
                n,
                status=429,
                name="too_many_requests",
                message="Too many API requests.",
                retry_after=retry_after,
            )
        )

    def timeout_after_accept_next(
        self,
        target: str = "POST /v2/orders",
        times: int = 1,
        *,
        delay: float = 30.0,
        drop: bool = False,
    ) -> None:
        """Handle the next matching request fully, then withhold the answer.

        The order (or whatever the request does) really happens; the client only sees a timeout.

        Args:
            target: As for :meth:`fail_next`.
            times: How many requests this applies to.
            delay: Seconds to hold the answer (pick more than the client's timeout); stopping
                the server ends the wait.
            drop: Reset the connection instead of waiting (the client sees a dropped connection,
                not a timeout).
        """
        method, path = _parse_target(target)
        self._add(HttpFault("timeout_after_accept", method, path, times, delay=delay, drop=drop))

    def order_not_ready_next(self, n: int = 1) -> None:
        """Answer the next ``n`` ``GET /v1/order`` requests with 422 ``order_not_ready``."""
        with self._lock:
            self._order_not_ready += n

    def malformed_ws_next(self, n: int = 1) -> None:
        """Send ``n`` invalid messages to each subscriber before the next real WebSocket message.

        They cycle through: text that is not JSON, a message missing fields, a message with
        wrong field types, a JSON array instead of an object, and a binary frame that is not UTF-8.
        """
        with self._lock:
            self._malformed += n

    def drop_ws(self) -> int:
        """Abort every open WebSocket connection (no close frame); return how many."""
        dropped = self._drop_ws()
        self._record("drop_ws", "", "")
        return dropped

    def count(self, kind: FaultKind) -> int:
        """How many faults of ``kind`` have fired."""
        with self._lock:
            return sum(1 for fault in self.fired if fault.kind == kind)

    def clear(self) -> None:
        """Disarm every pending fault (the ``fired`` history stays)."""
        with self._lock:
            self._rules.clear()
            self._order_not_ready = 0
            self._malformed = 0

    # ---- used by the server ----------------------------------------------------------------

    def take_before(self, method: str, path: str) -> HttpFault | None:
        """A fail or rate-limit fault for this request, consumed and recorded."""
        return self._take(method, path, ("fail", "rate_limit"))

    def take_after_accept(self, method: str, path: str) -> HttpFault | None:
        """A timeout-after-accept fault for this request, consumed and recorded."""
        return self._take(method, path, ("timeout_after_accept",))

    def take_order_not_ready(self, method: str, path: str) -> bool:
        """Whether this ``GET /v1/order`` should answer ``order_not_ready``."""
        with self._lock:
            if self._order_not_ready <= 0:
                return False
            self._order_not_ready -= 1
        self._record("order_not_ready", method, path)
        return True

    def take_malformed(self) -> int:
        """How many invalid messages to send before the next real one (resets to 0)."""
        with self._lock:
            count, self._malformed = self._malformed, 0
        for _ in range(count):
            self._record("malformed_ws", "", "")
        return count

    def _add(self, rule: HttpFault) -> None:
        if rule.remaining < 1:
            raise ValueError("a fault must fire at least once")
        with self._lock:
            self._rules.append(rule)

    def _take(self, method: str, path: str, kinds: tuple[FaultKind, ...]) -> HttpFault | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    break
            else:
                return None
        self._record(rule.kind, method, path)
        return rule

    def _record(self, kind: FaultKind, method: str, path: str) -> None:
        with self._lock:
            self.fired.append(FiredFault(kind, method, path, time.time()))
