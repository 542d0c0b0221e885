"""uvicorn's h11 protocol with a deadline for receiving a request's head.

uvicorn times out idle keep-alive connections only after a response, and any byte received
cancels even that timer; a client that connects and sends nothing, or half a request line,
holds its connection (and a file descriptor) for ever. A few hundred of those exhaust the
control API, so every connection here must complete its request head (request line and
headers) within ``header_timeout`` seconds of connecting or of its previous response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

__all__ = ["header_timeout_protocol"]

# Sent only to a client that began a request it did not finish; an idle one is just closed,
# as uvicorn closes idle keep-alive connections.
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)


def header_timeout_protocol(header_timeout: float) -> type[H11Protocol]:
    """An :class:`~uvicorn.protocols.http.h11_impl.H11Protocol` that closes slow clients.

    Pass it as ``uvicorn.Config(http=...)``. A connection whose request head is not complete
    ``header_timeout`` seconds after it opened, or after its previous response, is closed; if
    it had sent part of a request it first gets ``408 Request Timeout``. A request whose head
    arrived is never cut: the app's own time is not limited here.

    Raises:
        ValueError: ``header_timeout`` is not positive.
    """
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be > 0, got {header_timeout!r}")
    reason = f"request head not received within {header_timeout:g} s\n".encode()
    timeout_response = _TIMEOUT_RESPONSE % (len(reason), reason)

    class HeaderTimeoutH11Protocol(H11Protocol):
        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._head_deadline: asyncio.TimerHandle | None = None
            self._head_started = False  # bytes of the next request have arrived

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._waiting_for_head():
                self._head_started = True
            super().data_received(data)
            # A request whose head is complete is being served: its time is the app's.
            if not self._waiting_for_head():
                self._disarm_head_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A pipelined request may already be in flight; otherwise the next one must come
            # in time (uvicorn's keep-alive timer alone is cancelled by any byte received).
            if self._waiting_for_head():
                self._arm_head_deadline()

        def _waiting_for_head(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm_head_deadline(self) -> None:
            self._disarm_head_deadline()
            self._head_started = False
            if self.transport.is_closing():
                return  # e.g. the response said "connection: close"
            self._head_deadline = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timed_out(self) -> None:
            self._head_deadline = None
            if self.transport.is_closing() or not self._waiting_for_head():
                return
            if self._head_started and self.conn.their_state is h11.IDLE:
                self.transport.write(timeout_response)
            self.transport.close()

    return HeaderTimeoutH11Protocol
