"""The Files API: resumable upload, get, list (paged), delete (reference §3).

Upload protocol: ``POST /upload/v1beta/files`` with ``X-Goog-Upload-Command: start`` gives
a session URL (``X-Goog-Upload-URL``); the bytes follow in chunks (8 MiB by default) with
``X-Goog-Upload-Offset`` and ``upload`` / ``upload, finalize`` commands; each chunk answer
says ``X-Goog-Upload-Status: active``, the last ``final`` with ``{"file": {...}}``. When a
chunk fails in transit the client asks the session where it stands
(``X-Goog-Upload-Command: query`` → ``X-Goog-Upload-Size-Received``) and resumes from
there. A file still ``PROCESSING`` is polled until ``ACTIVE``; ``FAILED`` raises
:class:`~boxmask.errors.UploadError`.
"""

from __future__ import annotations

import json
import mmap
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from boxmask.api.defaults import CHUNK_SIZE
from boxmask.api.http import Session, call, error_for_reply, log, redirect_error
from boxmask.api.transport import Flow, HttpCall, HttpReply, Sleep, TransportFailure
from boxmask.api.wire import parse_error_body
from boxmask.errors import UploadError

__all__ = [
    "CHUNK_SIZE",
    "File",
    "delete_flow",
    "file_name",
    "get_flow",
    "list_page_flow",
    "upload_flow",
    "wait_active_flow",
]
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")
_NAME = re.compile(r"(?:^|/)files/([a-z0-9-]{1,40})(?:$|[/?:])")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    stamp = datetime.fromisoformat(f"{base}.{micro}")
    if zone in (None, "Z"):
        return stamp.replace(tzinfo=timezone.utc)
    sign = 1 if zone[0] == "+" else -1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
    return stamp.replace(tzinfo=timezone(offset))


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_name(name_or_uri: str) -> str:
    """``files/abc`` from ``abc``, ``files/abc`` or ``https://…/v1beta/files/abc``."""
    text = name_or_uri.strip()
    match = _NAME.search(text)
    if match:
        return f"files/{match.group(1)}"
    if re.fullmatch(r"[a-z0-9-]{1,40}", text):
        return f"files/{text}"
    raise ValueError(f"not a Files API name or URI: {name_or_uri!r}")


@dataclass(frozen=True)
class File:
    """A Files API file. ``size_bytes`` in bytes; times are timezone-aware UTC datetimes.

    ``state`` is ``PROCESSING``, ``ACTIVE`` or ``FAILED``; ``error`` holds the service's
    message for a failed file.
    """

    name: str
    uri: str
    mime_type: str | None = None
    size_bytes: int | None = None
    state: str = "STATE_UNSPECIFIED"
    display_name: str | None = None
    create_time: datetime | None = None
    expiration_time: datetime | None = None
    sha256_hash: str | None = None
    error: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> File:
        """From a File resource (camelCase or snake_case keys; int64 as string or int)."""

        def pick(*keys: str) -> Any:
            for key in keys:
                if key in data:
                    return data[key]
            return None

        size = pick("sizeBytes", "size_bytes")
        error = pick("error")
        return cls(
            name=str(data["name"]),
            uri=str(pick("uri") or ""),
            mime_type=pick("mimeType", "mime_type"),
            size_bytes=int(size) if size is not None else None,
            state=str(pick("state") or "STATE_UNSPECIFIED"),
            display_name=pick("displayName", "display_name"),
            create_time=_time(pick("createTime", "create_time")),
            expiration_time=_time(pick("expirationTime", "expiration_time")),
            sha256_hash=pick("sha256Hash", "sha256_hash"),
            error=str(error.get("message", error)) if isinstance(error, dict) else error,
        )

    def to_api(self) -> dict[str, Any]:
        """The File resource as the API writes it (camelCase), for caches."""
        data: dict[str, Any] = {
            "name": self.name,
            "uri": self.uri,
            "mimeType": self.mime_type,
            "sizeBytes": None if self.size_bytes is None else str(self.size_bytes),
            "state": self.state,
            "displayName": self.display_name,
            "createTime": _stamp(self.create_time),
            "expirationTime": _stamp(self.expiration_time),
            "sha256Hash": self.sha256_hash,
        }
        if self.error:
            data["error"] = {"message": self.error}
        return {k: v for k, v in data.items() if v is not None}


# ------------------------------------------------------------------------------ flows
def _same_host(session: Session, url: str) -> str:
    """The upload session URL re-pointed at ``base_url``'s scheme and host.

    The SDK follows the URL the upload start returns as it is (the real service's
    upload URL carries its own authorization). boxmask sends the API key with every
    chunk, so it keeps only the path and query of that URL and always talks to the host
    the caller chose: the key never goes to a host named by a server's answer (and
    proxies and local test servers keep working).
    """
    base = urlsplit(session.base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def _file_from_final(reply: HttpReply) -> File:
    try:
        body = json.loads(reply.body)
        return File.from_api(body.get("file", body))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UploadError(f"the upload finished but its answer holds no file ({exc})") from None


def _start_upload(
    session: Session, size: int, mime_type: str, display_name: str | None, what: str
) -> Flow[str]:
    """Open a resumable upload session; returns its URL (on ``base_url``'s host)."""
    start = HttpCall(
        "POST",
        session.url("/upload/v1beta/files"),
        session.headers(
            {
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime_type,
                "Content-Type": "application/json",
            }
        ),
        json.dumps({"file": {"display_name": display_name} if display_name else {}}).encode(),
    )
    reply, _ = yield from call(
        session,
        start,
        what,
        decode=False,
        check=lambda r: None if r.headers.get("x-goog-upload-url") else "no X-Goog-Upload-URL",
    )
    return _same_host(session, reply.headers["x-goog-upload-url"])


def _chunk_call(
    session: Session, session_url: str, data: bytes | mmap.mmap, offset: int, end: int
) -> HttpCall:
    last = end >= len(data)
    return HttpCall(
        "POST",
        session_url,
        session.headers(
            {
                "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                "X-Goog-Upload-Offset": str(offset),
                "Content-Type": "application/octet-stream",
            }
        ),
        bytes(data[offset:end]),
    )


def _query_upload(session: Session, session_url: str, size: int, what: str) -> Flow[int | File]:
    """Ask the session how much arrived: the byte offset to resume at, or the file when
    the upload is already complete."""
    query = HttpCall("POST", session_url, session.headers({"X-Goog-Upload-Command": "query"}))
    status, _ = yield from call(session, query, what + " (status query)", decode=False)
    if status.headers.get("x-goog-upload-status", "").lower() == "final":
        return _file_from_final(status)
    received = status.headers.get("x-goog-upload-size-received")
    if received is None or not received.isdigit() or int(received) > size:
        raise UploadError(f"{what}: the status query gave no usable size ({received!r})")
    return int(received)


def upload_flow(
    session: Session,
    data: bytes | mmap.mmap,
    *,
    mime_type: str,
    display_name: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    poll_interval: float = 0.5,
    processing_timeout: float = 300.0,
) -> Flow[File]:
    """Upload ``data`` with the resumable protocol and wait until the file is ACTIVE
    (an ``mmap`` of a large file is read one chunk at a time)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be a positive number of bytes")
    what = f"Files API upload of {display_name or 'image'} ({len(data)} bytes)"
    session_url = yield from _start_upload(session, len(data), mime_type, display_name, what)
    offset, failures = 0, 0
    file: File | None = None
    while file is None:
        end = min(offset + chunk_size, len(data))
        last = end >= len(data)
        outcome = yield _chunk_call(session, session_url, data, offset, end)
        problem = _chunk_problem(session, outcome, what, last)
        if problem is None:
            assert isinstance(outcome, HttpReply)
            if last:
                file = _file_from_final(outcome)
            offset = end
            continue
        failures += 1
        if failures > session.retry.max_retries:
            raise UploadError(
                f"{what}: gave up at byte {offset} after {failures} tries ({problem})"
            )
        delay = session.retry.backoff(failures - 1, session.rng)
        log.info("%s: %s at byte %d; asking the session in %.2f s", what, problem, offset, delay)
        yield Sleep(delay)
        resumed = yield from _query_upload(session, session_url, len(data), what)
        if isinstance(resumed, File):
            file = resumed
        else:
            offset = resumed
    return (yield from wait_active_flow(session, file, poll_interval, processing_timeout))


def _chunk_problem(
    session: Session, outcome: HttpReply | TransportFailure, what: str, last: bool
) -> str | None:
    """None when the chunk went through; a reason to query and resume; or raises."""
    if isinstance(outcome, TransportFailure):
        return type(outcome.error).__name__
    if outcome.status in session.retry.statuses:
        return f"HTTP {outcome.status}"
    if outcome.status in (401, 403, 404):
        raise error_for_reply(session, outcome, what)
    if 300 <= outcome.status < 400:
        raise redirect_error(session, outcome, what)
    if outcome.status >= 300:
        error = parse_error_body(outcome.body)
        raise UploadError(
            session.scrub(
                f"{what}: the upload was refused (HTTP {outcome.status}: {error.message})"
            )
        )
    status = outcome.headers.get("x-goog-upload-status", "").lower()
    expected = "final" if last else "active"
    if status == expected:
        return None
    if not status:
        return "no X-Goog-Upload-Status"
    raise UploadError(f"{what}: the upload session is {status!r}, expected {expected!r}")


def wait_active_flow(
    session: Session, file: File, poll_interval: float = 0.5, timeout: float = 300.0
) -> Flow[File]:
    """Poll ``file`` until it leaves PROCESSING. Raises UploadError for FAILED or a timeout."""
    waited, interval = 0.0, poll_interval
    while file.state == "PROCESSING":
        if waited >= timeout:
            raise UploadError(f"{file.name} is still PROCESSING after {waited:.0f} s")
        yield Sleep(interval)
        waited += interval
        interval = min(interval * 1.5, 5.0)
        file = yield from get_flow(session, file.name)
    if file.state == "FAILED":
        raise UploadError(
            f"{file.name} ({file.display_name or file.mime_type}) failed processing on the "
            f"service: {file.error or 'no reason given'}. Check the file's format."
        )
    return file


def get_flow(session: Session, name_or_uri: str) -> Flow[File]:
    name = file_name(name_or_uri)
    _, body = yield from call(
        session, HttpCall("GET", session.url(f"/v1beta/{name}"), session.headers()), f"get {name}"
    )
    return File.from_api(body)


def list_page_flow(
    session: Session, page_size: int | None, page_token: str | None
) -> Flow[tuple[list[File], str | None]]:
    params: dict[str, str] = {}
    if page_size:
        params["pageSize"] = str(page_size)
    if page_token:
        params["pageToken"] = page_token
    request = HttpCall("GET", session.url("/v1beta/files"), session.headers(), params=params)
    _, body = yield from call(session, request, "list files")
    files = [File.from_api(f) for f in body.get("files", []) if isinstance(f, dict)]
    token = body.get("nextPageToken") or None
    return files, token


def delete_flow(session: Session, name_or_uri: str) -> Flow[None]:
    name = file_name(name_or_uri)
    request = HttpCall("DELETE", session.url(f"/v1beta/{name}"), session.headers())
    yield from call(session, request, f"delete {name}", decode=False)
    return None
