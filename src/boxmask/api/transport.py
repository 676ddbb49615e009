"""One request logic for both clients: flows yield operations, drivers perform them.

A *flow* is a generator that yields :class:`HttpCall`, :class:`Sleep` or :class:`Offload`
and receives the result (an :class:`HttpReply` or :class:`TransportFailure` for a call,
the function's value for an offload). :func:`run_sync` drives a flow with an
``httpx.Client``; :func:`run_async` with an ``httpx.AsyncClient`` (offloads go to a
thread so image encoding and mask decoding never block the event loop). Retries, the
upload protocol and the task logic are therefore written once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

__all__ = [
    "Flow",
    "HttpCall",
    "HttpReply",
    "Offload",
    "Sleep",
    "TransportFailure",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request. ``timeout`` in seconds (None: the client's default)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    content: bytes | None = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    timeout: float | None = None
    follow_redirects: bool = False  # only for key-less downloads: never re-send the key


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
class Sleep:
    """Wait ``seconds`` (a retry backoff or a poll interval)."""

    seconds: float


@dataclass(frozen=True)
class Offload:
    """Run ``function()`` (CPU or disk work); its value is sent back, its exception thrown in."""

    function: Callable[[], Any]


Operation = HttpCall | Sleep | Offload
Flow = Generator[Operation, Any, T]

_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _timeout(call: HttpCall, default: Any) -> Any:
    return default if call.timeout is None else call.timeout


def run_sync(flow: Flow[T], http: httpx.Client) -> T:
    """Drive ``flow`` to completion with a synchronous httpx client."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(op, HttpCall):
            started = time.perf_counter()
            try:
                response = http.request(op.method, op.url, **_request_options(op, http))
            except _RETRYABLE_TRANSPORT as exc:
                value = TransportFailure(exc)
            else:
                value = _reply(response, started)
        elif isinstance(op, Sleep):
            if op.seconds > 0:
                time.sleep(op.seconds)
        else:
            try:
                value = op.function()
            except Exception as exc:
                error = exc


def _request_options(op: HttpCall, http: httpx.Client | httpx.AsyncClient) -> dict[str, Any]:
    """Keyword arguments of ``http.request`` for ``op`` (shared by both drivers)."""
    return {
        "headers": dict(op.headers),
        "content": op.content,
        "params": op.params,
        "timeout": _timeout(op, http.timeout),
        "follow_redirects": op.follow_redirects,
    }


def _reply(response: httpx.Response, started: float) -> HttpReply:
    return HttpReply(
        response.status_code, response.headers, response.content, time.perf_counter() - started
    )


async def run_async(flow: Flow[T], http: httpx.AsyncClient) -> T:
    """Drive ``flow`` to completion with an asynchronous httpx client."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(op, HttpCall):
            started = time.perf_counter()
            try:
                response = await http.request(op.method, op.url, **_request_options(op, http))
            except _RETRYABLE_TRANSPORT as exc:
                value = TransportFailure(exc)
            else:
                value = _reply(response, started)
        elif isinstance(op, Sleep):
            if op.seconds > 0:
                await asyncio.sleep(op.seconds)
        else:
            try:
                value = await asyncio.to_thread(op.function)
            except Exception as exc:
                error = exc
