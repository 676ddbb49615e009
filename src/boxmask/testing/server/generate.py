"""``models/{m}:generateContent``, ``:streamGenerateContent`` (SSE), ``:countTokens`` and
``models`` get / list.

Any ``gemini-*`` model name is served (the fake's "model" is the same for all; Gemini 3
names get polygon masks and the media-resolution token budgets); other names are 404
``models/x is not found for API version v1beta, or is not supported for generateContent``.
"""

from __future__ import annotations

from typing import Any

from boxmask.testing.server.errors import RequestError, invalid, unknown_field
from boxmask.testing.server.exchange import Call, Reply
from boxmask.testing.server.files import page
from boxmask.testing.server.model import count_tokens, respond, run_model, stream_chunks
from boxmask.testing.server.wire import ModelRequest, parse_generate_content, read_contents

__all__ = ["count", "generate", "get_model", "list_models", "stream"]

#: The models ``models.list`` shows (any other ``gemini-*`` name works too).
CATALOGUE = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-flash-latest",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.5-flash",
    "gemini-robotics-er-2-preview",
)
_METHODS = ["generateContent", "streamGenerateContent", "countTokens", "batchGenerateContent"]


def check_model(model: str, version: str, method: str) -> str:
    """``model`` without its ``models/`` prefix, or a 404 as the service words it."""
    name = model.removeprefix("models/")
    if not name.startswith("gemini-"):
        raise RequestError(
            404,
            f"models/{name} is not found for API version {version}, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their "
            "supported methods.",
            "NOT_FOUND",
        )
    return name


def model_request(call: Call, method: str) -> ModelRequest:
    """The checked model call of a ``generateContent``-shaped request."""
    fake = call.fake
    model = check_model(call.parts["model"], call.version, method)
    req = parse_generate_content(call.json(), model, fake.resolve_image, fake.strict)
    if len(req.images) > fake.max_images:
        raise invalid(f"Too many images: {len(req.images)} > {fake.max_images}.")
    return req


def generate(call: Call) -> Reply:
    """``POST /{v}/models/{m}:generateContent``."""
    req = model_request(call, "generateContent")
    reply = run_model(req, mask_format=call.fake.mask_format, fault=call.fault)
    return Reply(200, respond(req, reply))


def stream(call: Call) -> Reply:
    """``POST /{v}/models/{m}:streamGenerateContent?alt=sse``: the answer in chunks, each a
    ``GenerateContentResponse`` (``data: {...}`` events); without ``alt=sse`` one JSON
    array of them, as the service answers."""
    req = model_request(call, "streamGenerateContent")
    reply = run_model(req, mask_format=call.fake.mask_format, fault=call.fault)
    chunks = stream_chunks(req, reply)
    if call.query.get("alt") != "sse":
        return Reply(200, list(chunks))
    return Reply(200, events=chunks)


def count(call: Call) -> Reply:
    """``POST /{v}/models/{m}:countTokens``: ``contents`` or a whole
    ``generateContentRequest``; ``totalTokens`` and ``promptTokensDetails``."""
    fake = call.fake
    model = check_model(call.parts["model"], call.version, "countTokens")
    body = call.json()
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    allowed = ("contents", "generateContentRequest", "generate_content_request")
    for key in body:
        if fake.strict and key not in allowed:
            raise unknown_field(key, "")
    inner = body.get("generateContentRequest") or body.get("generate_content_request")
    if isinstance(inner, dict):
        req = parse_generate_content(inner, model, fake.resolve_image, fake.strict)
    else:
        req = ModelRequest("generate_content", model)
        read_contents(body, req, fake.resolve_image, fake.strict)
    return Reply(200, count_tokens(req))


def model_json(name: str) -> dict[str, Any]:
    """The Model resource of ``name``."""
    gemini3 = "gemini-3" in name or name.endswith("-latest") or "robotics-er-2" in name
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name.replace("-", " ").title(),
        "description": "FakeGemini: segments coloured shapes on plain backgrounds.",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": _METHODS,
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": gemini3 or "2.5" in name,
    }


def get_model(call: Call) -> Reply:
    """``GET /{v}/models/{m}``."""
    return Reply(200, model_json(check_model(call.parts["model"], call.version, "get")))


def list_models(call: Call) -> Reply:
    """``GET /{v}/models``: the catalogue, paged (``pageSize`` 50 by default, 1000 at most)."""
    chunk, token = page(call, list(CATALOGUE), 50, 1000)
    out: dict[str, Any] = {"models": [model_json(name) for name in chunk]}
    if token:
        out["nextPageToken"] = token
    return Reply(200, out)
