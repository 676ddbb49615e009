"""Which coordinate scale an answer uses: 0–1000 (Gemini, Qwen3-VL), 0–1, or pixels.

Gemini (and Qwen3-VL) give every coordinate normalized to 0–1000 over the image;
Qwen2.5-VL gives absolute pixels of the *resized* image it was shown; some pipelines
normalize to 0–1. :func:`resolve_scale` turns the caller's explicit ``coords=`` /
``model=`` choice into factors to 0–1000; :func:`guess_scale` reads an answer whose
caller did not choose, and says what it guessed (the guess always becomes a Problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["COORDS", "MODELS", "Scale", "guess_scale", "qwen_input_size", "resolve_scale"]

#: Accepted ``coords=`` values.
COORDS = ("auto", "0-1000", "0-1", "pixels")
#: Accepted ``model=`` values (the answer conventions boxmask knows).
MODELS = ("gemini", "qwen2.5-vl", "qwen3-vl")
#: Qwen2.5-VL's resize rule (``qwen_vl_utils.smart_resize`` defaults): sides are
#: multiples of 28 px and the area lies in [4·28², 16384·28²].
_QWEN_FACTOR = 28
_QWEN_MIN_PIXELS = 4 * 28 * 28
_QWEN_MAX_PIXELS = 16384 * 28 * 28


@dataclass(frozen=True)
class Scale:
    """Factors from the answer's numbers to 0–1000: ``x · sx`` and ``y · sy``."""

    sx: float
    sy: float
    name: str

    @property
    def identity(self) -> bool:
        return self.sx == 1.0 and self.sy == 1.0


UNIT_1000 = Scale(1.0, 1.0, "0-1000")
UNIT_1 = Scale(1000.0, 1000.0, "0-1")


def qwen_input_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` of the image Qwen2.5-VL sees for a ``width × height`` input
    (``smart_resize`` with its default bounds); its pixel coordinates refer to it."""
    h_bar = max(_QWEN_FACTOR, round(height / _QWEN_FACTOR) * _QWEN_FACTOR)
    w_bar = max(_QWEN_FACTOR, round(width / _QWEN_FACTOR) * _QWEN_FACTOR)
    if h_bar * w_bar > _QWEN_MAX_PIXELS:
        beta = math.sqrt(height * width / _QWEN_MAX_PIXELS)
        h_bar = math.floor(height / beta / _QWEN_FACTOR) * _QWEN_FACTOR
        w_bar = math.floor(width / beta / _QWEN_FACTOR) * _QWEN_FACTOR
    elif h_bar * w_bar < _QWEN_MIN_PIXELS:
        beta = math.sqrt(_QWEN_MIN_PIXELS / (height * width))
        h_bar = math.ceil(height * beta / _QWEN_FACTOR) * _QWEN_FACTOR
        w_bar = math.ceil(width * beta / _QWEN_FACTOR) * _QWEN_FACTOR
    return w_bar, h_bar


def _pixels(size: tuple[int, int]) -> Scale:
    w, h = size
    return Scale(1000.0 / w, 1000.0 / h, f"pixels of {w}x{h}")


def resolve_scale(
    coords: str,
    model: str | None,
    input_size: tuple[int, int] | None,
    width: int,
    height: int,
) -> Scale | None:
    """The caller's choice as a :class:`Scale`, or None when it is left to the answer
    (``coords="auto"`` and no ``model``). Raises ValueError for unknown names."""
    if coords not in COORDS:
        raise ValueError(f"coords must be one of {', '.join(COORDS)}; got {coords!r}")
    if model is not None and model.lower() not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if input_size is not None and (
        len(input_size) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in input_size)
    ):
        raise ValueError(f"input_size must be (width, height) in pixels; got {input_size!r}")
    if coords == "0-1000":
        return UNIT_1000
    if coords == "0-1":
        return UNIT_1
    if coords == "pixels":
        return _pixels(input_size or (width, height))
    if model is None:
        return _pixels(input_size) if input_size is not None else None
    if model.lower() == "qwen2.5-vl":
        return _pixels(input_size or qwen_input_size(width, height))
    return UNIT_1000


def guess_scale(largest: float, qwen_keys: bool, width: int, height: int) -> tuple[Scale, str]:
    """The scale of an answer whose caller chose none, from its largest coordinate, and
    a message saying what was seen and done ("" when it is the plain 0–1000 reading).

    ``qwen_keys``: the answer used Qwen's ``bbox_2d``/``point_2d`` keys, whose scale
    differs between Qwen2.5-VL (pixels) and Qwen3-VL (0–1000).
    """
    if 0.0 < largest <= 1.0:
        return UNIT_1, (
            f"every coordinate lies in 0-1 (largest {largest:g}): read as 0-1 normalized, "
            "not 0-1000; pass coords='0-1' to choose this, or coords='0-1000'"
        )
    if qwen_keys and largest > 1000.0:
        return _pixels((width, height)), (
            f"bbox_2d/point_2d values reach {largest:g}, past 1000: read as absolute pixels "
            f"of the {width}x{height} image; pass model='qwen2.5-vl' (with input_size= the "
            "size the model saw) or coords= to choose"
        )
    if qwen_keys:
        return UNIT_1000, (
            "bbox_2d/point_2d (Qwen style, x first) read as 0-1000 as Qwen3-VL gives them; "
            "pass model='qwen2.5-vl' for Qwen2.5-VL's absolute pixels, or model='qwen3-vl'"
        )
    return UNIT_1000, ""
