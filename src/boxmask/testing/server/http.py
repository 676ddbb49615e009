"""The HTTP side: read a request within the size limit, authenticate, inject faults, route,
and write the answer (JSON, raw bytes or a Server-Sent-Events stream).

Every request gets an answer or a deliberate fault: a bad, negative or conflicting
``Content-Length`` is a 400, a body over ``max_request_bytes`` is refused before it is read
(the connection is then drained and closed), a body nesting too deep is a 400, and a bug in
a handler is a 500 ``INTERNAL`` error body, never a dropped connection.
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from boxmask.testing.server.errors import RequestError, invalid, not_found
from boxmask.testing.server.exchange import Call, Reply
from boxmask.testing.server.faults import MODEL_ENDPOINTS, Fault, fault_error
from boxmask.testing.server.files import keep_partial_chunk
from boxmask.testing.server.records import RecordedRequest
from boxmask.testing.server.routes import Route, find_route
from boxmask.testing.server.state import ServiceState

__all__ = ["Handler", "Server"]

_NO_KEY_ENDPOINTS = frozenset({"static", "upload_chunk"})  # the upload URL authorizes itself
_DRAIN_LIMIT = 64 * 1024 * 1024  # bytes of a refused body read and dropped before closing


class Server(ThreadingHTTPServer):
    """The stdlib server with a longer accept queue: with the default 5, a burst of
    concurrent clients lost SYNs and waited a 1 s retransmit (ConnectTimeout)."""

    request_queue_size = 256


class _Refused(Exception):
    """The body cannot be read: answer ``error`` and close the connection."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


class Handler(BaseHTTPRequestHandler):
    """Routes one request at a time (one thread per connection, keep-alive)."""

    fake: ServiceState
    protocol_version = "HTTP/1.1"
    server_version = "FakeGemini/1.0"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # ------------------------------------------------------------ reading
    def _declared_length(self) -> int | None:
        """The ``Content-Length`` (None: a chunked body). Raises :class:`_Refused`."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return None
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if len(values) > 1:
            raise _Refused(invalid("Conflicting Content-Length headers."))
        value = values.pop() if values else "0"
        if not value.isdigit():
            raise _Refused(invalid(f"Invalid Content-Length: {value[:40]!r}."))
        return int(value)

    def _too_large(self) -> _Refused:
        limit = self.fake.max_request_bytes
        return _Refused(invalid(f"Request payload size exceeds the limit: {limit} bytes."))

    def _read_chunked(self) -> bytes:
        """A chunked body, refused as soon as it passes the size limit."""
        out = bytearray()
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _Refused(invalid("Malformed chunked request body.")) from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(out)
            if size < 0 or len(out) + size > self.fake.max_request_bytes:
                raise self._too_large()
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def _read_body(self, interrupt: Fault | None) -> bytes:
        length = self._declared_length()
        if length is None:
            return self._read_chunked()
        if length > self.fake.max_request_bytes:
            raise self._too_large()
        if interrupt is not None:  # read part of the body only
            length = int(length * float(interrupt.params.get("keep", 0.5)))
        return self.rfile.read(length) if length else b""

    # ------------------------------------------------------------ handling
    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        self._query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = find_route(method, parts.path, self._query)
        interrupt = fake.fault_book.take(route.endpoint, None)
        try:
            body = self._read_body(interrupt)
        except _Refused as refused:
            self._record(method, parts.path, route.endpoint, b"")
            headers = {**refused.error.headers, "Connection": "close"}
            self._send_json(refused.error.status, headers, refused.error.body())
            self._drain_and_close()
            return
        self._record(method, parts.path, route.endpoint, body)
        if interrupt is not None:
            if route.endpoint == "upload_chunk":
                keep_partial_chunk(fake, self._query, self.headers, body)
            self.close_connection = True
            return
        fault = fake.fault_book.take(route.endpoint, body)
        self._answer(method, parts.path, route, body, fault)

    def _record(self, method: str, path: str, endpoint: str, body: bytes) -> None:
        key = self.headers.get("x-goog-api-key") or self._query.get("key")
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "x-goog-api-key"}
        query = {k: v for k, v in self._query.items() if k != "key"}
        record = RecordedRequest(method, path, query, headers, body, endpoint, bool(key))
        with self.fake._lock:
            self.fake.requests.append(record)

    def _answer(
        self, method: str, path: str, route: Route, body: bytes, fault: Fault | None
    ) -> None:
        kind = fault.kind if fault else None
        if route.endpoint in MODEL_ENDPOINTS and self.fake.latency > 0:
            time.sleep(self.fake.latency)
        try:
            if kind == "slow":
                time.sleep(float(fault.params.get("delay", 1.0)))  # type: ignore[union-attr]
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "status":
                raise fault_error(fault)  # type: ignore[arg-type]
            if route.endpoint not in _NO_KEY_ENDPOINTS:
                self._authenticate(self.headers.get("x-goog-api-key") or self._query.get("key"))
            reply = self._route(method, path, route, body, kind)
        except RequestError as exc:
            payload: Any = exc.body()
            if fault is not None and fault.params.get("list_wrapped"):
                payload = [payload]
            reply = Reply(exc.status, payload, dict(exc.headers))
        except Exception as exc:  # a bug in the fake: still a well-formed answer
            error = RequestError(500, f"Internal error in the fake server: {exc!r}"[:300])
            reply = Reply(500, error.body())
        if kind == "lose_response":
            self.close_connection = True
            return
        if reply.events is not None:
            self._send_events(reply, fault)
            return
        payload = reply.payload
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if kind == "malformed":
            raw = raw[: max(1, len(raw) // 2)] + b"<<not json"
        cut = None
        if kind == "cut":
            cut = int(len(raw) * float(fault.params.get("keep", 0.5)))  # type: ignore[union-attr]
        self._send(reply.status, reply.headers, raw, cut=cut)

    def _route(self, method: str, path: str, route: Route, body: bytes, fault: str | None) -> Reply:
        if route.handler is None:
            raise not_found(f"Method not found: {method} {path}")
        call = Call(
            self.fake, method, path, route.version, route.parts, self._query, self.headers,
            body, fault,
        )  # fmt: skip
        return route.handler(call)

    def _authenticate(self, key: str | None) -> None:
        accepted = self.fake.api_keys
        if not key:
            raise RequestError(
                401,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
                "UNAUTHENTICATED",
            )
        if accepted is not None and key not in accepted:
            raise RequestError(
                400,
                "API key not valid. Please pass a valid API key.",
                "INVALID_ARGUMENT",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )

    # ------------------------------------------------------------ writing
    def _send_json(self, status: int, headers: dict[str, str], payload: Any) -> None:
        self._send(status, headers, json.dumps(payload).encode())

    def _send(
        self, status: int, headers: dict[str, str], raw: bytes, *, cut: int | None = None
    ) -> None:
        try:
            self.send_response(status)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if cut is not None:
                self.wfile.write(raw[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _send_events(self, reply: Reply, fault: Fault | None) -> None:
        """Stream ``reply.events`` as SSE in HTTP/1.1 chunks (a ``cut`` fault stops after
        ``keep`` of them and closes the connection mid-stream)."""
        events = list(reply.events or [])
        stop = len(events)
        if fault is not None and fault.kind == "cut":
            stop = int(len(events) * float(fault.params.get("keep", 0.5)))
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for event in events[:stop]:
                name = f"event: {event['event_type']}\n" if reply.sse_event_names else ""
                self._write_chunk(f"{name}data: {json.dumps(event)}\r\n\r\n".encode())
            if stop < len(events):
                self.close_connection = True
                return
            if reply.sse_done:
                self._write_chunk(b"data: [DONE]\r\n\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drain_and_close(self) -> None:
        """After refusing a body: read (and drop) what the client still sends, so that it
        reads the answer instead of a connection reset, then close."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(2.0)
            drained = 0
            while drained < _DRAIN_LIMIT:
                data = self.rfile.read1(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
