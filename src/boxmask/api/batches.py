"""The Gemini Batch API: ``generateContent`` requests run as one job at half price.

Protocol (v1beta, the ``google-genai`` SDK's ``batches`` module speaks the same):

- the input is a JSONL file uploaded through the Files API (:func:`boxmask.api.files.
  upload_flow`, MIME ``application/jsonl``), one ``{"key": "...", "request":
  GenerateContentRequest}`` per line (:func:`request_line`);
- ``POST /v1beta/models/{model}:batchGenerateContent`` with ``{"batch": {"display_name",
  "input_config": {"file_name": "files/..."}}}`` answers a long-running operation
  ``{"name": "batches/ID", "metadata": {GenerateContentBatch}, "done"}``;
- ``GET /v1beta/batches/ID`` polls it: ``metadata.state`` is ``BATCH_STATE_PENDING``,
  ``…_RUNNING``, then one of :data:`TERMINAL_STATES`; a succeeded job names its results in
  ``metadata.output.responsesFile``;
- the results file (``GET /download/v1beta/files/ID:download?alt=media``) holds one
  ``{"key", "response": GenerateContentResponse}`` or ``{"key", "error": Status}`` line per
  request: one bad request never fails the job;
- ``POST /v1beta/batches/ID:cancel`` ends a job that is not done.

Every call goes through :func:`boxmask.api.http.call` (retries, typed errors, the key only
in the ``x-goog-api-key`` header, never in a message).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boxmask.api.files import file_name
from boxmask.api.http import Session, call
from boxmask.api.transport import Flow, HttpCall

__all__ = [
    "MAX_RESULTS_BYTES",
    "TERMINAL_STATES",
    "BatchJob",
    "BatchResult",
    "cancel_flow",
    "create_flow",
    "download_flow",
    "get_flow",
    "read_results",
    "request_line",
]

#: The largest results file read (bytes): the Batch API's own 2 GB input limit.
MAX_RESULTS_BYTES = 2 * 1000 * 1000 * 1000

#: The states a job ends in (``BATCH_STATE_*``; the SDK shows them as ``JOB_STATE_*``).
TERMINAL_STATES = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)


def _count(stats: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = stats.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


@dataclass(frozen=True)
class BatchJob:
    """A batch job as last seen: ``name`` ``batches/ID``, ``state`` ``BATCH_STATE_*``,
    request counts (None when the service did not say), ``responses_file`` (``files/ID``
    of a succeeded file job) and ``error`` (the service's message for a failed job)."""

    name: str
    state: str
    display_name: str | None = None
    model: str | None = None
    requests: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    responses_file: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """True once the job ended (succeeded, failed, cancelled or expired)."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> BatchJob:
        """From the operation the service answers (or a bare ``GenerateContentBatch``)."""
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else data
        assert isinstance(meta, dict)
        stats = meta.get("batchStats") or meta.get("batch_stats") or {}
        stats = stats if isinstance(stats, dict) else {}
        output = meta.get("output") or data.get("response") or {}
        output = output if isinstance(output, dict) else {}
        error = data.get("error")
        state = str(meta.get("state") or "BATCH_STATE_UNSPECIFIED")
        if data.get("done") and state not in TERMINAL_STATES:
            state = "BATCH_STATE_FAILED" if error else "BATCH_STATE_SUCCEEDED"
        responses = output.get("responsesFile") or output.get("responses_file")
        return cls(
            name=str(data.get("name") or meta.get("name") or ""),
            state=state,
            display_name=meta.get("displayName") or meta.get("display_name"),
            model=meta.get("model"),
            requests=_count(stats, "requestCount", "request_count"),
            succeeded=_count(stats, "successfulRequestCount", "successful_request_count"),
            failed=_count(stats, "failedRequestCount", "failed_request_count"),
            responses_file=str(responses) if responses else None,
            error=str(error.get("message", error)) if isinstance(error, dict) else None,
        )


@dataclass(frozen=True)
class BatchResult:
    """One line of a job's results: the request's ``key`` and either the raw
    ``response`` (a ``GenerateContentResponse`` dict) or the ``error`` message."""

    key: str | None
    response: dict[str, Any] | None = None
    error: str | None = None


def request_line(key: str, request: dict[str, Any]) -> bytes:
    """One input line: ``{"key": key, "request": request}`` and a newline (UTF-8)."""
    line = json.dumps({"key": key, "request": request}, ensure_ascii=False, separators=(",", ":"))
    return line.encode("utf-8") + b"\n"


def _batch_name(name: str) -> str:
    text = name.strip()
    if not text.startswith("batches/"):
        text = f"batches/{text}"
    job_id = text.removeprefix("batches/")
    if not job_id or "/" in job_id or "?" in job_id:
        raise ValueError(f"not a batch job name: {name!r}")
    return text


def create_flow(session: Session, model: str, input_file: str, display_name: str) -> Flow[BatchJob]:
    """Create a job over the uploaded JSONL ``input_file`` (``files/ID`` or its URI)."""
    body = {
        "batch": {
            "display_name": display_name,
            "input_config": {"file_name": file_name(input_file)},
        }
    }
    model = model.removeprefix("models/")
    request = HttpCall(
        "POST",
        session.url(f"/v1beta/models/{model}:batchGenerateContent"),
        session.headers({"Content-Type": "application/json"}),
        json.dumps(body).encode(),
    )
    _, value = yield from call(session, request, f"batch job creation on {model}")
    return BatchJob.from_api(value)


def get_flow(session: Session, name: str) -> Flow[BatchJob]:
    """The job's current state (one poll)."""
    name = _batch_name(name)
    request = HttpCall("GET", session.url(f"/v1beta/{name}"), session.headers())
    _, value = yield from call(session, request, f"poll of {name}")
    return BatchJob.from_api(value)


def cancel_flow(session: Session, name: str) -> Flow[None]:
    """Ask the service to end a job that is not done (it ends ``BATCH_STATE_CANCELLED``)."""
    name = _batch_name(name)
    request = HttpCall(
        "POST",
        session.url(f"/v1beta/{name}:cancel"),
        session.headers({"Content-Type": "application/json"}),
        b"{}",
    )
    yield from call(session, request, f"cancel of {name}", decode=False)
    return None


def download_flow(session: Session, name_or_uri: str) -> Flow[bytes]:
    """The bytes of a generated file (a job's results)."""
    name = file_name(name_or_uri)
    request = HttpCall(
        "GET",
        session.url(f"/download/v1beta/{name}:download"),
        session.headers(),
        params={"alt": "media"},
        max_body=MAX_RESULTS_BYTES,
    )
    reply, _ = yield from call(session, request, f"download of {name}", decode=False)
    return reply.body


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        status = error.get("status") or error.get("code") or "error"
        return f"{status}: {error.get('message') or 'no message'}"
    return str(error)


def read_results(data: bytes) -> Iterator[BatchResult]:
    """The lines of a results file; a line that is not a JSON object is a result without
    a key (reported by the caller, never an exception)."""
    for number, raw in enumerate(io.BytesIO(data), start=1):  # lazily, line by line
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            yield BatchResult(None, error=f"results line {number} is not a JSON object")
            continue
        key = entry.get("key")
        key = str(key) if key is not None else None
        response = entry.get("response")
        if isinstance(response, dict) and entry.get("error") is None:
            yield BatchResult(key, response=response)
        else:
            yield BatchResult(key, error=_error_text(entry.get("error") or "no response"))
