"""The Gemini Batch API: ``models/{m}:batchGenerateContent`` and ``batches/{id}`` get / list /
cancel / delete.

Server-side behaviour (what a batch client can rely on):

- **Create** takes ``{"batch": {"displayName", "inputConfig": …}}`` where ``inputConfig`` is
  ``{"requests": {"requests": [{"request": GenerateContentRequest, "metadata": {...}}]}}``
  (inline) or ``{"fileName": "files/ID"}``: a JSONL file uploaded through the Files API,
  one ``{"key": "...", "request": GenerateContentRequest}`` per line. The answer is the
  job as a long-running operation: ``{"name": "batches/ID", "metadata": {"@type": …
  GenerateContentBatch, "model", "displayName", "state": "BATCH_STATE_PENDING",
  "batchStats", "createTime", …}, "done": false}`` (already done with ``batch_polls=0``).
  The model must be ``gemini-*`` (404);
  an unknown or expired input file is 403, an empty batch 400.
- **State progression**: each ``GET batches/ID`` counts a poll. The ``batch_polls``-th poll
  (default 1: the first) runs every request and reports ``BATCH_STATE_SUCCEEDED``; the
  polls before it report ``BATCH_STATE_RUNNING``. ``batch_polls=0`` runs the job at
  create: the create answer is already done. ``FakeGemini.finish_batch(name, state)`` moves a job on at
  once (``SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` / ``EXPIRED``). The SDK maps
  ``BATCH_STATE_X`` to ``JOB_STATE_X``.
- **Results**: one per request, in request order. Each is a ``GenerateContentResponse``,
  or an ``error`` (``{code, message, status}``) for a request the service refuses (an
  unknown field, a bad image, a missing file…): one bad request never fails the job.
  Inline jobs answer ``metadata.output.inlinedResponses.inlinedResponses[i] =
  {"response"|"error", "metadata"}``; file jobs answer ``metadata.output.responsesFile =
  "files/ID"``, a generated JSONL file (``{"key", "response"|"error"}`` per line, the key of
  the input line) downloadable at ``/download/v1beta/files/ID:download?alt=media`` (also
  ``/{v}/files/ID:download``). ``batchStats`` counts requests, successes and failures. A
  done job also carries ``response`` (the output with its ``@type``).
- **Faults**: a model fault (``truncate`` / ``block`` / ``finish_block``) with ``match=``
  strikes the batch items whose request contains the text; ``status`` faults with
  ``endpoint="batches"`` strike the batch calls themselves.
- **Cancel** (``POST batches/ID:cancel``, ``{}``) ends a job that is not done as
  ``BATCH_STATE_CANCELLED`` without results; **delete** (``DELETE batches/ID``, ``{}``)
  forgets it (then 404). **List** (``GET batches``) pages as ``{"operations": [...],
  "nextPageToken"}``, newest first.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

from boxmask.testing.server.errors import RequestError, invalid, not_found
from boxmask.testing.server.exchange import Call, Reply, read_json
from boxmask.testing.server.files import page
from boxmask.testing.server.generate import check_model
from boxmask.testing.server.model import respond, run_model
from boxmask.testing.server.records import BatchJob, stamp
from boxmask.testing.server.state import ServiceState
from boxmask.testing.server.wire import parse_generate_content

__all__ = ["cancel", "create", "delete", "finish", "get", "list_batches"]

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."


def _inline_requests(config: dict[str, Any]) -> tuple[list[tuple[str | None, Any]], list[Any]]:
    box = config.get("requests")
    items = box.get("requests") if isinstance(box, dict) else None
    if not isinstance(items, list):
        raise invalid("* BatchGenerateContentRequest.batch.input_config.requests: is required")
    requests: list[tuple[str | None, Any]] = []
    metadata: list[Any] = []
    for item in items:
        item = item if isinstance(item, dict) else {}
        meta = item.get("metadata")
        key = meta.get("key") if isinstance(meta, dict) else None
        requests.append((key if isinstance(key, str) else None, item.get("request")))
        metadata.append(meta)
    return requests, metadata


def _file_requests(fake: ServiceState, name: Any) -> list[tuple[str | None, Any]]:
    """The lines of an uploaded JSONL input file (a line that is not a JSON object becomes a
    request the job answers with an error)."""
    if not isinstance(name, str) or not name.startswith("files/"):
        raise invalid("* BatchGenerateContentRequest.batch.input_config.file_name: invalid")
    data = fake.live_file(name.removeprefix("files/")).data
    requests: list[tuple[str | None, Any]] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = read_json(line.encode(), f"Invalid JSON on line {number}.")
        except RequestError as exc:
            requests.append((None, exc))
            continue
        entry = entry if isinstance(entry, dict) else {}
        key = entry.get("key")
        requests.append((key if isinstance(key, str) else None, entry.get("request")))
    return requests


def create(call: Call) -> Reply:
    """``POST /{v}/models/{m}:batchGenerateContent``."""
    fake = call.fake
    model = check_model(call.parts["model"], call.version, "batchGenerateContent")
    body = call.json()
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise invalid("* BatchGenerateContentRequest.batch: batch is required")
    config = batch.get("inputConfig") or batch.get("input_config")
    if not isinstance(config, dict):
        raise invalid("* BatchGenerateContentRequest.batch.input_config: is required")
    file_name = config.get("fileName") or config.get("file_name")
    metadata: list[Any] = []
    if file_name is not None:
        requests, inline = _file_requests(fake, file_name), False
    else:
        (requests, metadata), inline = _inline_requests(config), True
    if not requests:
        raise invalid("* BatchGenerateContentRequest.batch.input_config: the batch is empty")
    job = BatchJob(
        id=secrets.token_hex(8),
        model=f"models/{model}",
        display_name=str(batch.get("displayName") or batch.get("display_name") or ""),
        requests=requests,
        metadata=metadata,
        inline=inline,
        created=datetime.now(timezone.utc),
    )
    with fake._lock:
        fake.batches[job.id] = job
    if fake.batch_polls <= 0:
        with fake.batch_lock:
            finish(fake, job, "BATCH_STATE_SUCCEEDED")
    return Reply(200, job_json(fake, job))


def _run_one(fake: ServiceState, job: BatchJob, request: Any) -> dict[str, Any]:
    """One item's result: ``{"response": ...}`` or ``{"error": ...}``."""
    try:
        if isinstance(request, RequestError):
            raise request
        raw = json.dumps(request).encode()
        req = parse_generate_content(
            request, job.model.removeprefix("models/"), fake.resolve_image, fake.strict
        )
        fault = fake.fault_book.take_model_fault(raw)
        reply = run_model(req, mask_format=fake.mask_format, fault=fault)
        return {"response": respond(req, reply)}
    except RequestError as exc:
        return exc.body()


def _write_results(fake: ServiceState, job: BatchJob) -> None:
    results = [_run_one(fake, job, request) for _, request in job.requests]
    job.succeeded = sum("response" in r for r in results)
    job.failed = len(results) - job.succeeded
    if job.inline:
        inlined = []
        for result, meta in zip(results, job.metadata, strict=True):
            inlined.append({**result, **({"metadata": meta} if meta is not None else {})})
        job.output = {"inlinedResponses": {"inlinedResponses": inlined}}
        return
    lines = []
    for (key, _), result in zip(job.requests, results, strict=True):
        lines.append(json.dumps({**({"key": key} if key is not None else {}), **result}))
    data = ("\n".join(lines) + "\n").encode()
    out = fake.new_file(data, "application/jsonl", f"batch-{job.id}-results", source="GENERATED")
    job.output = {"responsesFile": out.name}


def finish(fake: ServiceState, job: BatchJob, state: str) -> None:
    """End ``job`` as ``state`` (``BATCH_STATE_SUCCEEDED`` runs its requests first)."""
    if job.done:
        return
    if state == "BATCH_STATE_SUCCEEDED":
        _write_results(fake, job)
    job.state = state
    job.ended = job.updated = datetime.now(timezone.utc)


def job_json(fake: ServiceState, job: BatchJob) -> dict[str, Any]:
    """The job as the long-running operation the service answers."""
    total = len(job.requests)
    stats = {"requestCount": str(total)}
    if job.state == "BATCH_STATE_SUCCEEDED":
        stats |= {"successfulRequestCount": str(job.succeeded),
                  "failedRequestCount": str(job.failed)}  # fmt: skip
    elif not job.done:
        stats["pendingRequestCount"] = str(total)
    metadata: dict[str, Any] = {
        "@type": _TYPE + "GenerateContentBatch",
        "name": job.name,
        "model": job.model,
        "displayName": job.display_name,
        "state": job.state,
        "batchStats": stats,
        "createTime": stamp(job.created),
        "updateTime": stamp(job.updated or job.created),
        "priority": "0",
    }
    out: dict[str, Any] = {"name": job.name, "metadata": metadata, "done": job.done}
    if job.ended is not None:
        metadata["endTime"] = stamp(job.ended)
    if job.output is not None:
        metadata["output"] = {"@type": _TYPE + "GenerateContentBatchOutput", **job.output}
        out["response"] = metadata["output"]
    if job.state == "BATCH_STATE_FAILED":
        out["error"] = {"code": 13, "message": "The batch job failed.", "details": []}
    return out


def _job(call: Call) -> BatchJob:
    job = call.fake.batches.get(call.parts["id"])
    if job is None:
        raise not_found(f"Batch batches/{call.parts['id']} not found.")
    return job


def get(call: Call) -> Reply:
    """``GET /{v}/batches/{id}``: one poll (see the module notes on state progression)."""
    fake = call.fake
    job = _job(call)
    with fake.batch_lock:
        if not job.done:
            job.polls += 1
            if job.polls >= fake.batch_polls:
                finish(fake, job, "BATCH_STATE_SUCCEEDED")
            else:
                job.state, job.updated = "BATCH_STATE_RUNNING", datetime.now(timezone.utc)
        return Reply(200, job_json(fake, job))


def list_batches(call: Call) -> Reply:
    """``GET /{v}/batches``: newest first, ``pageSize`` 10 by default, 100 at most."""
    fake = call.fake
    with fake._lock:
        jobs = sorted(fake.batches.values(), key=lambda j: (j.created, j.id), reverse=True)
    chunk, token = page(call, jobs, 10, 100)
    out: dict[str, Any] = {"operations": [job_json(fake, job) for job in chunk]}
    if token:
        out["nextPageToken"] = token
    return Reply(200, out)


def cancel(call: Call) -> Reply:
    """``POST /{v}/batches/{id}:cancel``: ``{}``; a job not yet done ends CANCELLED."""
    job = _job(call)
    with call.fake.batch_lock:
        finish(call.fake, job, "BATCH_STATE_CANCELLED")
    return Reply(200, {})


def delete(call: Call) -> Reply:
    """``DELETE /{v}/batches/{id}``: ``{}``; the job is forgotten."""
    job = _job(call)
    with call.fake._lock:
        call.fake.batches.pop(job.id, None)
    return Reply(200, {})
