"""The fake service's options and state (files, uploads, interactions, batches, faults,
recorded requests) and the helpers every endpoint shares."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from boxmask.testing.server.errors import RequestError
from boxmask.testing.server.faults import Fault, FaultBook
from boxmask.testing.server.records import BatchJob, RecordedRequest, StoredFile, Upload, stamp

__all__ = ["ServiceState"]

_FILE_PATHS = ("/v1beta/files/", "/v1/files/")


class ServiceState:
    """The fake service's options and state; :class:`FakeGemini` serves it over HTTP.

    - ``api_keys``: accepted keys (None accepts any non-empty key).
    - ``latency``: seconds added to every model call (for benchmarks).
    - ``mask_format``: ``png`` / ``polygon`` / ``tokens`` for segmentation, or None for
      the model's own (PNG on 2.x, polygons on 3.x).
    - ``strict``: reject unknown request fields with 400, as the real proto-JSON does.
    - ``max_request_bytes``: request size limit (400 beyond it, checked before reading).
    - ``processing_polls``: ``GET``s a new file stays ``PROCESSING``;
      ``file_ttl``: seconds until files expire; ``chunk_granularity``: upload chunk
      sizes (all but the last) must be a multiple of it.
    - ``batch_polls``: the ``GET`` of a batch job that finds it run and succeeded (default
      1: the first; earlier ones say ``RUNNING``; the create answer says ``PENDING``, as
      the service's). 0: jobs run at create, whose answer is already done.
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
        batch_polls: int = 1,
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
        self.batch_polls = batch_polls
        self._address = (host, port)
        self._lock = threading.Lock()
        #: Serializes batch jobs' state changes (a job runs once however many polls race).
        self.batch_lock = threading.Lock()
        self.reset()

    @property
    def base_url(self) -> str:
        """The service root, ``http://127.0.0.1:PORT`` (set by the running server)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget faults, recorded requests, files, uploads, interactions and batches."""
        with self._lock:
            self.fault_book = FaultBook(self._lock)
            self.requests: list[RecordedRequest] = []
            self.files: dict[str, StoredFile] = {}
            self.uploads: dict[str, Upload] = {}
            self.interactions: dict[str, dict[str, Any]] = {}
            self.static: dict[str, tuple[bytes, str]] = {}
            self.batches: dict[str, BatchJob] = {}

    # ------------------------------------------------------------ test helpers
    @property
    def faults(self) -> list[Fault]:
        """The injected faults, oldest first (``hits`` counts the requests each struck)."""
        return self.fault_book.faults

    def add_fault(
        self, kind: str, *, times: int = 1, endpoint: str | None = None, **params: Any
    ) -> Fault:
        """Inject ``kind`` into the next ``times`` matching requests (see FAULT_KINDS)."""
        return self.fault_book.add(kind, times, endpoint, params)

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
        """The recorded model calls (both APIs, streamed or not), oldest first."""
        return [r for r in self.requests if r.endpoint in ("generate_content", "interactions")]

    # ------------------------------------------------------------ files
    def file_json(self, f: StoredFile) -> dict[str, Any]:
        """The File resource of ``f``."""
        data: dict[str, Any] = {
            "name": f.name,
            "mimeType": f.mime_type,
            "sizeBytes": str(len(f.data)),
            "createTime": stamp(f.created),
            "updateTime": stamp(f.created),
            "expirationTime": stamp(f.expires),
            "sha256Hash": base64.b64encode(hashlib.sha256(f.data).digest()).decode(),
            "uri": f"{self.base_url}/v1beta/{f.name}",
            "state": f.state,
            "source": f.source,
        }
        if f.source == "GENERATED":
            data["downloadUri"] = f"{self.base_url}/download/v1beta/{f.name}:download?alt=media"
        if f.display_name:
            data["displayName"] = f.display_name
        if f.state == "FAILED":
            data["error"] = {"code": 400, "message": "File processing failed."}
        return data

    def live_file(self, file_id: str) -> StoredFile:
        """The unexpired file ``file_id`` (403 otherwise, as the service answers)."""
        with self._lock:
            f = self.files.get(file_id)
            if f is None or f.expires <= datetime.now(timezone.utc):
                raise RequestError(
                    403,
                    f"You do not have permission to access the File {file_id} or it may not exist.",
                    "PERMISSION_DENIED",
                )
            return f

    def new_file(
        self,
        data: bytes,
        mime_type: str,
        display_name: str | None,
        *,
        fails: bool = False,
        source: str = "UPLOADED",
    ) -> StoredFile:
        """Store a new file (``PROCESSING`` for ``processing_polls`` GETs)."""
        now = datetime.now(timezone.utc)
        polls = self.processing_polls or (1 if fails else 0)
        f = StoredFile(
            id=secrets.token_hex(6),
            display_name=display_name,
            mime_type=mime_type,
            data=data,
            created=now,
            expires=now + timedelta(seconds=self.file_ttl),
            state="PROCESSING" if polls and source == "UPLOADED" else "ACTIVE",
            polls_left=polls,
            fails=fails,
            source=source,
        )
        with self._lock:
            self.files[f.id] = f
        return f

    def resolve_image(self, uri: str) -> tuple[bytes, str]:
        """Bytes and MIME type behind an image URI (a file of ours, or a static URL)."""
        path = urlsplit(uri).path if "://" in uri else "/v1beta/" + uri
        if path.startswith(_FILE_PATHS):
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
