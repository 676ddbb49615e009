"""What the fake service remembers: recorded requests, files, upload sessions, batch jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["BatchJob", "RecordedRequest", "StoredFile", "Upload", "stamp"]


def stamp(value: datetime) -> str:
    """An RFC 3339 UTC timestamp with microseconds, as the service writes them."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it (the API key is replaced by ``has_key``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = field(repr=False)
    endpoint: str
    has_key: bool

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class StoredFile:
    """A file the fake Files API holds (``source`` ``UPLOADED``, or ``GENERATED`` for the
    results of a batch job, which alone can be downloaded)."""

    id: str
    display_name: str | None
    mime_type: str
    data: bytes = field(repr=False)
    created: datetime
    expires: datetime
    state: str = "ACTIVE"
    polls_left: int = 0
    fails: bool = False
    source: str = "UPLOADED"

    @property
    def name(self) -> str:
        return f"files/{self.id}"


@dataclass
class Upload:
    """A resumable upload session."""

    declared: int
    mime_type: str
    display_name: str | None
    data: bytearray = field(default_factory=bytearray)
    file: StoredFile | None = None


@dataclass
class BatchJob:
    """A batch job: its requests (``(key or None, request body)``), whether they came
    inline (results inline) or from a file (results in a generated JSONL file), and where
    it is in its life (``state`` is a ``BATCH_STATE_*`` name)."""

    id: str
    model: str
    display_name: str
    requests: list[tuple[str | None, Any]] = field(repr=False)
    metadata: list[Any] = field(repr=False)
    inline: bool
    created: datetime
    state: str = "BATCH_STATE_PENDING"
    polls: int = 0
    updated: datetime | None = None
    ended: datetime | None = None
    output: dict[str, Any] | None = field(default=None, repr=False)
    succeeded: int = 0
    failed: int = 0

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES


#: Batch states after which a job never changes again.
TERMINAL_STATES = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)
