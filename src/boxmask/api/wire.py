"""Request and response shapes of the two Gemini APIs (reference/gemini-api.md §1, §2, §4.1).

Interactions (``POST /v1beta/interactions``) uses snake_case keys and lowercase enums;
generateContent (``POST /v1beta/models/{model}:generateContent``) uses lowerCamelCase keys
and UPPERCASE enums. This module only builds dicts and reads dicts: no I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from boxmask.envelopes import (
    ResponseText,
    read_generate_content,
    read_interaction,
)
from boxmask.tokens import is_gemini3

__all__ = [
    "API_KINDS",
    "Answer",
    "ErrorBody",
    "GenerationSettings",
    "ImagePart",
    "Part",
    "TextPart",
    "Thinking",
    "build_body",
    "endpoint_path",
    "parse_error_body",
    "read_answer",
    "request_json",
]

ApiKind = Literal["interactions", "generate_content"]
API_KINDS: tuple[str, ...] = ("interactions", "generate_content")
#: "off" / "minimal" / "low" / "medium" / "high", or a thinking budget in tokens.
Thinking = Literal["off", "minimal", "low", "medium", "high"] | int

_LEVELS = ("off", "minimal", "low", "medium", "high")
# Gemini 2.x thinking budgets standing in for levels (tokens; -1 is "dynamic").
_BUDGETS = {"off": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": -1}


@dataclass(frozen=True)
class TextPart:
    """A text part of the prompt."""

    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image part: inline ``data`` bytes, or a ``uri`` the service fetches (a Files API
    URI or a public URL). ``resolution`` is a per-image media resolution (Gemini 3)."""

    mime_type: str | None
    data: bytes | None = field(default=None, repr=False)
    uri: str | None = None
    resolution: str | None = None


Part = TextPart | ImagePart


@dataclass(frozen=True)
class GenerationSettings:
    """Everything besides the parts: see :meth:`boxmask.Client.generate`."""

    system_instruction: str | None = None
    schema: dict[str, Any] | None = None
    json_output: bool = False
    thinking: Thinking | None = None
    media_resolution: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None


def endpoint_path(api: str, model: str) -> str:
    """The request path (after the base URL) for a model call."""
    if api == "interactions":
        return "/v1beta/interactions"
    if api == "generate_content":
        return f"/v1beta/models/{model.removeprefix('models/')}:generateContent"
    raise ValueError(f"api must be one of {API_KINDS}, got {api!r}")


def _level(thinking: Thinking) -> str:
    """A thinking level for Interactions / Gemini 3 from a level or a budget."""
    if isinstance(thinking, bool):
        raise TypeError("thinking must be a level name or a token budget, not a bool")
    if isinstance(thinking, int):
        if thinking <= 0:
            return "minimal"
        return "low" if thinking <= 1024 else "medium" if thinking <= 8192 else "high"
    if thinking not in _LEVELS:
        raise ValueError(f"thinking must be one of {_LEVELS} or an int budget, got {thinking!r}")
    return "minimal" if thinking == "off" else thinking


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _interactions_body(model: str, parts: list[Part], s: GenerationSettings) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
            continue
        item: dict[str, Any] = {"type": "image"}
        if part.data is not None:
            item["data"] = _b64(part.data)
        else:
            item["uri"] = part.uri
        if part.mime_type:
            item["mime_type"] = part.mime_type
        resolution = part.resolution or s.media_resolution
        if resolution:
            item["resolution"] = resolution
        content.append(item)
    body: dict[str, Any] = {"model": model, "input": content, "store": False}
    if s.system_instruction:
        body["system_instruction"] = s.system_instruction
    config: dict[str, Any] = {}
    if s.max_output_tokens is not None:
        config["max_output_tokens"] = int(s.max_output_tokens)
    if s.thinking is not None:
        config["thinking_level"] = _level(s.thinking)
    if config:
        body["generation_config"] = config
    if s.schema is not None or s.json_output:
        fmt: dict[str, Any] = {"type": "text", "mime_type": "application/json"}
        if s.schema is not None:
            fmt["schema"] = s.schema
        body["response_format"] = fmt
    # temperature: removed from the Interactions generation_config (reference §1.4).
    return body


def _thinking_config(model: str, thinking: Thinking) -> dict[str, Any]:
    if is_gemini3(model):
        return {"thinkingLevel": _level(thinking).upper()}
    if isinstance(thinking, int) and not isinstance(thinking, bool):
        return {"thinkingBudget": int(thinking)}
    _level(thinking)  # validates the name
    budget = _BUDGETS[str(thinking)]
    if budget == 0 and "pro" in model:
        budget = 128  # 2.5 Pro cannot turn thinking off; 128 is its smallest budget
    return {"thinkingBudget": budget}


def _generate_content_body(model: str, parts: list[Part], s: GenerationSettings) -> dict[str, Any]:
    wire_parts: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            wire_parts.append({"text": part.text})
            continue
        item: dict[str, Any]
        if part.data is not None:
            item = {"inlineData": {"mimeType": part.mime_type, "data": _b64(part.data)}}
        else:
            file_data: dict[str, Any] = {"fileUri": part.uri}
            if part.mime_type:
                file_data["mimeType"] = part.mime_type
            item = {"fileData": file_data}
        if part.resolution:
            item["mediaResolution"] = {"level": f"MEDIA_RESOLUTION_{part.resolution.upper()}"}
        wire_parts.append(item)
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": wire_parts}]}
    if s.system_instruction:
        body["systemInstruction"] = {"parts": [{"text": s.system_instruction}]}
    config: dict[str, Any] = {}
    if s.temperature is not None:
        config["temperature"] = float(s.temperature)
    if s.max_output_tokens is not None:
        config["maxOutputTokens"] = int(s.max_output_tokens)
    if s.schema is not None or s.json_output:
        config["responseMimeType"] = "application/json"
        if s.schema is not None:
            config["responseJsonSchema"] = s.schema
    if s.thinking is not None:
        config["thinkingConfig"] = _thinking_config(model, s.thinking)
    if s.media_resolution and s.media_resolution != "ultra_high":
        config["mediaResolution"] = f"MEDIA_RESOLUTION_{s.media_resolution.upper()}"
    if config:
        body["generationConfig"] = config
    return body


def build_body(api: str, model: str, parts: list[Part], settings: GenerationSettings) -> bytes:
    """The JSON request body for a model call, encoded (UTF-8)."""
    body = request_json(api, model, parts, settings)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_json(
    api: str, model: str, parts: list[Part], settings: GenerationSettings
) -> dict[str, Any]:
    """The request body for a model call as a JSON-ready dict (a Batch API line's
    ``request`` is the ``generate_content`` one)."""
    if api == "interactions":
        body = _interactions_body(model, parts, settings)
    elif api == "generate_content":
        if settings.media_resolution == "ultra_high":  # per-part only on generateContent
            parts = [
                ImagePart(p.mime_type, p.data, p.uri, p.resolution or "ultra_high")
                if isinstance(p, ImagePart)
                else p
                for p in parts
            ]
        body = _generate_content_body(model, parts, settings)
    else:
        raise ValueError(f"api must be one of {API_KINDS}, got {api!r}")
    return body


# ------------------------------------------------------------------------ responses
#: What a model call returned, API-neutral (shared with :mod:`boxmask.envelopes`).
Answer = ResponseText


def read_answer(api: str, resp: Any) -> Answer:
    """Read a decoded response body of ``api``. Raises ValueError for a body of another shape."""
    if not isinstance(resp, dict):
        raise ValueError(f"expected a JSON object, got {type(resp).__name__}")
    if api == "interactions":
        if "steps" not in resp and "outputs" not in resp and "status" not in resp:
            raise ValueError("not an Interaction resource (no steps or status)")
        return read_interaction(resp)
    if "candidates" not in resp and "promptFeedback" not in resp:
        raise ValueError("not a generateContent response (no candidates or promptFeedback)")
    return read_generate_content(resp)


# --------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class ErrorBody:
    """A Google error body: ``{"error": {"code", "message", "status", "details"}}``."""

    message: str
    status: str | None = None
    code: int | None = None
    details: list[Any] = field(default_factory=list)

    @property
    def reason(self) -> str | None:
        """``google.rpc.ErrorInfo.reason`` (e.g. ``API_KEY_INVALID``), when present."""
        for detail in self.details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("ErrorInfo"):
                reason = detail.get("reason")
                return str(reason) if reason else None
        return None


def parse_error_body(body: bytes, reason_phrase: str = "") -> ErrorBody:
    """Read an error body, also list-wrapped (``[{"error": …}]``) or not JSON at all."""
    try:
        value: Any = json.loads(body.decode("utf-8", errors="replace")) if body else None
    except ValueError:
        value = None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        details = error.get("details")
        return ErrorBody(
            message=str(error.get("message") or reason_phrase or "no message"),
            status=str(error["status"]) if error.get("status") else None,
            code=code if isinstance(code, int) else None,
            details=details if isinstance(details, list) else [],
        )
    text = body.decode("utf-8", errors="replace").strip()
    text = " ".join(text.split())[:300]
    return ErrorBody(message=text or reason_phrase or "no message")
