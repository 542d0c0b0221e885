"""A local stand-in for Slack's incoming webhooks: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """A local stand-in for Slack's incoming webhooks, with scripted answers."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each request
        self.answers: list[tuple[int, dict[str, str]]] = []  # status, headers; then 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.received.append(json.loads(self.rfile.read(length)))
                server.arrived.append(time.monotonic())
                status, headers = server.answers.pop(0) if server.answers else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
