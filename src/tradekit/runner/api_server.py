"""Serving the control API: uvicorn on a socket the runner binds, without its signal handlers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import anyio
import uvicorn
from anyio.abc import TaskStatus
from litestar import Litestar
from loguru import logger

from tradekit.runner.http_timeout import header_timeout_protocol

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the runner owns SIGINT/SIGTERM)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_done.set()


async def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(exc.errno, f"control API: cannot resolve {host!r}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"control API: cannot listen on {host}:{port}: {exc.strerror}"
        ) from exc
    return sock


async def serve(
    app: Litestar,
    host: str,
    port: int,
    *,
    graceful_timeout: int = 5,
    header_timeout: float = 10.0,
    keep_alive_timeout: int = 5,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with uvicorn until cancelled (asyncio only).

    Start it in a task group beside the trading loop; ``await tg.start(serve, app, host, port)``
    returns the bound port once it accepts connections (useful with ``port=0``). Cancelling
    the task shuts the server down gracefully: it stops listening, lets running requests
    finish (at most ``graceful_timeout`` seconds) and runs the app's shutdown.

    Logging goes through tradekit's loguru setup (uvicorn's loggers are routed there); access
    lines are not logged, mutating requests are logged by the app.

    Slow or stalled clients are dropped: a connection must complete each request's head
    (request line and headers, at most 16 KiB) within ``header_timeout`` seconds of opening or
    of its previous response, and an idle keep-alive connection is closed after
    ``keep_alive_timeout`` seconds.

    Raises:
        OSError: the address cannot be resolved or bound (e.g. the port is in use).
        RuntimeError: the server failed to start (the reason is logged).
    """
    sock = await _bind(host, port)
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        http=header_timeout_protocol(header_timeout),
        # h11's own default, stated: a request head larger than this is answered 400.
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=keep_alive_timeout,
        ws="none",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_timeout,
    )
    server = _Server(config)
    finished = anyio.Event()
    errors: list[BaseException] = []
    shown = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"

    async def run() -> None:
        # Shielded so that a cancelled caller still gets a clean shutdown: the caller sets
        # should_exit and this task closes the sockets and runs the lifespan shutdown.
        with anyio.CancelScope(shield=True):
            try:
                await server.serve(sockets=[sock])
            except SystemExit:
                # uvicorn exits the process when the app's startup fails; here that must only
                # stop this server, never the trading loop beside it.
                pass
            except Exception as exc:
                errors.append(exc)  # raised below, outside the task group (no ExceptionGroup)
            finally:
                sock.close()
                server.startup_done.set()
                finished.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            try:
                await server.startup_done.wait()
                if server.started:
                    logger.info("control API listening on http://{}", shown)
                    task_status.started(bound_port)
                    await finished.wait()
                    if not errors:
                        logger.warning("control API on {} stopped", shown)
            finally:
                server.should_exit = True
    finally:
        sock.close()
    if errors:
        raise errors[0]
    if not server.started:
        raise RuntimeError(f"control API on {shown} failed to start; see the log")
