"""The request layer: a thin, robust httpx client for the Gemini API.

``boxmask.Client`` / ``boxmask.AsyncClient`` (from :mod:`boxmask.api.client`) call the model;
:mod:`boxmask.api.files` is the Files API, :mod:`boxmask.api.images` reads images,
:mod:`boxmask.api.prompts` holds the task prompts, :mod:`boxmask.api.retry` the retry rules,
:mod:`boxmask.api.wire` the request/response shapes of both APIs. Importing this package
loads httpx; ``import boxmask`` alone does not.
"""

from __future__ import annotations

from boxmask.api.batch import Outcome
from boxmask.api.cache import FileCache
from boxmask.api.client import DEFAULT_MODEL, AsyncClient, Client
from boxmask.api.files import File
from boxmask.api.http import DEFAULT_BASE_URL
from boxmask.api.images import ImageRef
from boxmask.api.prompts import TaskPrompt
from boxmask.api.retry import RetryPolicy
from boxmask.api.tasks import Response, SentImage

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "AsyncClient",
    "Client",
    "File",
    "FileCache",
    "ImageRef",
    "Outcome",
    "Response",
    "RetryPolicy",
    "SentImage",
    "TaskPrompt",
]
