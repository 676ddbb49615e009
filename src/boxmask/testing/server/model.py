"""The fake's "model": answer a :class:`ModelRequest` by looking at its images, and write the
reply as each API's response body (whole, or as the chunks of a stream).

Answers come from :mod:`boxmask.testing.scenes` (colour segmentation of the first image) in
Gemini's formats; usage is counted with :func:`boxmask.tokens.estimate`, the estimator the
client documents (the guide's image token rules: 258 tokens per 768 px tile on 2.x, the
media-resolution budget on Gemini 3).
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
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
from boxmask.testing.server.wire import ModelRequest
from boxmask.tokens import estimate, is_gemini3, text_tokens

__all__ = ["ModelReply", "count_tokens", "respond", "run_model", "stream_chunks"]

_CAP = re.compile(r"(?:limit to|no more than|at most)\s+(\d+)", re.I)


@dataclass
class ModelReply:
    """The model's answer: text, finish reason, block reason and token counts."""

    text: str
    finish: str
    block_reason: str | None
    image_tokens: int
    text_tokens: int
    output_tokens: int


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


def _size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return (384, 384)


def image_tokens(req: ModelRequest) -> int:
    """Input tokens of ``req``'s images (the guide's rules, see :mod:`boxmask.tokens`)."""
    return sum(
        estimate(*_size(data), model=req.model, media_resolution=req.media_resolution)
        for data, _ in req.images
    )


def count_tokens(req: ModelRequest) -> dict[str, Any]:
    """The ``countTokens`` answer for ``req``: total and per-modality prompt tokens."""
    images = image_tokens(req)
    texts = text_tokens(" ".join(req.texts) + req.system)
    details = [{"modality": "TEXT", "tokenCount": texts}]
    if req.images:
        details.append({"modality": "IMAGE", "tokenCount": images})
    return {"totalTokens": images + texts, "promptTokensDetails": details}


def _task_text(req: ModelRequest, prompt: str, pixels: list[Any], mask_format: str | None) -> str:
    """The answer text: spatial items for a mask/point/box prompt, else a caption."""
    lowered = prompt.lower()
    if req.images and ("mask" in lowered or "point" in lowered or "bounding box" in lowered):
        rgb = pixels[0]
        items: list[dict[str, Any]] = []
        if rgb is not None:
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
        return body if req.json_mode else f"```json\n{body}\n```"
    sentences = []
    for number, rgb in enumerate(pixels, start=1):
        if rgb is None:
            sentences.append(f"Image {number} could not be decoded.")
            continue
        found = find_regions(rgb)
        sentences.append(f"Image {number}: {caption(found, rgb.shape[1], rgb.shape[0])}")
    return " ".join(sentences) or f"You said: {prompt[:200]}"


def run_model(req: ModelRequest, *, mask_format: str | None, fault: str | None) -> ModelReply:
    """Answer ``req``: the task comes from the prompt words (mask → segmentation, point,
    bounding box → detection, else a caption of every image). ``fault``: ``truncate``,
    ``block`` or ``finish_block`` (see the server's fault kinds)."""
    prompt = " ".join(req.texts)
    images = image_tokens(req)
    in_text = text_tokens(prompt + req.system)
    if fault == "block":
        return ModelReply("", "", "SAFETY", images, in_text, 0)
    text = _task_text(req, prompt, [_decode(data) for data, _ in req.images], mask_format)
    finish = "STOP"
    limit = req.max_output_tokens
    if fault == "truncate" or (limit is not None and text_tokens(text) > limit):
        keep = min(len(text) * 3 // 5, 4 * limit) if limit is not None else len(text) * 3 // 5
        text, finish = text[:keep], "MAX_TOKENS"
    if fault == "finish_block":
        return ModelReply("", "SAFETY", "SAFETY", images, in_text, 0)
    return ModelReply(text, finish, None, images, in_text, text_tokens(text))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gc_usage(req: ModelRequest, reply: ModelReply, output_tokens: int | None) -> dict[str, Any]:
    prompt_tokens = reply.image_tokens + reply.text_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "totalTokenCount": prompt_tokens + (output_tokens or 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.text_tokens}]
        + ([{"modality": "IMAGE", "tokenCount": reply.image_tokens}] if req.images else []),
    }
    if output_tokens is not None:
        usage["candidatesTokenCount"] = output_tokens
    return usage


def _gc_body(
    req: ModelRequest,
    reply: ModelReply,
    text: str,
    finish: str | None,
    response_id: str,
    out_tokens: int | None = None,
) -> dict[str, Any]:
    """One ``GenerateContentResponse`` holding ``text`` (``out_tokens``: the candidates'
    tokens so far, the reply's when None)."""
    common = {"modelVersion": req.model.removeprefix("models/"), "responseId": response_id}
    if reply.block_reason and not reply.finish:
        return {
            "promptFeedback": {"blockReason": reply.block_reason},
            "usageMetadata": _gc_usage(req, reply, None),
            **common,
        }
    candidate: dict[str, Any] = {"index": 0}
    if text:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish:
        candidate["finishReason"] = finish
    out_tokens = reply.output_tokens if out_tokens is None else out_tokens
    return {"candidates": [candidate], "usageMetadata": _gc_usage(req, reply, out_tokens), **common}


def respond(req: ModelRequest, reply: ModelReply) -> dict[str, Any]:
    """The response body of ``req``'s API for ``reply``."""
    if req.api == "generate_content":
        return _gc_body(req, reply, reply.text, reply.finish, secrets.token_urlsafe(9))
    return interaction_body(req, reply)


def stream_chunks(
    req: ModelRequest, reply: ModelReply, pieces: int = 3
) -> Iterator[dict[str, Any]]:
    """The ``streamGenerateContent`` chunks for ``reply``, as the service sends them: each a
    ``GenerateContentResponse`` with the next piece of text, the same ``responseId``, usage so
    far; only the last carries ``finishReason`` (a blocked prompt is one chunk)."""
    response_id = secrets.token_urlsafe(9)
    text = reply.text
    if (reply.block_reason and not reply.finish) or not text:
        yield _gc_body(req, reply, text, reply.finish, response_id)
        return
    size = max(1, -(-len(text) // pieces))
    starts = list(range(0, len(text), size))
    for number, start in enumerate(starts, start=1):
        last = number == len(starts)
        piece, so_far = text[start : start + size], text_tokens(text[: start + size])
        finish = reply.finish if last else None
        yield _gc_body(req, reply, piece, finish, response_id, None if last else so_far)


def interaction_body(req: ModelRequest, reply: ModelReply) -> dict[str, Any]:
    """The Interaction resource for ``reply``."""
    prompt_tokens = reply.image_tokens + reply.text_tokens
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


def interaction_events(interaction: dict[str, Any], pieces: int = 3) -> Iterator[dict[str, Any]]:
    """The SSE events of a streamed interaction: ``interaction.created``, then per step
    ``step.start`` / ``step.delta``… / ``step.stop``, then ``interaction.completed`` with the
    usage (the caller ends the stream with ``[DONE]``)."""
    head = {k: interaction[k] for k in ("id", "model", "created", "updated")}
    yield {"event_type": "interaction.created", "interaction": {**head, "status": "in_progress"}}
    for index, step in enumerate(interaction["steps"]):
        if step["type"] != "model_output":
            yield {"event_type": "step.start", "index": index, "step": step}
            yield {"event_type": "step.stop", "index": index}
            continue
        yield {"event_type": "step.start", "index": index, "step": {**step, "content": []}}
        for block in step["content"]:
            text = block.get("text", "")
            size = max(1, -(-len(text) // pieces))
            for start in range(0, len(text), size):
                delta = {"type": "text", "text": text[start : start + size]}
                yield {"event_type": "step.delta", "index": index, "delta": delta}
        yield {"event_type": "step.stop", "index": index}
    final = {**head, "status": interaction["status"], "usage": interaction["usage"]}
    yield {"event_type": "interaction.completed", "interaction": final}
