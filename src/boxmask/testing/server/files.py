"""The Files API: resumable upload (start, chunks with offset checks, finalize with length
check, status query), get / list (paged) / delete, download of generated files, and the
``/static/`` stand-ins for public image URLs.

The upload start answers ``X-Goog-Upload-URL``; that URL (its ``upload_id``) authorizes the
byte upload, which carries no API key, as with the real service.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone
from email.message import Message
from typing import Any

from boxmask.testing.server.errors import RequestError, invalid, not_found
from boxmask.testing.server.exchange import Call, Reply
from boxmask.testing.server.records import Upload
from boxmask.testing.server.state import ServiceState
from boxmask.testing.server.wire import IMAGE_MIMES

__all__ = [
    "delete",
    "download",
    "get",
    "keep_partial_chunk",
    "list_files",
    "static",
    "upload_chunk",
    "upload_start",
]

_OTHER_MIMES = ("video/", "audio/", "text/", "application/pdf", "application/json",
                "application/jsonl", "application/x-ndjson")  # fmt: skip


def upload_start(call: Call) -> Reply:
    """``POST /upload/{v}/files`` with ``X-Goog-Upload-Command: start``."""
    h = call.headers
    if (h.get("X-Goog-Upload-Protocol") or "").lower() != "resumable" or (
        h.get("X-Goog-Upload-Command") or ""
    ).lower() != "start":
        raise invalid("Only the resumable upload protocol (command start) is supported.")
    declared = h.get("X-Goog-Upload-Header-Content-Length")
    if declared is None or not declared.isdigit():
        raise invalid("X-Goog-Upload-Header-Content-Length is required.")
    meta = call.json()
    file_meta = meta.get("file", {}) if isinstance(meta, dict) else {}
    file_meta = file_meta if isinstance(file_meta, dict) else {}
    mime = (
        h.get("X-Goog-Upload-Header-Content-Type")
        or file_meta.get("mime_type")
        or file_meta.get("mimeType")
        or ""
    )
    upload = Upload(
        int(declared), mime, file_meta.get("display_name") or file_meta.get("displayName")
    )
    upload_id = secrets.token_urlsafe(12)
    fake = call.fake
    with fake._lock:
        fake.uploads[upload_id] = upload
    url = f"{fake.base_url}/upload/{call.version}/files?upload_id={upload_id}&upload_protocol=resumable"
    headers = {
        "X-Goog-Upload-URL": url,
        "X-Goog-Upload-Status": "active",
        "X-Goog-Upload-Chunk-Granularity": str(fake.chunk_granularity),
    }
    return Reply(200, b"", headers)


def _commands(headers: Message[str, str]) -> set[str]:
    return {c.strip() for c in (headers.get("X-Goog-Upload-Command") or "").lower().split(",")}


def _final_error(message: str) -> RequestError:
    return RequestError(400, message, "INVALID_ARGUMENT", headers={"X-Goog-Upload-Status": "final"})


def upload_chunk(call: Call) -> Reply:
    """A chunk, finalize or status query on an upload session."""
    fake = call.fake
    upload = fake.uploads.get(call.query["upload_id"])
    if upload is None:
        raise not_found("No such upload session.")
    command = _commands(call.headers)
    if "query" in command:
        headers = {"X-Goog-Upload-Size-Received": str(len(upload.data))}
        if upload.file is not None:
            headers["X-Goog-Upload-Status"] = "final"
            return Reply(200, {"file": fake.file_json(upload.file)}, headers)
        headers["X-Goog-Upload-Status"] = "active"
        return Reply(200, b"", headers)
    if upload.file is not None:
        raise RequestError(400, "The upload is already finalized.", "FAILED_PRECONDITION",
                           headers={"X-Goog-Upload-Status": "final"})  # fmt: skip
    offset = call.headers.get("X-Goog-Upload-Offset")
    if offset is None or not offset.isdigit() or int(offset) != len(upload.data):
        raise RequestError(
            400,
            f"Invalid X-Goog-Upload-Offset {offset}: expected {len(upload.data)}.",
            "INVALID_ARGUMENT",
            headers={"X-Goog-Upload-Status": "active"},
        )
    finalize = "finalize" in command
    body = call.body
    if not finalize and len(body) % max(1, fake.chunk_granularity):
        raise invalid(f"Chunk size {len(body)} is not a multiple of {fake.chunk_granularity}.")
    upload.data.extend(body)
    if not finalize:
        return Reply(200, b"", {"X-Goog-Upload-Status": "active"})
    if len(upload.data) != upload.declared:
        raise _final_error(
            f"Upload length {len(upload.data)} differs from the declared {upload.declared}."
        )
    mime = upload.mime_type.lower()
    if mime not in IMAGE_MIMES and not mime.startswith(_OTHER_MIMES):
        raise _final_error(f"Unsupported MIME type: {upload.mime_type}")
    fails = fake.fault_book.take_processing_failure()
    upload.file = fake.new_file(bytes(upload.data), upload.mime_type, upload.display_name,
                                fails=fails)  # fmt: skip
    return Reply(200, {"file": fake.file_json(upload.file)}, {"X-Goog-Upload-Status": "final"})


def keep_partial_chunk(
    fake: ServiceState, query: dict[str, str], headers: Message[str, str], body: bytes
) -> None:
    """An upload chunk cut mid-way: keep what arrived, as whole granularity units
    (the resumable protocol's status query then reports it)."""
    upload = fake.uploads.get(query.get("upload_id", ""))
    offset = headers.get("X-Goog-Upload-Offset")
    if upload is None or upload.file is not None or offset != str(len(upload.data)):
        return
    unit = max(1, fake.chunk_granularity)
    upload.data.extend(body[: len(body) - len(body) % unit])


def get(call: Call) -> Reply:
    """``GET /{v}/files/{id}`` (a ``PROCESSING`` file advances one poll)."""
    fake = call.fake
    f = fake.live_file(call.parts["id"])
    with fake._lock:
        if f.state == "PROCESSING":
            f.polls_left -= 1
            if f.polls_left <= 0:
                f.state = "FAILED" if f.fails else "ACTIVE"
    return Reply(200, fake.file_json(f))


def delete(call: Call) -> Reply:
    """``DELETE /{v}/files/{id}``: ``{}``."""
    fake = call.fake
    fake.live_file(call.parts["id"])
    with fake._lock:
        fake.files.pop(call.parts["id"], None)
    return Reply(200, {})


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise invalid(f"Invalid page token: {token[:40]}") from None


def page(
    call: Call, items: list[Any], default_size: int, max_size: int
) -> tuple[list[Any], str | None]:
    """One page of ``items`` for the ``pageSize`` / ``pageToken`` query, and the next token."""
    raw = call.query.get("pageSize") or str(default_size)
    if not raw.lstrip("-").isdigit():
        raise invalid(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw[:40]}\"")
    size = max(1, min(int(raw), max_size)) if int(raw) > 0 else default_size
    start = _page_start(call.query.get("pageToken"))
    chunk = items[start : start + size]
    more = start + size < len(items)
    token = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
    return chunk, token


def list_files(call: Call) -> Reply:
    """``GET /{v}/files``: newest first, ``pageSize`` 10 by default, 100 at most."""
    fake = call.fake
    now = datetime.now(timezone.utc)
    with fake._lock:
        live = sorted(
            (f for f in fake.files.values() if f.expires > now),
            key=lambda f: (f.created, f.id),
            reverse=True,
        )
    chunk, token = page(call, live, 10, 100)
    out: dict[str, Any] = {"files": [fake.file_json(f) for f in chunk]}
    if token:
        out["nextPageToken"] = token
    return Reply(200, out)


def download(call: Call) -> Reply:
    """``GET …/files/{id}:download?alt=media``: the bytes of a generated file (a batch's
    results); uploaded files cannot be downloaded, as with the service."""
    f = call.fake.live_file(call.parts["id"])
    if call.query.get("alt") != "media":
        raise invalid("Download requires alt=media.")
    if f.source != "GENERATED":
        raise invalid(f"Only generated files can be downloaded; files/{f.id} was uploaded.")
    return Reply(200, f.data, {"Content-Type": f.mime_type})


def static(call: Call) -> Reply:
    """``GET /static/{name}``: a stand-in for a public image URL."""
    entry = call.fake.static.get(call.parts["name"])
    if entry is None:
        raise not_found("Not found")
    return Reply(200, entry[0], {"Content-Type": entry[1]})
