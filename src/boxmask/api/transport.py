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
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from boxmask.api.exchange import (
    HttpCall,
    HttpReply,
    Limits,
    TransportFailure,
    send_async,
    send_sync,
)

__all__ = [
    "Flow",
    "HttpCall",
    "HttpReply",
    "Limits",
    "Offload",
    "Sleep",
    "TransportFailure",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


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


def run_sync(flow: Flow[T], http: httpx.Client, limits: Limits | None = None) -> T:
    """Drive ``flow`` to completion with a synchronous httpx client; every HTTP call is
    bounded by ``limits`` (see :mod:`boxmask.api.exchange`)."""
    bounds = limits or Limits(timeout=_seconds(http.timeout))
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(op, HttpCall):
                value = send_sync(http, op, bounds)
            elif isinstance(op, Sleep):
                if op.seconds > 0:
                    time.sleep(op.seconds)
            else:
                value = op.function()
        except Exception as exc:
            error = exc


async def run_async(flow: Flow[T], http: httpx.AsyncClient, limits: Limits | None = None) -> T:
    """Drive ``flow`` to completion with an asynchronous httpx client (offloads run on a
    thread so image encoding and mask decoding never block the event loop)."""
    bounds = limits or Limits(timeout=_seconds(http.timeout))
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(op, HttpCall):
                value = await send_async(http, op, bounds)
            elif isinstance(op, Sleep):
                if op.seconds > 0:
                    await asyncio.sleep(op.seconds)
            else:
                value = await asyncio.to_thread(op.function)
        except Exception as exc:
            error = exc


def _seconds(timeout: httpx.Timeout) -> float | None:
    """The longest of an httpx timeout's parts (a whole-request bound for its client)."""
    parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return max(parts) if parts else None
