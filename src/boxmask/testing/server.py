"""``FakeGemini``: a Gemini-protocol server on 127.0.0.1 for offline tests and demos.

It speaks the wire protocol of ``reference/gemini-api.md`` §7: ``POST /v1beta/interactions``
(and ``GET``/``DELETE``/``cancel``), ``POST /v1beta/models/{m}:generateContent``, the Files
API resumable upload (``/upload/v1beta/files``: start, chunked upload with offset checks,
finalize with length check, status query), ``GET``/``DELETE /v1beta/files/{id}`` and paged
``GET /v1beta/files``; authentication by ``x-goog-api-key`` or ``?key=``; Google error
bodies. Its "model" really looks at the image (see :mod:`boxmask.testing.scenes`): it
segments colored shapes and answers detection, segmentation, pointing and caption
prompts in the formats Gemini uses. Faults are injected per test with
:meth:`FakeGemini.add_fault`. Images at ``/static/{name}`` (:meth:`FakeGemini.add_static`)
stand in for public URLs.

Stdlib only (``http.server.ThreadingHTTPServer`` in a daemon thread), HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from boxmask.testing.fake_model import (
    IMAGE_MIMES,
    ModelRequest,
    RequestError,
    invalid,
    parse_generate_content,
    parse_interaction,
    respond,
    run_model,
)

__all__ = ["FakeGemini", "Fault", "RecordedRequest", "StoredFile"]

FAULT_KINDS = (
    "status",  # an HTTP error: status=, error_status=, message=, retry_after=, retry_after_ms=,
    #            retry_info= (seconds), headers=, list_wrapped=
    "slow",  # answer after delay= seconds
    "truncate",  # the model stops at its limit (MAX_TOKENS / incomplete)
    "block",  # the prompt is blocked (promptFeedback.blockReason = reason=)
    "finish_block",  # the answer is blocked (finishReason = reason=, no text)
    "malformed",  # HTTP 200 with a body that is not JSON
    "drop",  # close the connection without answering
    "cut",  # send the headers and part of the body (keep= fraction, 0.5), then close
    "lose_response",  # do the work, then close without answering (upload chunks)
    "interrupt",  # stop reading the request mid-body (keep= fraction, 0.5) and close;
    #               an upload chunk keeps the bytes that arrived (granularity multiples)
    "fail_processing",  # the next uploaded file ends FAILED after processing
)
#: Any fault also takes ``match=`` (str or bytes): it then hits only requests whose body
#: contains it, e.g. one item's prompt in a batch (not for ``interrupt``, which strikes
#: before the body is read); and ``skip=N``: the first N requests it would hit pass.
_MODEL_FAULTS = frozenset({"truncate", "block", "finish_block"})
ENDPOINTS = (
    "model",  # both model calls
    "generate_content",
    "interactions",
    "upload_start",
    "upload_chunk",
    "files",
    "static",
)


@dataclass
class Fault:
    """One injected fault: ``kind`` (see ``FAULT_KINDS``), how many requests it hits
    (``times``), which ``endpoint`` (None: any but static), and its ``params``
    (``match``: only requests whose body contains these bytes)."""

    kind: str
    times: int = 1
    endpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    passed: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it (the API key is replaced by ``has_key``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = field(repr=False)
    endpoint: str
    has_key: bool

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class StoredFile:
    """A file the fake Files API holds."""

    id: str
    display_name: str | None
    mime_type: str
    data: bytes = field(repr=False)
    created: datetime
    expires: datetime
    state: str = "ACTIVE"
    polls_left: int = 0
    fails: bool = False

    @property
    def name(self) -> str:
        return f"files/{self.id}"


@dataclass
class _Upload:
    declared: int
    mime_type: str
    display_name: str | None
    data: bytearray = field(default_factory=bytearray)
    file: StoredFile | None = None


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeGemini:
    """The fake service. Use as a context manager; ``base_url`` is its service root.

    - ``api_keys``: accepted keys (None accepts any non-empty key).
    - ``latency``: seconds added to every model call (for benchmarks).
    - ``mask_format``: ``png`` / ``polygon`` / ``tokens`` for segmentation, or None for
      the model's own (PNG on 2.x, polygons on 3.x).
    - ``strict``: reject unknown request fields with 400, as the real proto-JSON does.
    - ``max_request_bytes``: request size limit (400 beyond it).
    - ``processing_polls``: ``GET``s a new file stays ``PROCESSING``;
      ``file_ttl``: seconds until files expire; ``chunk_granularity``: upload chunk
      sizes (all but the last) must be a multiple of it.
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = ("test-key",),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        mask_format: str | None = None,
        strict: bool = True,
        max_request_bytes: int = 100 * 1000 * 1000,
        processing_polls: int = 0,
        file_ttl: float = 48 * 3600.0,
        chunk_granularity: int = 1,
        max_images: int = 3000,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("FakeGemini only listens on the loopback interface")
        self.api_keys = None if api_keys is None else set(api_keys)
        self.latency = latency
        self.mask_format = mask_format
        self.strict = strict
        self.max_request_bytes = max_request_bytes
        self.processing_polls = processing_polls
        self.file_ttl = file_ttl
        self.chunk_granularity = chunk_granularity
        self.max_images = max_images
        self._address = (host, port)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeGemini:
        """Start serving in a daemon thread (idempotent)."""
        if self._server is None:
            handler = type("Handler", (_Handler,), {"fake": self})
            self._server = _Server(self._address, handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="FakeGemini", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``Client(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget faults, recorded requests, files, uploads and interactions."""
        with self._lock:
            self.faults: list[Fault] = []
            self.requests: list[RecordedRequest] = []
            self.files: dict[str, StoredFile] = {}
            self.uploads: dict[str, _Upload] = {}
            self.interactions: dict[str, dict[str, Any]] = {}
            self.static: dict[str, tuple[bytes, str]] = {}

    # ------------------------------------------------------------ test helpers
    def add_fault(
        self, kind: str, *, times: int = 1, endpoint: str | None = None, **params: Any
    ) -> Fault:
        """Inject ``kind`` into the next ``times`` matching requests (see FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
        if isinstance(params.get("match"), str):
            params["match"] = params["match"].encode()
        if kind == "interrupt" and "match" in params:
            raise ValueError("an interrupt strikes before the body is read: no match=")
        fault = Fault(kind, times, endpoint, params)
        with self._lock:
            self.faults.append(fault)
        return fault

    def add_static(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``/static/{name}`` (no key needed); returns its URL."""
        with self._lock:
            self.static[name] = (data, content_type)
        return f"{self.base_url}/static/{name}"

    def expire_file(self, name: str) -> None:
        """Make a stored file expire now (as after 48 h)."""
        with self._lock:
            self.files[name.removeprefix("files/")].expires = datetime.now(timezone.utc)

    def model_requests(self) -> list[RecordedRequest]:
        """The recorded model calls (both APIs), oldest first."""
        return [r for r in self.requests if r.endpoint in ("generate_content", "interactions")]

    def _take_fault(self, endpoint: str, body: bytes | None) -> Fault | None:
        """The next fault for this request; ``body`` None: before the body is read (only
        ``interrupt`` faults), else after (every other kind, ``match`` checked)."""
        is_model = endpoint in ("generate_content", "interactions")
        with self._lock:
            for fault in self.faults:
                if fault.kind == "fail_processing" or (
                    fault.kind in _MODEL_FAULTS and not is_model
                ):
                    continue
                if (fault.kind == "interrupt") != (body is None):
                    continue
                match = fault.params.get("match")
                if match is not None and (body is None or match not in body):
                    continue
                wanted = fault.endpoint
                matches = (
                    (wanted is None and endpoint != "static")
                    or wanted == endpoint
                    or (wanted == "model" and endpoint in ("generate_content", "interactions"))
                )
                if matches and fault.hits < fault.times:
                    if fault.passed < int(fault.params.get("skip", 0)):
                        fault.passed += 1
                        continue
                    fault.hits += 1
                    return fault
        return None

    # ------------------------------------------------------------ files
    def file_json(self, f: StoredFile) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": f.name,
            "mimeType": f.mime_type,
            "sizeBytes": str(len(f.data)),
            "createTime": _stamp(f.created),
            "updateTime": _stamp(f.created),
            "expirationTime": _stamp(f.expires),
            "sha256Hash": base64.b64encode(hashlib.sha256(f.data).digest()).decode(),
            "uri": f"{self.base_url}/v1beta/{f.name}",
            "state": f.state,
            "source": "UPLOADED",
        }
        if f.display_name:
            data["displayName"] = f.display_name
        if f.state == "FAILED":
            data["error"] = {"code": 400, "message": "File processing failed."}
        return data

    def live_file(self, file_id: str) -> StoredFile:
        with self._lock:
            f = self.files.get(file_id)
            if f is None or f.expires <= datetime.now(timezone.utc):
                raise RequestError(
                    403,
                    f"You do not have permission to access the File {file_id} or it may not exist.",
                    "PERMISSION_DENIED",
                )
            return f

    def new_file(self, upload: _Upload, fails: bool) -> StoredFile:
        now = datetime.now(timezone.utc)
        polls = self.processing_polls or (1 if fails else 0)
        f = StoredFile(
            id=secrets.token_hex(6),
            display_name=upload.display_name,
            mime_type=upload.mime_type,
            data=bytes(upload.data),
            created=now,
            expires=now + timedelta(seconds=self.file_ttl),
            state="PROCESSING" if polls else "ACTIVE",
            polls_left=polls,
            fails=fails,
        )
        with self._lock:
            self.files[f.id] = f
        return f

    def resolve_image(self, uri: str) -> tuple[bytes, str]:
        """Bytes and MIME type behind an image URI (a file of ours, or a static URL)."""
        path = urlsplit(uri).path if "://" in uri else "/v1beta/" + uri
        if path.startswith("/v1beta/files/"):
            f = self.live_file(path.rsplit("/", 1)[-1])
            if f.state != "ACTIVE":
                raise RequestError(
                    400,
                    f"The File {f.id} is not in an ACTIVE state and usage is not allowed.",
                    "FAILED_PRECONDITION",
                )
            return f.data, f.mime_type
        if path.startswith("/static/") and uri.startswith(self.base_url):
            entry = self.static.get(path.removeprefix("/static/"))
            if entry is not None:
                return entry
        raise RequestError(
            400, f"Cannot fetch content from the provided URL: {uri}", "INVALID_ARGUMENT"
        )


# ------------------------------------------------------------------------ HTTP
class _Server(ThreadingHTTPServer):
    """The stdlib server with a longer accept queue: with the default 5, a burst of
    concurrent clients lost SYNs and waited a 1 s retransmit (ConnectTimeout)."""

    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    """Routes one request at a time (one thread per connection, keep-alive)."""

    fake: FakeGemini
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

    # ------------------------------------------------------------ plumbing
    def _endpoint(self, method: str, path: str) -> str:
        if path.startswith("/static/"):
            return "static"
        if path.startswith("/upload/"):
            return "upload_start" if "upload_id" not in self._query else "upload_chunk"
        if path.startswith("/v1beta/interactions"):
            return (
                "interactions" if method == "POST" and path == "/v1beta/interactions" else "files"
            )
        if ":generateContent" in path:
            return "generate_content"
        return "files"

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path
        self._query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        endpoint = self._endpoint(method, path)
        interrupt = fake._take_fault(endpoint, None)
        if interrupt is not None:  # read part of the body only
            length = int(length * float(interrupt.params.get("keep", 0.5)))
        body = self.rfile.read(length) if length else b""
        key = self.headers.get("x-goog-api-key") or self._query.get("key")
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "x-goog-api-key"}
        query = {k: v for k, v in self._query.items() if k != "key"}
        with fake._lock:
            fake.requests.append(
                RecordedRequest(method, path, query, headers, body, endpoint, bool(key))
            )
        if interrupt is not None:
            if endpoint == "upload_chunk":
                self._keep_partial_chunk(body)
            self.close_connection = True
            return
        fault = fake._take_fault(endpoint, body)
        kind = fault.kind if fault else None
        if endpoint in ("generate_content", "interactions") and fake.latency > 0:
            time.sleep(fake.latency)
        try:
            if kind == "slow":
                time.sleep(float(fault.params.get("delay", 1.0)))  # type: ignore[union-attr]
            if kind == "drop":
                self.close_connection = True
                return
            if kind == "status":
                raise self._fault_error(fault)  # type: ignore[arg-type]
            if endpoint != "static":
                self._authenticate(key)
            if len(body) > fake.max_request_bytes:
                raise invalid(
                    f"Request payload size exceeds the limit: {fake.max_request_bytes} bytes."
                )
            status, out_headers, payload = self._route(method, path, endpoint, body, kind)
        except RequestError as exc:
            out_headers = dict(exc.headers)
            status, payload = exc.status, exc.body()
            if fault is not None and fault.params.get("list_wrapped"):
                payload = [payload]
        if kind == "lose_response":
            self.close_connection = True
            return
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if kind == "malformed":
            raw = raw[: max(1, len(raw) // 2)] + b"<<not json"
        cut = None
        if kind == "cut":
            cut = int(len(raw) * float(fault.params.get("keep", 0.5)))  # type: ignore[union-attr]
        self._send(status, out_headers, raw, cut=cut)

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

    def _fault_error(self, fault: Fault) -> RequestError:
        p = fault.params
        status = int(p.get("status", 429))
        names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
                 400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED", 401: "UNAUTHENTICATED"}  # fmt: skip
        headers = dict(p.get("headers", {}))
        if "retry_after" in p:
            headers["Retry-After"] = str(p["retry_after"])
        if "retry_after_ms" in p:
            headers["retry-after-ms"] = str(p["retry_after_ms"])
        details = []
        if "retry_info" in p:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{p['retry_info']}s",
                }
            )
        message = p.get("message") or {
            429: "You exceeded your current quota, please check your plan and billing details.",
            503: "The model is overloaded. Please try again later.",
        }.get(status, "Injected fault.")
        return RequestError(
            status, str(message), str(p.get("error_status", names.get(status, "UNKNOWN"))),
            details=details, headers=headers,
        )  # fmt: skip

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

    # ------------------------------------------------------------ routes
    def _route(
        self, method: str, path: str, endpoint: str, body: bytes, fault: str | None
    ) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        if endpoint == "static":
            entry = fake.static.get(path.removeprefix("/static/"))
            if entry is None or method != "GET":
                raise RequestError(404, "Not found", "NOT_FOUND")
            return 200, {"Content-Type": entry[1]}, entry[0]
        if endpoint in ("generate_content", "interactions"):
            return self._model(path, endpoint, body, fault)
        if endpoint == "upload_start":
            return self._upload_start(body)
        if endpoint == "upload_chunk":
            return self._upload_chunk(body, fault)
        if path.startswith("/v1beta/interactions/"):
            return self._interaction(method, path)
        if path == "/v1beta/files" and method == "GET":
            return self._list_files()
        if path.startswith("/v1beta/files/"):
            return self._file(method, path.removeprefix("/v1beta/files/"))
        raise RequestError(404, f"Method not found: {method} {path}", "NOT_FOUND")

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise invalid("Invalid JSON payload received.") from None

    def _model(
        self, path: str, endpoint: str, body: bytes, fault: str | None
    ) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        data = self._json(body)
        if endpoint == "generate_content":
            model = path.removeprefix("/v1beta/models/").split(":", 1)[0]
            req: ModelRequest = parse_generate_content(data, model, fake.resolve_image, fake.strict)
        else:
            req = parse_interaction(data, fake.resolve_image, fake.strict)
        if not req.model.removeprefix("models/").startswith("gemini-"):
            raise RequestError(
                404, f"models/{req.model} is not found for API version v1beta.", "NOT_FOUND"
            )
        if len(req.images) > fake.max_images:
            raise invalid(f"Too many images: {len(req.images)} > {fake.max_images}.")
        reply = run_model(req, mask_format=fake.mask_format, fault=fault)
        response = respond(req, reply)
        if endpoint == "interactions" and req.store:
            with fake._lock:
                fake.interactions[response["id"]] = {**response, "_input": req.echo}
        return 200, {}, response

    def _interaction(self, method: str, path: str) -> tuple[int, dict[str, str], Any]:
        rest = path.removeprefix("/v1beta/interactions/")
        interaction_id, _, action = rest.partition("/")
        with self.fake._lock:
            stored = self.fake.interactions.get(interaction_id)
            if stored is None:
                raise RequestError(404, f"Interaction {interaction_id} not found.", "NOT_FOUND")
            if method == "DELETE":
                del self.fake.interactions[interaction_id]
                return 200, {}, {}
            if action == "cancel" and method == "POST":
                stored["status"] = (
                    "cancelled" if stored["status"] == "in_progress" else stored["status"]
                )
        public = {k: v for k, v in stored.items() if k != "_input"}
        if self._query.get("include_input") == "true":
            user = {"type": "user_input", "content": stored["_input"]}
            public["steps"] = [user, *public["steps"]]
        return 200, {}, public

    # ------------------------------------------------------------ files
    def _upload_start(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        h = self.headers
        if (h.get("X-Goog-Upload-Protocol") or "").lower() != "resumable" or (
            h.get("X-Goog-Upload-Command") or ""
        ).lower() != "start":
            raise invalid("Only the resumable upload protocol (command start) is supported.")
        declared = h.get("X-Goog-Upload-Header-Content-Length")
        if declared is None or not declared.isdigit():
            raise invalid("X-Goog-Upload-Header-Content-Length is required.")
        meta = self._json(body) if body else {}
        file_meta = meta.get("file", {}) if isinstance(meta, dict) else {}
        upload = _Upload(
            int(declared),
            h.get("X-Goog-Upload-Header-Content-Type") or file_meta.get("mime_type") or "",
            file_meta.get("display_name") or file_meta.get("displayName"),
        )
        upload_id = secrets.token_urlsafe(12)
        with self.fake._lock:
            self.fake.uploads[upload_id] = upload
        url = f"{self.fake.base_url}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
        return (
            200,
            {
                "X-Goog-Upload-URL": url,
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-Chunk-Granularity": str(self.fake.chunk_granularity),
            },
            b"",
        )

    def _upload_chunk(self, body: bytes, fault: str | None) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        upload = fake.uploads.get(self._query["upload_id"])
        if upload is None:
            raise RequestError(404, "No such upload session.", "NOT_FOUND")
        command = {
            c.strip() for c in (self.headers.get("X-Goog-Upload-Command") or "").lower().split(",")
        }
        if "query" in command:
            headers = {"X-Goog-Upload-Size-Received": str(len(upload.data))}
            if upload.file is not None:
                headers["X-Goog-Upload-Status"] = "final"
                return 200, headers, {"file": fake.file_json(upload.file)}
            headers["X-Goog-Upload-Status"] = "active"
            return 200, headers, b""
        if upload.file is not None:
            raise RequestError(400, "The upload is already finalized.", "FAILED_PRECONDITION",
                               headers={"X-Goog-Upload-Status": "final"})  # fmt: skip
        offset = self.headers.get("X-Goog-Upload-Offset")
        if offset is None or not offset.isdigit() or int(offset) != len(upload.data):
            raise RequestError(
                400,
                f"Invalid X-Goog-Upload-Offset {offset}: expected {len(upload.data)}.",
                "INVALID_ARGUMENT",
                headers={"X-Goog-Upload-Status": "active"},
            )
        finalize = "finalize" in command
        if not finalize and len(body) % max(1, fake.chunk_granularity):
            raise invalid(f"Chunk size {len(body)} is not a multiple of {fake.chunk_granularity}.")
        upload.data.extend(body)
        if not finalize:
            return 200, {"X-Goog-Upload-Status": "active"}, b""
        if len(upload.data) != upload.declared:
            raise RequestError(
                400,
                f"Upload length {len(upload.data)} differs from the declared {upload.declared}.",
                "INVALID_ARGUMENT",
                headers={"X-Goog-Upload-Status": "final"},
            )
        if upload.mime_type.lower() not in IMAGE_MIMES and not upload.mime_type.startswith(
            ("video/", "audio/", "text/", "application/pdf")
        ):
            raise RequestError(400, f"Unsupported MIME type: {upload.mime_type}", "INVALID_ARGUMENT",
                               headers={"X-Goog-Upload-Status": "final"})  # fmt: skip
        with fake._lock:
            pending = [f for f in fake.faults if f.kind == "fail_processing" and f.hits < f.times]
            if pending:
                pending[0].hits += 1
        upload.file = fake.new_file(upload, fails=bool(pending))
        return 200, {"X-Goog-Upload-Status": "final"}, {"file": fake.file_json(upload.file)}

    def _keep_partial_chunk(self, body: bytes) -> None:
        """An upload chunk cut mid-way: keep what arrived, as whole granularity units
        (the resumable protocol's status query then reports it)."""
        fake = self.fake
        upload = fake.uploads.get(self._query.get("upload_id", ""))
        offset = self.headers.get("X-Goog-Upload-Offset")
        if upload is None or upload.file is not None or offset != str(len(upload.data)):
            return
        unit = max(1, fake.chunk_granularity)
        upload.data.extend(body[: len(body) - len(body) % unit])

    def _file(self, method: str, file_id: str) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        f = fake.live_file(file_id)
        if method == "DELETE":
            with fake._lock:
                fake.files.pop(file_id, None)
            return 200, {}, {}
        with fake._lock:
            if f.state == "PROCESSING":
                f.polls_left -= 1
                if f.polls_left <= 0:
                    f.state = "FAILED" if f.fails else "ACTIVE"
        return 200, {}, fake.file_json(f)

    def _list_files(self) -> tuple[int, dict[str, str], Any]:
        fake = self.fake
        size = int(self._query.get("pageSize") or 10)
        size = max(1, min(size, 100))
        token = self._query.get("pageToken")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        now = datetime.now(timezone.utc)
        with fake._lock:
            live = sorted(
                (f for f in fake.files.values() if f.expires > now),
                key=lambda f: (f.created, f.id),
                reverse=True,
            )
        page = live[start : start + size]
        out: dict[str, Any] = {"files": [fake.file_json(f) for f in page]}
        if start + size < len(live):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return 200, {}, out
