"""Overlays as files: the fast encode path (JPEG by default, fast lossless PNG on request).

Encoding decides what an overlay costs in a batch: a 600×400 photo takes ~75-130 ms as
PNG at zlib level 6 (what most tools write), ~0.6× that at level 1, but ~1 ms as JPEG
(``benchmarks/bench_overlay.py`` measures all three; photo noise defeats zlib). So
overlays are JPEG (quality 90) unless a ``.png`` (lossless, level 1) or ``.webp`` name
asks otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy.typing as npt

from boxmask.detections import Detections
from boxmask.image_encode import encode_image, encoder_for
from boxmask.images import Channels, ImageSource
from boxmask.io import atomic_write_bytes
from boxmask.overlay.render import Overlay, render

__all__ = [
    "DEFAULT_SUFFIX",
    "JPEG_QUALITY",
    "PNG_LEVEL",
    "check_suffix",
    "encode_overlay",
    "overlay_bytes",
    "save_overlay",
]

#: The overlay format when none is asked for: JPEG, right for photographs.
DEFAULT_SUFFIX = ".jpg"
JPEG_QUALITY = 90
#: zlib level for PNG overlays: on photos ~0.6x the time of level 6, slightly larger.
PNG_LEVEL = 1


def check_suffix(path: str | os.PathLike[str]) -> str:
    """The encoder for ``path``'s suffix; raises :class:`~boxmask.ExportError` for a
    suffix boxmask cannot write (call it before drawing, to fail fast)."""
    return encoder_for(Path(path).suffix, what=f"an overlay as {str(path)!r}")


def encode_overlay(
    array: npt.ArrayLike,
    fmt: str = DEFAULT_SUFFIX,
    *,
    quality: int = JPEG_QUALITY,
    png_level: int = PNG_LEVEL,
    channels: Channels = "RGB",
) -> bytes:
    """An ``(H, W, 3)`` uint8 picture (in ``channels`` order) encoded as ``fmt``
    (``".jpg"``, ``"png"``, ``".webp"``, ``".bmp"``) by :func:`boxmask.images.encode_image`
    with the overlay defaults. ``quality`` (1-100) applies to JPEG and WebP,
    ``png_level`` (0-9) to PNG. Same input, same bytes."""
    encoder_for(fmt, what=f"an overlay as {fmt!r}")
    return encode_image(array, fmt, channels=channels, quality=quality, png_level=png_level)


def overlay_bytes(
    image: ImageSource,
    detections: Detections,
    fmt: str = DEFAULT_SUFFIX,
    *,
    quality: int = JPEG_QUALITY,
    png_level: int = PNG_LEVEL,
    **options: Any,
) -> tuple[bytes, Overlay]:
    """Draw (:func:`~boxmask.overlay.render`, ``options`` are its keywords) and encode:
    ``(file bytes, overlay)``. The :class:`~boxmask.overlay.Overlay` says which labels
    were hidden and which glyphs were missing. This is what a batch worker calls."""
    overlay = render(image, detections, **options)
    data = encode_overlay(
        overlay.image,
        fmt,
        quality=quality,
        png_level=png_level,
        channels=options.get("channels", "RGB"),
    )
    return data, overlay


def save_overlay(
    image: ImageSource,
    detections: Detections,
    path: str | os.PathLike[str],
    *,
    quality: int = JPEG_QUALITY,
    png_level: int = PNG_LEVEL,
    **options: Any,
) -> Path:
    """Draw and write the picture to ``path`` atomically; returns the path. The format
    follows the suffix (``.jpg``, ``.png`` at fast level ``png_level``, ``.webp``,
    ``.bmp``); ``options`` are :func:`~boxmask.overlay.draw`'s keywords."""
    target = Path(path)
    check_suffix(target)  # a bad name fails before the drawing
    data, _ = overlay_bytes(
        image, detections, target.suffix, quality=quality, png_level=png_level, **options
    )
    return atomic_write_bytes(target, data)
