"""The fake server's model calls: read a request of either API, answer it, write the response.

Requests are checked the way the real service checks them (unknown fields, MIME types,
base64, image counts); answers come from :mod:`boxmask.testing.scenes` (colour
segmentation of the first image) in Gemini's formats; usage is counted with
:func:`boxmask.tokens.estimate`, the same estimator the client documents.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from boxmask.testing.scenes import (
    boxes_answer,
    caption,
    find_regions,
    masks_answer,
    points_answer,
    select_regions,
)
from boxmask.tokens import estimate, is_gemini3, text_tokens

__all__ = ["ModelReply", "ModelRequest", "RequestError", "respond", "run_model"]

IMAGE_MIMES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
        "image/gif",
        "image/bmp",
        "image/tiff",
    }
)
GC_TOP = frozenset(
    {
        "contents",
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
        "safetySettings",
        "safety_settings",
        "tools",
        "toolConfig",
        "cachedContent",
        "serviceTier",
    }
)
GC_CONFIG = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
        "mediaResolution",
        "seed",
        "responseModalities",
    }
)
IA_TOP = frozenset(
    {
        "model",
        "input",
        "system_instruction",
        "generation_config",
        "response_format",
        "response_mime_type",
        "response_modalities",
        "safety_settings",
        "tools",
        "previous_interaction_id",
        "store",
        "background",
        "stream",
        "service_tier",
        "labels",
    }
)
IA_CONFIG = frozenset(
    {
        "max_output_tokens",
        "seed",
        "stop_sequences",
        "thinking_level",
        "thinking_summaries",
        "tool_choice",
        "image_config",
        "speech_config",
        "transcription_config",
        "video_config",
    }
)
_CAP = re.compile(r"(?:limit to|no more than|at most)\s+(\d+)", re.I)


class RequestError(Exception):
    """An error answer: HTTP ``status``, Google ``error_status`` and message."""

    def __init__(
        self,
        status: int,
        message: str,
        error_status: str,
        *,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_status = error_status
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": self.error_status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str) -> RequestError:
    return RequestError(400, message, "INVALID_ARGUMENT")


@dataclass
class ModelRequest:
    """A model call, API-neutral."""

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


@dataclass
class ModelReply:
    """The model's answer: text, finish reason, block reason and token counts."""

    text: str
    finish: str
    block_reason: str | None
    image_tokens: int
    text_tokens: int
    output_tokens: int


Resolver = Callable[[str], tuple[bytes, str]]


def _unknown(keys: Any, allowed: frozenset[str], where: str, strict: bool) -> None:
    if not strict or not isinstance(keys, dict):
        return
    for key in keys:
        if key not in allowed:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )


def _image(
    mime: Any, data_b64: Any = None, uri: Any = None, *, resolve: Resolver
) -> tuple[bytes, str]:
    if uri is not None:
        data, stored_mime = resolve(str(uri))
        return data, str(mime or stored_mime)
    if not isinstance(mime, str) or mime.lower() not in IMAGE_MIMES:
        raise invalid(f"Unsupported MIME type: {mime}")
    try:
        return base64.b64decode(str(data_b64), validate=True), mime
    except (binascii.Error, ValueError):
        raise invalid("Invalid value at 'data' (TYPE_BYTES): invalid base64") from None


def parse_generate_content(body: Any, model: str, resolve: Resolver, strict: bool) -> ModelRequest:
    """Read a generateContent body (camelCase or snake_case parts)."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received: expected an object.")
    _unknown(body, GC_TOP, "", strict)
    config = body.get("generationConfig", body.get("generation_config")) or {}
    _unknown(config, GC_CONFIG, "generation_config", strict)
    req = ModelRequest("generate_content", model)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    for content in contents:
        for part in (content or {}).get("parts") or []:
            if "text" in part:
                req.texts.append(str(part["text"]))
            elif "inlineData" in part or "inline_data" in part:
                inline = part.get("inlineData") or part.get("inline_data") or {}
                mime = inline.get("mimeType", inline.get("mime_type"))
                req.images.append(_image(mime, inline.get("data"), resolve=resolve))
            elif "fileData" in part or "file_data" in part:
                ref = part.get("fileData") or part.get("file_data") or {}
                uri = ref.get("fileUri", ref.get("file_uri"))
                req.images.append(_image(ref.get("mimeType"), uri=uri, resolve=resolve))
    system = body.get("systemInstruction", body.get("system_instruction")) or {}
    req.system = " ".join(str(p.get("text", "")) for p in system.get("parts", []))
    req.json_mode = config.get("responseMimeType") == "application/json"
    req.schema = config.get("responseJsonSchema") or config.get("responseSchema")
    req.max_output_tokens = config.get("maxOutputTokens")
    level = config.get("mediaResolution")
    if isinstance(level, str) and level.startswith("MEDIA_RESOLUTION_"):
        req.media_resolution = level.removeprefix("MEDIA_RESOLUTION_").lower()
    return req


def parse_interaction(body: Any, resolve: Resolver, strict: bool) -> ModelRequest:
    """Read an Interactions create body (input as a string, content, contents or steps)."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received: expected an object.")
    _unknown(body, IA_TOP, "", strict)
    config = body.get("generation_config") or {}
    _unknown(config, IA_CONFIG, "generation_config", strict)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required")
    req = ModelRequest("interactions", model, echo=body.get("input"))
    blocks: list[Any] = []
    value = body.get("input")
    if isinstance(value, str):
        blocks = [{"type": "text", "text": value}]
    elif isinstance(value, dict):
        blocks = [value]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("type") == "user_input":
                blocks.extend(item.get("content") or [])
            elif isinstance(item, dict) and item.get("type") != "model_output":
                blocks.append(item)
    if not blocks:
        raise invalid("input is required")
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            req.texts.append(str(block.get("text", "")))
        elif kind == "image":
            mime = block.get("mime_type")
            req.images.append(
                _image(mime, block.get("data"), uri=block.get("uri"), resolve=resolve)
            )
            req.media_resolution = block.get("resolution") or req.media_resolution
        else:
            raise invalid(f"unsupported content type {kind!r}")
    req.system = str(body.get("system_instruction") or "")
    fmt = body.get("response_format")
    fmt = fmt[0] if isinstance(fmt, list) and fmt else fmt
    if isinstance(fmt, dict):
        req.json_mode = fmt.get("mime_type") == "application/json"
        req.schema = fmt.get("schema")
    req.max_output_tokens = config.get("max_output_tokens")
    req.store = bool(body.get("store", True))
    return req


def _decode(data: bytes) -> np.ndarray[Any, Any] | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:
        return None


def _cap(req: ModelRequest, text: str) -> int:
    if req.schema and isinstance(req.schema.get("maxItems"), int):
        return int(req.schema["maxItems"])
    match = _CAP.search(text)
    return int(match.group(1)) if match else 100


def run_model(req: ModelRequest, *, mask_format: str | None, fault: str | None) -> ModelReply:
    """Answer ``req``: the task comes from the prompt words (mask → segmentation, point,
    bounding box → detection, else a caption of every image)."""
    prompt = " ".join(req.texts)
    image_tokens = sum(
        estimate(*_size(data), model=req.model, media_resolution=req.media_resolution)
        for data, _ in req.images
    )
    in_text = text_tokens(prompt + req.system)
    if fault == "block":
        return ModelReply("", "", "SAFETY", image_tokens, in_text, 0)
    lowered = prompt.lower()
    pixels = [_decode(data) for data, _ in req.images]
    if req.images and ("mask" in lowered or "point" in lowered or "bounding box" in lowered):
        rgb = pixels[0]
        if rgb is None:
            items: list[dict[str, Any]] = []
        else:
            height, width = rgb.shape[:2]
            regions = select_regions(find_regions(rgb), prompt)[: _cap(req, prompt + req.system)]
            if "mask" in lowered:
                fmt = mask_format or ("polygon" if is_gemini3(req.model) else "png")
                items = masks_answer(regions, width, height, mask_format=fmt)
            elif "point" in lowered:
                items = points_answer(regions, width, height)
            else:
                items = boxes_answer(regions, width, height)
        body = json.dumps(items, indent=2)
        text = body if req.json_mode else f"```json\n{body}\n```"
    else:
        sentences = []
        for number, rgb in enumerate(pixels, start=1):
            if rgb is None:
                sentences.append(f"Image {number} could not be decoded.")
                continue
            found = find_regions(rgb)
            sentences.append(f"Image {number}: {caption(found, rgb.shape[1], rgb.shape[0])}")
        text = " ".join(sentences) or f"You said: {prompt[:200]}"
    finish = "STOP"
    limit = req.max_output_tokens
    if fault == "truncate" or (limit is not None and text_tokens(text) > limit):
        keep = min(len(text) * 3 // 5, 4 * limit) if limit is not None else len(text) * 3 // 5
        text, finish = text[:keep], "MAX_TOKENS"
    if fault == "finish_block":
        return ModelReply("", "SAFETY", "SAFETY", image_tokens, in_text, 0)
    return ModelReply(text, finish, None, image_tokens, in_text, text_tokens(text))


def _size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return (384, 384)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def respond(req: ModelRequest, reply: ModelReply) -> dict[str, Any]:
    """The response body of ``req``'s API for ``reply``."""
    prompt_tokens = reply.image_tokens + reply.text_tokens
    if req.api == "generate_content":
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_tokens,
            "totalTokenCount": prompt_tokens + reply.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.text_tokens}]
            + ([{"modality": "IMAGE", "tokenCount": reply.image_tokens}] if req.images else []),
        }
        common = {"modelVersion": req.model, "responseId": secrets.token_urlsafe(9)}
        if reply.block_reason and not reply.finish:
            return {
                "promptFeedback": {"blockReason": reply.block_reason},
                "usageMetadata": usage,
                **common,
            }
        usage["candidatesTokenCount"] = reply.output_tokens
        candidate: dict[str, Any] = {"finishReason": reply.finish, "index": 0}
        if reply.text:
            candidate["content"] = {"role": "model", "parts": [{"text": reply.text}]}
        return {"candidates": [candidate], "usageMetadata": usage, **common}
    status = {"STOP": "completed", "MAX_TOKENS": "incomplete"}.get(reply.finish, "failed")
    body: dict[str, Any] = {
        "id": "v1_" + secrets.token_urlsafe(12),
        "status": status,
        "model": req.model,
        "created": _now(),
        "updated": _now(),
        "steps": [],
        "usage": {
            "total_input_tokens": prompt_tokens,
            "input_tokens_by_modality": [{"modality": "text", "tokens": reply.text_tokens}]
            + ([{"modality": "image", "tokens": reply.image_tokens}] if req.images else []),
            "total_output_tokens": reply.output_tokens,
            "total_thought_tokens": 0,
            "total_tokens": prompt_tokens + reply.output_tokens,
        },
    }
    if reply.block_reason:
        body["errors"] = [{"code": "blocked", "message": f"Blocked: {reply.block_reason}"}]
        body["steps"] = [{"type": "model_output", "content": []}]
    else:
        body["steps"] = [
            {"type": "thought", "signature": base64.b64encode(b"fake").decode()},
            {"type": "model_output", "content": [{"type": "text", "text": reply.text}]},
        ]
    return body
