"""One request and its answer, as every endpoint handler sees them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from boxmask.testing.server.errors import invalid
from boxmask.testing.server.state import ServiceState

__all__ = ["Call", "Reply", "read_json"]


def read_json(body: bytes, where: str = "Invalid JSON payload received.") -> Any:
    """``body`` parsed as JSON (400 ``INVALID_ARGUMENT`` when it is not JSON, or nests
    too deep for the parser)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise invalid(f"{where} Message nesting is too deep.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"{where} {type(exc).__name__}: {str(exc)[:120]}") from None


@dataclass
class Call:
    """A routed request: the service state, method, path, API version (``v1`` /
    ``v1beta``), the path's named parts, query, headers, body and the model fault kind
    injected into it (``truncate`` …, or None)."""

    fake: ServiceState
    method: str
    path: str
    version: str
    parts: dict[str, str]
    query: dict[str, str]
    headers: Message[str, str]
    body: bytes
    fault: str | None = None

    def json(self) -> Any:
        """The body as JSON (``{}`` when empty)."""
        return read_json(self.body) if self.body.strip() else {}


@dataclass
class Reply:
    """An answer: status, headers and a JSON ``payload`` (or raw bytes), or ``events``: a
    stream sent as Server-Sent Events (``sse_event_names``: also an ``event:`` line with
    each event's ``event_type``; ``sse_done``: end with ``data: [DONE]``)."""

    status: int = 200
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: Iterator[dict[str, Any]] | None = None
    sse_event_names: bool = False
    sse_done: bool = False
