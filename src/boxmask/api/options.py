"""Client and task options: one typed object each.

:class:`ClientOptions` holds what a :class:`~boxmask.Client` is built with;
:class:`TaskOptions` what ``detect`` / ``segment`` / ``point`` take. Both are frozen
dataclasses: derive variants with :func:`dataclasses.replace`. The clients also take
every field as a keyword (typed by :class:`ClientKeywords` / :class:`TaskKeywords`,
which list the same names), so ``Client(timeout=30)`` and
``Client(options=ClientOptions(timeout=30))`` are the same client.

:data:`UNSET` marks a field the caller did not give, where ``None`` already means
something: ``timeout=None`` is "no limit", ``max_retries`` left UNSET keeps the
``retry`` policy's own count.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeVar

from boxmask.api.defaults import (
    CHUNK_SIZE,
    DEFAULT_INLINE_LIMIT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    default_base_url,
)
from boxmask.api.retry import RetryPolicy
from boxmask.api.wire import API_KINDS, Thinking

if TYPE_CHECKING:  # pragma: no cover
    from boxmask.api.cache import FileCache

__all__ = [
    "UNSET",
    "ClientKeywords",
    "ClientOptions",
    "TaskKeywords",
    "TaskOptions",
    "UnsetType",
    "with_keywords",
]


class UnsetType(enum.Enum):
    """The type of :data:`UNSET` (a one-member enum, so ``x is UNSET`` narrows types)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: "Not given": the field takes its default (see the module doc).
UNSET: Final = UnsetType.UNSET


@dataclass(frozen=True)
class ClientOptions:
    """How a client calls the service (see :class:`boxmask.Client` for each field).

    ``timeout`` is seconds for one whole HTTP request, first byte to last (None: no
    limit); ``max_retries`` overrides ``retry.max_retries`` when given;
    ``max_response_bytes`` caps the body of any answer.
    """

    model: str = DEFAULT_MODEL
    base_url: str = field(default_factory=default_base_url)
    api: str = "interactions"
    timeout: float | UnsetType | None = UNSET
    max_retries: int | UnsetType = UNSET
    retry: RetryPolicy | None = None
    inline_limit: int = DEFAULT_INLINE_LIMIT
    upload_chunk_size: int = CHUNK_SIZE
    file_cache: FileCache | str | os.PathLike[str] | None = None
    poll_interval: float = 0.5
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        if self.api not in API_KINDS:
            raise ValueError(f"api must be one of {API_KINDS}, got {self.api!r}")
        if self.max_response_bytes <= 0:
            raise ValueError("max_response_bytes must be a positive number of bytes")
        timeout = self.timeout
        if timeout is not None and timeout is not UNSET and timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds, or None")

    @property
    def request_timeout(self) -> float | None:
        """Seconds per whole request (:data:`~boxmask.api.defaults.DEFAULT_TIMEOUT` when UNSET)."""
        return DEFAULT_TIMEOUT if self.timeout is UNSET else self.timeout

    def retry_policy(self) -> RetryPolicy:
        """``retry`` (or the default policy) with ``max_retries`` applied when given."""
        policy = self.retry if self.retry is not None else RetryPolicy()
        if self.max_retries is UNSET:
            return policy
        return replace(policy, max_retries=self.max_retries)


class ClientKeywords(TypedDict, total=False):
    """The fields of :class:`ClientOptions`, as client keywords."""

    model: str
    base_url: str
    api: str
    timeout: float | None
    max_retries: int
    retry: RetryPolicy | None
    inline_limit: int
    upload_chunk_size: int
    file_cache: FileCache | str | os.PathLike[str] | None
    poll_interval: float
    max_response_bytes: int


@dataclass(frozen=True)
class TaskOptions:
    """What ``detect`` / ``segment`` / ``point`` take besides the image and the subject.

    - ``max_items``: cap on items (None: the task's default, 25 boxes or 10 points).
    - ``prompt``: replaces the user text (``{what}`` is filled in);
      ``system_instruction`` / ``schema`` / ``thinking`` replace the task's defaults
      (``""`` / ``{}`` remove them).
    - ``model``, ``media_resolution`` (``low|medium|high|ultra_high``),
      ``max_output_tokens``: as for ``generate``.
    - ``upload``: True forces the Files API, False forbids it, None decides by the
      client's ``inline_limit``.
    - ``allow_truncated``: return what is complete instead of raising TruncatedError.
    - ``threshold``: PNG masks are kept where the 0–255 value is above it (segment).
    """

    max_items: int | None = None
    prompt: str | None = None
    system_instruction: str | None = None
    schema: dict[str, Any] | None = None
    thinking: Thinking | None = None
    model: str | None = None
    media_resolution: str | None = None
    max_output_tokens: int | None = None
    upload: bool | None = None
    allow_truncated: bool = False
    threshold: int = 127


class TaskKeywords(TypedDict, total=False):
    """The fields of :class:`TaskOptions`, as ``detect`` / ``segment`` / ``point`` keywords."""

    max_items: int | None
    prompt: str | None
    system_instruction: str | None
    schema: dict[str, Any] | None
    thinking: Thinking | None
    model: str | None
    media_resolution: str | None
    max_output_tokens: int | None
    upload: bool | None
    allow_truncated: bool
    threshold: int


Options = TypeVar("Options", ClientOptions, TaskOptions)


def with_keywords(base: Options, keywords: Mapping[str, Any]) -> Options:
    """``base`` with the caller's keywords applied; an unknown keyword is a TypeError
    that names the known ones."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(keywords) - known)
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)} for {type(base).__name__}; "
            f"known: {', '.join(sorted(known))}"
        )
    return replace(base, **keywords) if keywords else base
