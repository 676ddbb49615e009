"""A tiny scripted HTTP server on 127.0.0.1 (ephemeral port) for client tests.

Each test sets ``stub.handler``: a function of the request handler that writes whatever
reply the test needs (a hostile one too: trickled bytes, a huge body, a redirect).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[["StubHandler"], None]


class StubHandler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        try:
            self.server.handler(self)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: expected
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _any

    def reply_json(self, value: Any, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.handler: Handler = lambda h: h.reply_json({})
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.stop = threading.Event()  # set when the test ends: trickling handlers quit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def generate_content_answer(text: str) -> dict[str, Any]:
    """A generateContent response whose answer text is ``text``."""
    return {
        "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        "modelVersion": "stub",
    }


def serve() -> Iterator[StubServer]:
    """Run a stub server for the duration of a fixture."""
    server = StubServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
