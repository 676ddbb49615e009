"""The URL map: which handler answers a method and path, under both API versions.

Every API path exists under ``/v1/`` (the official SDK's default) and ``/v1beta/`` (and
``/v1alpha/``); uploads under ``/upload/{version}/files``, downloads under
``/{version}/files/{id}:download`` and ``/download/{version}/files/{id}:download``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import boxmask.testing.server.batches as batches
import boxmask.testing.server.files as files
import boxmask.testing.server.generate as generate
import boxmask.testing.server.interactions as interactions
from boxmask.testing.server.exchange import Call, Reply

__all__ = ["Route", "find_route"]

Handler = Callable[[Call], Reply]
_V = r"/(?P<version>v1|v1beta|v1alpha)"
_MODEL = r"(?P<model>[^/:]+)"
_ID = r"(?P<id>[^/:]+)"


@dataclass(frozen=True)
class Route:
    """A matched route: its fault/record ``endpoint`` name, handler and the path's parts."""

    endpoint: str
    handler: Handler | None
    parts: dict[str, str]
    version: str = "v1beta"


_TABLE: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (m, re.compile(p + r"\Z"), e, h)
    for m, p, e, h in [
        ("POST", _V + "/models/" + _MODEL + ":generateContent", "generate_content", generate.generate),
        ("POST", _V + "/models/" + _MODEL + ":streamGenerateContent", "generate_content", generate.stream),
        ("POST", _V + "/models/" + _MODEL + ":countTokens", "count_tokens", generate.count),
        ("POST", _V + "/models/" + _MODEL + ":batchGenerateContent", "batches", batches.create),
        ("GET", _V + "/models", "models", generate.list_models),
        ("GET", _V + "/models/" + _MODEL, "models", generate.get_model),
        ("POST", _V + "/interactions", "interactions", interactions.create),
        ("GET", _V + "/interactions/" + _ID, "interaction", interactions.get),
        ("DELETE", _V + "/interactions/" + _ID, "interaction", interactions.delete),
        ("POST", _V + "/interactions/" + _ID + "/cancel", "interaction", interactions.cancel),
        ("GET", _V + "/files", "files", files.list_files),
        ("GET", _V + "/files/" + _ID, "files", files.get),
        ("DELETE", _V + "/files/" + _ID, "files", files.delete),
        ("GET", _V + "/files/" + _ID + ":download", "download", files.download),
        ("GET", "/download" + _V + "/files/" + _ID + ":download", "download", files.download),
        ("GET", _V + "/batches", "batches", batches.list_batches),
        ("GET", _V + "/batches/" + _ID, "batches", batches.get),
        ("POST", _V + "/batches/" + _ID + ":cancel", "batches", batches.cancel),
        ("DELETE", _V + "/batches/" + _ID, "batches", batches.delete),
        ("GET", "/static/(?P<name>.+)", "static", files.static),
    ]
]  # fmt: skip
_UPLOAD = re.compile(r"/upload" + _V + r"/files\Z")


def find_route(method: str, path: str, query: dict[str, str]) -> Route:
    """The route of ``method path`` (``handler`` None: the service has no such method)."""
    upload = _UPLOAD.match(path)
    if upload and method == "POST":
        version = upload["version"]
        if "upload_id" in query:
            return Route("upload_chunk", files.upload_chunk, {}, version)
        return Route("upload_start", files.upload_start, {}, version)
    for wanted, pattern, endpoint, handler in _TABLE:
        match = pattern.match(path)
        if match and wanted == method:
            parts = {k: v for k, v in match.groupdict().items() if v is not None}
            return Route(endpoint, handler, parts, parts.pop("version", "v1beta"))
    return Route("unknown", None, {})
