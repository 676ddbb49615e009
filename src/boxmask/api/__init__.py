"""The request layer: a thin, robust httpx client for the Gemini API.

``boxmask.Client`` / ``boxmask.AsyncClient`` (from :mod:`boxmask.api.client`) call the model;
:mod:`boxmask.api.files` is the Files API, :mod:`boxmask.api.images` picks MIME types and
encodes images (opened by :mod:`boxmask.images`), :mod:`boxmask.api.prompts` holds the
task prompts, :mod:`boxmask.api.retry` the retry rules, :mod:`boxmask.api.options` the
typed options and :mod:`boxmask.api.wire` the request/response shapes of both APIs.

The names below load on first use, so ``boxmask.api.defaults`` and
``boxmask.api.options`` are cheap to import; the clients load httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from boxmask.api.async_client import AsyncClient
    from boxmask.api.batch import Outcome
    from boxmask.api.cache import FileCache
    from boxmask.api.client import Client
    from boxmask.api.defaults import DEFAULT_BASE_URL, DEFAULT_MODEL
    from boxmask.api.files import File
    from boxmask.api.images import ImageRef
    from boxmask.api.options import UNSET, ClientOptions, TaskOptions
    from boxmask.api.prompts import TaskPrompt
    from boxmask.api.retry import RetryPolicy
    from boxmask.api.tasks import Response, SentImage
    from boxmask.api.wire import TextPart

_LAZY = {
    "DEFAULT_BASE_URL": "boxmask.api.defaults",
    "DEFAULT_MODEL": "boxmask.api.defaults",
    "UNSET": "boxmask.api.options",
    "AsyncClient": "boxmask.api.async_client",
    "Client": "boxmask.api.client",
    "ClientOptions": "boxmask.api.options",
    "File": "boxmask.api.files",
    "FileCache": "boxmask.api.cache",
    "ImageRef": "boxmask.api.images",
    "Outcome": "boxmask.api.batch",
    "Response": "boxmask.api.tasks",
    "RetryPolicy": "boxmask.api.retry",
    "SentImage": "boxmask.api.tasks",
    "TaskOptions": "boxmask.api.options",
    "TaskPrompt": "boxmask.api.prompts",
    "TextPart": "boxmask.api.wire",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "UNSET",
    "AsyncClient",
    "Client",
    "ClientOptions",
    "File",
    "FileCache",
    "ImageRef",
    "Outcome",
    "Response",
    "RetryPolicy",
    "SentImage",
    "TaskOptions",
    "TaskPrompt",
    "TextPart",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'boxmask.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
