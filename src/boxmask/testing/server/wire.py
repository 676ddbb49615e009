"""Reading model-call bodies the way the real service reads them.

``generateContent`` (camelCase or snake_case, as proto-JSON accepts both) and Interactions
``create`` (snake_case) bodies become one API-neutral :class:`ModelRequest`. Unknown fields
are answered as the proto-JSON parser answers them (400 ``Unknown name "x" at 'path'``),
bytes fields accept the standard and the URL-safe base64 alphabets (the official SDK sends
URL-safe), MIME types are checked against the image types the service accepts.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boxmask.testing.server.errors import invalid, unknown_field

__all__ = [
    "IMAGE_MIMES",
    "ModelRequest",
    "decode_bytes",
    "parse_generate_content",
    "parse_interaction",
]

IMAGE_MIMES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "image/gif",
     "image/bmp", "image/tiff"}
)  # fmt: skip


def _fields(*names: str) -> frozenset[str]:
    """Proto field names in both spellings proto-JSON accepts (lowerCamel and snake_case)."""
    snake = (re.sub(r"(?<!^)(?=[A-Z])", "_", n).lower() for n in names)
    return frozenset(names) | frozenset(snake)


GC_TOP = _fields(
    "model", "contents", "systemInstruction", "generationConfig", "safetySettings", "tools",
    "toolConfig", "cachedContent", "serviceTier", "store", "labels",
)  # fmt: skip
GC_CONFIG = _fields(
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
    "responseMimeType", "responseSchema", "responseJsonSchema", "_responseJsonSchema",
    "thinkingConfig", "mediaResolution", "seed", "responseModalities", "presencePenalty",
    "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
    "speechConfig", "imageConfig",
)  # fmt: skip
CONTENT = _fields("parts", "role")
PART = _fields(
    "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
    "codeExecutionResult", "thought", "thoughtSignature", "partMetadata", "videoMetadata",
    "mediaResolution",
)  # fmt: skip
BLOB = _fields("mimeType", "data", "displayName")
FILE_DATA = _fields("mimeType", "fileUri", "displayName")
IA_TOP = frozenset(
    {"model", "input", "system_instruction", "generation_config", "response_format",
     "response_mime_type", "response_modalities", "safety_settings", "tools",
     "previous_interaction_id", "store", "background", "stream", "service_tier", "labels"}
)  # fmt: skip
IA_CONFIG = frozenset(
    {"max_output_tokens", "seed", "stop_sequences", "thinking_level", "thinking_summaries",
     "tool_choice", "image_config", "speech_config", "transcription_config", "video_config"}
)  # fmt: skip


@dataclass
class ModelRequest:
    """A model call, API-neutral. ``images`` are (bytes, MIME type) pairs in request order."""

    api: str
    model: str
    texts: list[str] = field(default_factory=list)
    images: list[tuple[bytes, str]] = field(default_factory=list, repr=False)
    system: str = ""
    json_mode: bool = False
    schema: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    media_resolution: str | None = None
    store: bool = True
    echo: Any = None  # the Interactions input, kept for GET with include_input


Resolver = Callable[[str], tuple[bytes, str]]


def _check(obj: Any, allowed: frozenset[str], where: str, strict: bool) -> dict[str, Any]:
    """``obj`` as a JSON object of known fields (400 otherwise)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        at = where or "the request"
        raise invalid(f"Invalid JSON payload received. Expected an object at '{at}'.", field=where)
    if strict:
        for key in obj:
            if key not in allowed:
                raise unknown_field(key, where)
    return obj


def _get(obj: dict[str, Any], camel: str) -> Any:
    """The value of a field given in either spelling."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower())


def decode_bytes(value: Any, where: str) -> bytes:
    """A proto-JSON ``bytes`` value: standard or URL-safe base64, padding optional."""
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{where}' (TYPE_BYTES): expected a base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"Invalid value at '{where}' (TYPE_BYTES): invalid base64") from None


def _inline_image(mime: Any, data: Any, where: str) -> tuple[bytes, str]:
    if not isinstance(mime, str) or mime.lower() not in IMAGE_MIMES:
        raise invalid(f"Unsupported MIME type: {mime}")
    return decode_bytes(data, where), mime


def _uri_image(mime: Any, uri: Any, resolve: Resolver) -> tuple[bytes, str]:
    if not isinstance(uri, str) or not uri:
        raise invalid("* GenerateContentRequest: file_uri is required")
    data, stored_mime = resolve(uri)
    return data, str(mime or stored_mime)


def _read_part(part: Any, where: str, req: ModelRequest, resolve: Resolver, strict: bool) -> None:
    part = _check(part, PART, where, strict)
    if "text" in part:
        req.texts.append(str(part["text"]))
    inline = _get(part, "inlineData")
    if inline is not None:
        inline = _check(inline, BLOB, f"{where}.inline_data", strict)
        req.images.append(
            _inline_image(_get(inline, "mimeType"), inline.get("data"), f"{where}.inline_data.data")
        )
    ref = _get(part, "fileData")
    if ref is not None:
        ref = _check(ref, FILE_DATA, f"{where}.file_data", strict)
        req.images.append(_uri_image(_get(ref, "mimeType"), _get(ref, "fileUri"), resolve))
    level = _get(part, "mediaResolution")
    if isinstance(level, dict):
        level = level.get("level")
    if isinstance(level, str) and level.startswith("MEDIA_RESOLUTION_"):
        req.media_resolution = level.removeprefix("MEDIA_RESOLUTION_").lower()


def read_contents(body: dict[str, Any], req: ModelRequest, resolve: Resolver, strict: bool) -> None:
    """Append the texts and images of ``body["contents"]`` to ``req``."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        content = _check(content, CONTENT, f"contents[{i}]", strict)
        parts = content.get("parts") or []
        if not isinstance(parts, list):
            raise invalid(f"Invalid value at 'contents[{i}].parts': expected a list")
        for j, part in enumerate(parts):
            _read_part(part, f"contents[{i}].parts[{j}]", req, resolve, strict)


def parse_generate_content(body: Any, model: str, resolve: Resolver, strict: bool) -> ModelRequest:
    """Read a ``generateContent`` body (also one line of a batch) for ``model``."""
    body = _check(body, GC_TOP, "", strict)
    config = _check(_get(body, "generationConfig"), GC_CONFIG, "generation_config", strict)
    req = ModelRequest("generate_content", model)
    read_contents(body, req, resolve, strict)
    system = _get(body, "systemInstruction") or {}
    if isinstance(system, dict):
        req.system = " ".join(
            str(p.get("text", "")) for p in system.get("parts") or [] if isinstance(p, dict)
        )
    req.json_mode = _get(config, "responseMimeType") == "application/json"
    schema = _get(config, "responseJsonSchema") or _get(config, "responseSchema")
    req.schema = schema if isinstance(schema, dict) else None
    limit = _get(config, "maxOutputTokens")
    req.max_output_tokens = limit if isinstance(limit, int) and limit > 0 else None
    level = _get(config, "mediaResolution")
    if isinstance(level, str) and level.startswith("MEDIA_RESOLUTION_"):
        req.media_resolution = (
            req.media_resolution or level.removeprefix("MEDIA_RESOLUTION_").lower()
        )
    if req.media_resolution == "unspecified":
        req.media_resolution = None
    return req


def _interaction_blocks(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, dict):
        return [value]
    blocks: list[Any] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("type") == "user_input":
                blocks.extend(item.get("content") or [])
            elif isinstance(item, dict) and item.get("type") != "model_output":
                blocks.append(item)
    return blocks


def parse_interaction(body: Any, resolve: Resolver, strict: bool) -> ModelRequest:
    """Read an Interactions ``create`` body (input as a string, content, contents or steps)."""
    body = _check(body, IA_TOP, "", strict)
    config = _check(body.get("generation_config"), IA_CONFIG, "generation_config", strict)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required")
    req = ModelRequest("interactions", model, echo=body.get("input"))
    blocks = _interaction_blocks(body.get("input"))
    if not blocks:
        raise invalid("input is required")
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            req.texts.append(str(block.get("text", "")))
        elif kind == "image":
            if block.get("uri") is not None:
                req.images.append(_uri_image(block.get("mime_type"), block["uri"], resolve))
            else:
                req.images.append(
                    _inline_image(block.get("mime_type"), block.get("data"), f"input[{i}].data")
                )
            req.media_resolution = block.get("resolution") or req.media_resolution
        else:
            raise invalid(f"unsupported content type {kind!r}")
    req.system = str(body.get("system_instruction") or "")
    fmt = body.get("response_format")
    fmt = fmt[0] if isinstance(fmt, list) and fmt else fmt
    if isinstance(fmt, dict):
        req.json_mode = fmt.get("mime_type") == "application/json"
        req.schema = fmt.get("schema") if isinstance(fmt.get("schema"), dict) else None
    limit = config.get("max_output_tokens")
    req.max_output_tokens = limit if isinstance(limit, int) and limit > 0 else None
    req.store = bool(body.get("store", True))
    return req
