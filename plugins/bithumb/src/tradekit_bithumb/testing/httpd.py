"""A minimal HTTP/1.1 server on asyncio streams, just enough for the fake Bithumb REST API.

The fake needs to delay one response past a client's timeout, or drop a connection after the
request was handled, and to stop at once with nothing left open. Owning the socket code keeps
that simple: every connection is a task on one event loop, and stopping cancels the tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 1024 * 1024
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@attrs.frozen
class HttpRequest:
    """One parsed HTTP request.

    Attributes:
        method: Upper-case method.
        path: The path without the query string.
        query: The raw query string as sent, without the ``?``.
        headers: Header names in lower case.
        body: The raw body bytes.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class HttpResponse:
    """An answer to send back, or an instruction to misbehave.

    Attributes:
        status: HTTP status code.
        body: JSON-serialisable value, sent as ``application/json``.
        headers: Extra headers.
        delay: Seconds to wait before answering (to make the client time out).
        drop: Close the connection without answering.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    drop: bool = False


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpServer:
    """Serves ``handler`` on 127.0.0.1; start and stop from inside the event loop."""

    def __init__(self, handler: Handler, json_default: Callable[[Any], Any]) -> None:
        self._handler = handler
        self._json_default = json_default
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and listen; ``port`` 0 picks a free port, reported in ``self.port``."""
        self._server = await asyncio.start_server(self._on_connect, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every open connection, including delayed answers."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels these tasks; asyncio would log a cancelled connection callback.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            request = await _read_request(reader)
            if request is None:
                return
            if isinstance(request, HttpResponse):
                await self._write(writer, request, keep_alive=False)
                return
            response = await self._handler(request)
            if response.drop:
                # Close at once without a byte of answer: the client sees a dropped connection.
                writer.transport.abort()
                return
            if response.delay:
                await asyncio.sleep(response.delay)
            keep_alive = request.headers.get("connection", "").lower() != "close"
            await self._write(writer, response, keep_alive=keep_alive)
            if not keep_alive:
                return

    async def _write(
        self, writer: asyncio.StreamWriter, response: HttpResponse, *, keep_alive: bool
    ) -> None:
        payload = b""
        if response.body is not None:
            payload = json.dumps(
                response.body, default=self._json_default, ensure_ascii=False, separators=(",", ":")
            ).encode()
        reason = _REASONS.get(response.status, "Unknown")
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(payload)),
            "Connection": "keep-alive" if keep_alive else "close",
            **response.headers,
        }
        lines += [f"{key}: {value}" for key, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | HttpResponse | None:
    """Read one request; None at a clean end of stream, an HttpResponse for a bad request."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            return HttpResponse(400, _error(400, "Malformed request head"))
        return None
    if len(head) > _MAX_HEADER_BYTES:
        return HttpResponse(400, _error(400, "Request head too large"))
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return HttpResponse(400, _error(400, "Malformed request line"))
    method, target, _version = parts
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return HttpResponse(400, _error(400, "Malformed header line"))
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        # Clients send JSON bodies with a Content-Length; chunked uploads are not worth faking.
        return HttpResponse(411, _error(411, "Chunked request bodies are not supported"))
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return HttpResponse(400, _error(400, "Bad Content-Length"))
    if length > _MAX_BODY_BYTES:
        return HttpResponse(413, _error(413, "Request body too large"))
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return HttpRequest(method.upper(), path, query, headers, body)


def _error(name: int, message: str) -> dict[str, dict[str, Any]]:
    return {"error": {"name": name, "message": message}}
