"""What :class:`~boxmask.Client` and :class:`~boxmask.AsyncClient` share: settings, the
request engine, the key, ``repr`` without secrets, and argument plumbing."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from boxmask import __version__
from boxmask.api.cache import FileCache
from boxmask.api.files import CHUNK_SIZE, File
from boxmask.api.http import DEFAULT_BASE_URL, Session
from boxmask.api.retry import RetryPolicy
from boxmask.api.tasks import DEFAULT_INLINE_LIMIT, Engine
from boxmask.api.transport import Flow
from boxmask.api.wire import TextPart, Thinking

__all__ = ["DEFAULT_MODEL", "USER_AGENT", "ClientBase", "parts_to_items", "spatial_options"]

DEFAULT_MODEL = "gemini-2.5-flash"
USER_AGENT = f"boxmask/{__version__}"


class ClientBase:
    """Configuration shared by both clients (see :class:`Client` for the arguments)."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api: str = "interactions",
        timeout: float | None = 300.0,
        max_retries: int = 4,
        retry: RetryPolicy | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        upload_chunk_size: int = CHUNK_SIZE,
        file_cache: FileCache | str | os.PathLike[str] | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        policy = RetryPolicy() if retry is None else retry
        if retry is None or max_retries != 4:
            policy = RetryPolicy(
                max_retries=max_retries,
                initial_delay=policy.initial_delay,
                exp_base=policy.exp_base,
                max_delay=policy.max_delay,
                max_elapsed=policy.max_elapsed,
                statuses=policy.statuses,
            )
        self._session = Session(base_url=base_url, api_key=api_key, retry=policy, timeout=timeout)
        cache = FileCache(file_cache) if isinstance(file_cache, (str, os.PathLike)) else file_cache
        self._engine = Engine(
            self._session,
            model=model,
            api=api,
            inline_limit=inline_limit,
            chunk_size=upload_chunk_size,
            file_cache=cache,
            poll_interval=poll_interval,
        )

    @property
    def model(self) -> str:
        """The default model for calls that name none."""
        return self._engine.model

    @property
    def api(self) -> str:
        """``"interactions"`` or ``"generate_content"``."""
        return self._engine.api

    @property
    def base_url(self) -> str:
        """The service root (``/v1beta/...`` and ``/upload/v1beta/...`` are appended)."""
        return self._session.base_url

    @property
    def file_cache(self) -> FileCache:
        """The sha256 → uploaded-file cache."""
        return self._engine.cache

    def __repr__(self) -> str:
        has_key = "given" if self._session.api_key else "from environment"
        return (
            f"{type(self).__name__}(model={self.model!r}, api={self.api!r}, "
            f"base_url={self.base_url!r}, api_key={has_key})"
        )

    def _upload_flow(
        self, source: Any, mime_type: str | None, display_name: str | None, *, cache: bool
    ) -> Flow[File]:
        return self._engine.upload_source(source, mime_type, display_name, cache=cache)

    def _forget_file(self, name: str) -> None:
        with contextlib.suppress(Exception):  # no key: nothing could have been cached
            self._engine.cache.forget(self._engine.account(), name=name)


def spatial_options(
    max_items: int | None,
    prompt: str | None,
    system_instruction: str | None,
    schema: dict[str, Any] | None,
    thinking: Thinking | None,
    model: str | None,
    media_resolution: str | None,
    max_output_tokens: int | None,
    upload: bool | None,
    allow_truncated: bool,
) -> dict[str, Any]:
    return {
        "max_items": max_items,
        "prompt": prompt,
        "system_instruction": system_instruction,
        "schema": schema,
        "thinking": thinking,
        "model": model,
        "media_resolution": media_resolution,
        "max_output_tokens": max_output_tokens,
        "upload": upload,
        "allow_truncated": allow_truncated,
    }


def parts_to_items(parts: Any) -> list[Any]:
    """Public ``generate`` parts → engine items (``str`` → text part, the rest images)."""
    items = list(parts) if isinstance(parts, (list, tuple)) else [parts]
    return [TextPart(p) if isinstance(p, str) else p for p in items]
