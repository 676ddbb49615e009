"""Injected faults: what each kind does, which requests it hits, the error it answers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from boxmask.testing.server.errors import STATUS_NAMES, RequestError

__all__ = ["ENDPOINTS", "FAULT_KINDS", "Fault", "FaultBook", "fault_error"]

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
MODEL_FAULTS = frozenset({"truncate", "block", "finish_block"})
#: Model calls: ``generateContent`` (also streamed) and Interactions ``create``; the batch
#: items are model calls too for ``truncate`` / ``block`` / ``finish_block`` with ``match=``.
MODEL_ENDPOINTS = frozenset({"generate_content", "interactions"})
ENDPOINTS = (
    "model",  # both model calls
    "generate_content",  # generateContent and streamGenerateContent
    "interactions",  # Interactions create
    "interaction",  # get / delete / cancel of one interaction
    "count_tokens",
    "models",  # models get / list
    "upload_start",
    "upload_chunk",
    "files",  # files get / list / delete
    "download",  # files :download
    "batches",  # batchGenerateContent and batches get / list / cancel / delete
    "static",
    "unknown",  # a path the service does not have
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


class FaultBook:
    """The pending faults of one server, consulted by every request."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.faults: list[Fault] = []

    def add(self, kind: str, times: int, endpoint: str | None, params: dict[str, Any]) -> Fault:
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

    def take(self, endpoint: str, body: bytes | None) -> Fault | None:
        """The next fault for this request; ``body`` None: before the body is read (only
        ``interrupt`` faults), else after (every other kind, ``match`` checked)."""
        is_model = endpoint in MODEL_ENDPOINTS
        with self._lock:
            for fault in self.faults:
                if fault.kind == "fail_processing" or (fault.kind in MODEL_FAULTS and not is_model):
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
                    or (wanted == "model" and is_model)
                )
                if matches and fault.hits < fault.times:
                    if fault.passed < int(fault.params.get("skip", 0)):
                        fault.passed += 1
                        continue
                    fault.hits += 1
                    return fault
        return None

    def take_model_fault(self, body: bytes) -> str | None:
        """A model fault (``truncate`` / ``block`` / ``finish_block``) with ``match=`` hitting
        one item of a batch job (``body``: that item's request)."""
        with self._lock:
            for fault in self.faults:
                match = fault.params.get("match")
                if fault.kind not in MODEL_FAULTS or match is None or match not in body:
                    continue
                if fault.endpoint not in (None, "model", "batches") or fault.hits >= fault.times:
                    continue
                fault.hits += 1
                return fault.kind
        return None

    def take_processing_failure(self) -> bool:
        """True when a ``fail_processing`` fault is pending (it is then used up)."""
        with self._lock:
            pending = [f for f in self.faults if f.kind == "fail_processing" and f.hits < f.times]
            if pending:
                pending[0].hits += 1
            return bool(pending)


def fault_error(fault: Fault) -> RequestError:
    """The error a ``status`` fault answers (with its retry hints)."""
    p = fault.params
    status = int(p.get("status", 429))
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
        status,
        str(message),
        str(p.get("error_status", STATUS_NAMES.get(status, "UNKNOWN"))),
        details=details,
        headers=headers,
    )
