"""boxmask: turn what Gemini-style vision models say about an image into pixels, masks,
datasets and pictures.

Core (always imported): :func:`parse`, :class:`Detections`, :class:`Masks`,
:class:`Problem`, the errors. Exports, drawing and the API client load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boxmask.detections import AnswerInfo, Detection, Detections
from boxmask.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BlockedError,
    BoxmaskError,
    ExportError,
    ImageError,
    InvalidApiKeyError,
    InvalidRequestError,
    MissingApiKeyError,
    NotFoundError,
    ParseError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    TruncatedError,
    UploadError,
)
from boxmask.masks.store import Masks
from boxmask.parse import parse
from boxmask.problems import Problem, ProblemKind

__version__ = "0.1.0"

# Heavier layers are imported lazily: ``import boxmask`` stays fast and does not load
# httpx, the exporters or the drawing code until they are used.
_LAZY = {
    "CocoDataset": "boxmask.export.coco",
    "YoloDataset": "boxmask.export.yolo",
    "image_size": "boxmask.images",
    "read_image": "boxmask.images",
    "draw": "boxmask.overlay",
    "save_overlay": "boxmask.overlay",
    "label_palette": "boxmask.overlay",
    "Palette": "boxmask.overlay",
    "Client": "boxmask.api.client",
    "AsyncClient": "boxmask.api.async_client",
}

if TYPE_CHECKING:  # pragma: no cover - typed names for checkers, loaded lazily at runtime
    from boxmask.api.async_client import AsyncClient
    from boxmask.api.client import Client
    from boxmask.export.coco import CocoDataset
    from boxmask.export.yolo import YoloDataset
    from boxmask.images import image_size, read_image
    from boxmask.overlay import Palette, draw, label_palette, save_overlay


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'boxmask' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, the lazily loaded ones included."""
    return sorted(set(__all__) | set(globals()))


__all__ = [
    "AnswerInfo",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BlockedError",
    "BoxmaskError",
    "Client",
    "CocoDataset",
    "Detection",
    "Detections",
    "ExportError",
    "ImageError",
    "InvalidApiKeyError",
    "InvalidRequestError",
    "Masks",
    "MissingApiKeyError",
    "NotFoundError",
    "Palette",
    "ParseError",
    "PermissionDeniedError",
    "Problem",
    "ProblemKind",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "TruncatedError",
    "UploadError",
    "YoloDataset",
    "__version__",
    "draw",
    "image_size",
    "label_palette",
    "parse",
    "read_image",
    "save_overlay",
]
