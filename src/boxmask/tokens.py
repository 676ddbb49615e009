"""Image token estimates for Gemini requests (an *estimate*: prefer the count the API returns).

Gemini 2.x (and unknown models): an image with both sides <= 384 px costs 258 tokens;
otherwise it is cut into square tiles of ``crop_unit = floor(min(width, height) / 1.5)``
pixels, clamped to 256..768, each tile 258 tokens:
``ceil(width / crop_unit) * ceil(height / crop_unit) * 258``. Google does not publish the
exact rounding; this is the clamped rule Vertex documents (see
``reference/gemini-api.md`` §5.3). With ``media_resolution`` ``"low"`` / ``"medium"`` a 2.x
model spends 64 / 256 tokens per image.

Gemini 3 models budget by media resolution instead: low 280, medium 560, high 1120 (the
default for images), ultra_high 2240 tokens per image, whatever the pixel size.

The real counts are in the response: ``usageMetadata.promptTokensDetails`` (generateContent)
or ``usage.input_tokens_by_modality`` (Interactions).
"""

from __future__ import annotations

import math
import re
from typing import Literal

__all__ = [
    "GEMINI3_BUDGETS",
    "TILE_TOKENS",
    "MediaResolution",
    "estimate",
    "is_gemini3",
    "text_tokens",
]

MediaResolution = Literal["low", "medium", "high", "ultra_high"]

#: Tokens per 768-px tile (and per small image) on Gemini 2.x.
TILE_TOKENS = 258
#: Tokens per image on Gemini 3, by media resolution.
GEMINI3_BUDGETS: dict[str, int] = {"low": 280, "medium": 560, "high": 1120, "ultra_high": 2240}
_GEMINI2_LOW_RES: dict[str, int] = {"low": 64, "medium": 256}
_SMALL_SIDE = 384
_MIN_TILE, _MAX_TILE = 256, 768

_MAJOR = re.compile(r"gemini-(\d+)")
_ROBOTICS = re.compile(r"robotics-er-(\d+)")


def is_gemini3(model: str) -> bool:
    """True for Gemini 3.x models (``gemini-3*``, ``gemini-*-latest``, Robotics-ER 2+)."""
    name = model.rsplit("/", 1)[-1].lower()
    robotics = _ROBOTICS.search(name)
    if robotics:
        return int(robotics.group(1)) >= 2
    if name.endswith("-latest"):
        return True
    major = _MAJOR.search(name)
    return bool(major and int(major.group(1)) >= 3)


def _normalize(media_resolution: str | None) -> str | None:
    if media_resolution is None:
        return None
    value = media_resolution.lower().removeprefix("media_resolution_")
    if value in ("", "unspecified"):
        return None
    if value not in GEMINI3_BUDGETS:
        raise ValueError(
            f"media_resolution must be one of {sorted(GEMINI3_BUDGETS)}, got {media_resolution!r}"
        )
    return value


def estimate(width: int, height: int, *, model: str, media_resolution: str | None = None) -> int:
    """Estimated input tokens for one ``width × height`` pixel image sent to ``model``.

    ``media_resolution`` is ``"low" | "medium" | "high" | "ultra_high"`` (also accepted as
    ``MEDIA_RESOLUTION_LOW`` …) or None for the model's default. An estimate: the exact
    tiling is unpublished, so use the token counts the response reports when you have them.
    """
    if isinstance(width, bool) or isinstance(height, bool) or width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive pixels, got {width}x{height}")
    level = _normalize(media_resolution)
    if is_gemini3(model):
        return GEMINI3_BUDGETS[level or "high"]
    if level in _GEMINI2_LOW_RES:
        return _GEMINI2_LOW_RES[level]
    if width <= _SMALL_SIDE and height <= _SMALL_SIDE:
        return TILE_TOKENS
    crop_unit = min(max(math.floor(min(width, height) / 1.5), _MIN_TILE), _MAX_TILE)
    return math.ceil(width / crop_unit) * math.ceil(height / crop_unit) * TILE_TOKENS


def text_tokens(text: str) -> int:
    """Rough text token count (about four characters a token), at least 1 for non-empty text."""
    return 0 if not text else max(1, math.ceil(len(text) / 4))
