"""One HTTP exchange, bounded: a whole-request deadline, a body cap, no redirects.

httpx's ``timeout`` applies to each socket read, so a server trickling one byte every
half second keeps a request alive forever, and ``response.content`` buffers any body
whole. Here every exchange:

- ends by its **deadline** (``HttpCall.timeout`` or the client's timeout, seconds from
  the start to the last body byte). Sync exchanges run on a helper thread the caller
  stops waiting for at the deadline; async ones under :func:`asyncio.wait_for`. A
  deadline hit before any body byte arrived is a timeout like any other (retried, so a
  busy machine that reads a small answer late is not an error); one hit while the body
  is trickling in raises :class:`~boxmask.errors.ApiTimeoutError` at once (the same
  server would be as slow again).
- reads the body in chunks and stops at ``max_body`` bytes with
  :class:`~boxmask.errors.ResponseTooLargeError` (a larger ``Content-Length`` is refused
  before reading).
- follows redirects only for key-less downloads (``HttpCall.follow_redirects``); a
  3xx answer to an API call is reported as a redirect by :mod:`boxmask.api.http`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from boxmask.api.defaults import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from boxmask.errors import ApiTimeoutError, RedirectError, ResponseTooLargeError

__all__ = [
    "HttpCall",
    "HttpReply",
    "Limits",
    "TransportFailure",
    "redact_url",
    "send_async",
    "send_sync",
]

_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request. ``timeout``: seconds for the whole exchange (None: the client's);
    ``max_body``: bytes of answer body accepted (None: the client's ``max_response_bytes``)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    content: bytes | None = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    timeout: float | None = None
    follow_redirects: bool = False  # only for key-less downloads: never re-send the key
    max_body: int | None = None


@dataclass(frozen=True)
class HttpReply:
    """A complete HTTP response: status, headers (case-insensitive) and the whole body."""

    status: int
    headers: httpx.Headers = field(repr=False)
    body: bytes = field(repr=False)
    elapsed: float = 0.0


@dataclass(frozen=True)
class TransportFailure:
    """The request got no complete response: connection refused or dropped, timeout,
    body cut mid-way. ``error`` is the httpx exception."""

    error: httpx.TransportError

    @property
    def is_timeout(self) -> bool:
        return isinstance(self.error, httpx.TimeoutException)


@dataclass(frozen=True)
class Limits:
    """Bounds of every exchange: ``timeout`` seconds per whole request (None: none) and
    ``max_body`` bytes per response body."""

    timeout: float | None = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_RESPONSE_BYTES


def redact_url(url: str) -> str:
    """``scheme://host/path`` with any query string dropped (a ``?key=`` may hide there)."""
    parts = urlsplit(url)
    suffix = "?…" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{suffix}"


class _Progress:
    """What the exchange reached, shared with the waiting side."""

    def __init__(self) -> None:
        self.headers = False
        self.body_bytes = 0
        self.cancelled = threading.Event()


def _deadline(op: HttpCall, limits: Limits) -> float | None:
    return limits.timeout if op.timeout is None else op.timeout


def _max_body(op: HttpCall, limits: Limits) -> int:
    return limits.max_body if op.max_body is None else op.max_body


def _too_large(op: HttpCall, limit: int, status: int, declared: bool) -> ResponseTooLargeError:
    how = "declares a body" if declared else "sent a body"
    return ResponseTooLargeError(
        f"{op.method} {redact_url(op.url)}: the answer {how} larger than max_response_bytes "
        f"({limit:,} bytes); reading stopped there. Raise max_response_bytes= if an answer "
        "this large is expected.",
        limit=limit,
        status_code=status,
    )


def _redirects(op: HttpCall, exc: httpx.TooManyRedirects) -> RedirectError:
    return RedirectError(
        f"{op.method} {redact_url(op.url)}: too many redirects ({exc})", status_code=310
    )


def _overrun(op: HttpCall, seconds: float, progress: _Progress) -> HttpReply | TransportFailure:
    """The outcome of a request that ran past its deadline."""
    if progress.body_bytes == 0:  # nothing of the body yet: a timeout like any other
        message = f"no answer within the whole-request timeout of {seconds:g} s"
        return TransportFailure(httpx.ReadTimeout(message))
    raise ApiTimeoutError(
        f"{op.method} {redact_url(op.url)}: the answer was still arriving when the "
        f"whole-request timeout of {seconds:g} s ran out (the server sends it too slowly); "
        "not retried. Raise timeout= if the service is only slow."
    )


class _Body:
    """The body of one response, read within the cap: the accounting both the sync and
    the async exchange share (declared size refused up front, chunks counted into
    ``progress`` for the deadline's verdict, the cap enforced as bytes arrive)."""

    def __init__(
        self, op: HttpCall, limits: Limits, progress: _Progress, response: httpx.Response
    ) -> None:
        self.op, self.progress, self.response = op, progress, response
        self.limit = _max_body(op, limits)
        self.chunks: list[bytes] = []
        progress.headers = True
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise _too_large(op, self.limit, response.status_code, declared=True)

    def add(self, chunk: bytes) -> None:
        """Count and keep one chunk; raises ResponseTooLargeError past the cap."""
        total = self.progress.body_bytes + len(chunk)
        self.progress.body_bytes = total
        if total > self.limit:
            raise _too_large(self.op, self.limit, self.response.status_code, declared=False)
        self.chunks.append(chunk)

    def reply(self, started: float) -> HttpReply:
        """The complete response, ``elapsed`` seconds since ``started``."""
        response = self.response
        body = b"".join(self.chunks)
        return HttpReply(
            response.status_code, response.headers, body, time.perf_counter() - started
        )


def _request(http: httpx.Client | httpx.AsyncClient, op: HttpCall, seconds: float | None) -> Any:
    return http.build_request(
        op.method,
        op.url,
        headers=dict(op.headers),
        content=op.content,
        params=op.params,
        timeout=seconds if seconds is not None else http.timeout,
    )


def _fetch_sync(
    http: httpx.Client, op: HttpCall, limits: Limits, progress: _Progress
) -> HttpReply | TransportFailure | None:
    started = time.perf_counter()
    try:
        response = http.send(
            _request(http, op, _deadline(op, limits)),
            stream=True,
            follow_redirects=op.follow_redirects,
        )
    except _RETRYABLE_TRANSPORT as exc:
        return TransportFailure(exc)
    except httpx.TooManyRedirects as exc:
        raise _redirects(op, exc) from None
    try:
        body = _Body(op, limits, progress, response)
        for chunk in response.iter_bytes():
            if progress.cancelled.is_set():
                return None  # the caller gave up at the deadline
            body.add(chunk)
    except _RETRYABLE_TRANSPORT as exc:
        return TransportFailure(exc)
    finally:
        response.close()
    return body.reply(started)


def send_sync(http: httpx.Client, op: HttpCall, limits: Limits) -> HttpReply | TransportFailure:
    """Perform ``op`` within its deadline and body cap (see the module doc)."""
    progress = _Progress()
    seconds = _deadline(op, limits)
    if seconds is None:
        outcome = _fetch_sync(http, op, limits, progress)
        assert outcome is not None
        return outcome
    box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            box.put((True, _fetch_sync(http, op, limits, progress)))
        except BaseException as exc:  # handed to the caller, raised there
            box.put((False, exc))

    threading.Thread(target=work, name="boxmask-http", daemon=True).start()
    try:
        ok, value = box.get(timeout=seconds)
    except queue.Empty:
        return _overrun(op, seconds, progress)
    finally:
        progress.cancelled.set()
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


async def _fetch_async(
    http: httpx.AsyncClient, op: HttpCall, limits: Limits, progress: _Progress
) -> HttpReply | TransportFailure:
    started = time.perf_counter()
    request = _request(http, op, _deadline(op, limits))
    try:
        response = await http.send(request, stream=True, follow_redirects=op.follow_redirects)
    except _RETRYABLE_TRANSPORT as exc:
        return TransportFailure(exc)
    except httpx.TooManyRedirects as exc:
        raise _redirects(op, exc) from None
    try:
        body = _Body(op, limits, progress, response)
        async for chunk in response.aiter_bytes():
            body.add(chunk)
    except _RETRYABLE_TRANSPORT as exc:
        return TransportFailure(exc)
    finally:
        await response.aclose()
    return body.reply(started)


async def send_async(
    http: httpx.AsyncClient, op: HttpCall, limits: Limits
) -> HttpReply | TransportFailure:
    """The asyncio twin of :func:`send_sync` (the deadline cancels the exchange)."""
    progress = _Progress()
    seconds = _deadline(op, limits)
    if seconds is None:
        return await _fetch_async(http, op, limits, progress)
    try:
        return await asyncio.wait_for(_fetch_async(http, op, limits, progress), seconds)
    except asyncio.TimeoutError:
        return _overrun(op, seconds, progress)
