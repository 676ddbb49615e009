"""What :class:`~boxmask.Client` and :class:`~boxmask.AsyncClient` share: settings, the
request engine, the key, ``repr`` without secrets, and argument plumbing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from boxmask import __version__
from boxmask.api.cache import FileCache
from boxmask.api.defaults import DEFAULT_MODEL
from boxmask.api.http import Session
from boxmask.api.images import is_image_reference
from boxmask.api.options import ClientOptions, TaskOptions, with_keywords
from boxmask.api.tasks import Engine
from boxmask.api.wire import TextPart

__all__ = ["DEFAULT_MODEL", "USER_AGENT", "ClientBase", "parts_to_items", "task_options"]

USER_AGENT = f"boxmask/{__version__}"


class ClientBase:
    """Configuration shared by both clients (see :class:`Client` for the options)."""

    def __init__(
        self,
        api_key: str | None,
        options: ClientOptions | None,
        keywords: Mapping[str, Any],
    ) -> None:
        self.options = with_keywords(options or ClientOptions(), keywords)
        o = self.options
        self._session = Session(
            base_url=o.base_url, api_key=api_key, retry=o.retry_policy(), timeout=o.request_timeout
        )
        cache = o.file_cache
        if isinstance(cache, (str, os.PathLike)):
            cache = FileCache(cache)
        self._engine = Engine(
            self._session,
            model=o.model,
            api=o.api,
            inline_limit=o.inline_limit,
            chunk_size=o.upload_chunk_size,
            file_cache=cache,
            poll_interval=o.poll_interval,
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


def task_options(options: TaskOptions | None, keywords: Mapping[str, Any]) -> TaskOptions:
    """The options of one ``detect`` / ``segment`` / ``point`` call."""
    return with_keywords(options or TaskOptions(), keywords)


def parts_to_items(parts: Any) -> list[Any]:
    """Public ``generate`` parts → engine items: a ``str`` is text unless it is an image
    reference (a whole URL or ``files/…`` name, see
    :func:`~boxmask.api.images.is_image_reference`), as in ``ask``; the rest are images."""
    items = list(parts) if isinstance(parts, (list, tuple)) else [parts]
    return [TextPart(p) if isinstance(p, str) and not is_image_reference(p) else p for p in items]
