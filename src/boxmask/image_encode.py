"""Writing images: the one encoder (PNG, JPEG, WebP, BMP) and atomic image files.

Files (:func:`write_image`), overlays (:mod:`boxmask.overlay.encode`) and review
thumbnails all encode through :func:`encode_image`, so an encoder option means the same
everywhere. Arrays follow :mod:`boxmask.images`' conventions: ``(H, W, 3)`` uint8, RGB
unless ``channels="BGR"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from boxmask.errors import ExportError
from boxmask.images import Channels, to_rgb_array
from boxmask.io import atomic_write_bytes

__all__ = ["WRITE_FORMATS", "encode_image", "encoder_for", "write_image"]

#: File suffix → OpenCV encoder, for every format boxmask writes.
WRITE_FORMATS = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg", ".webp": ".webp", ".bmp": ".bmp"}


def encoder_for(name: str, *, what: str = "an image") -> str:
    """The OpenCV encoder (``".png"``, ``".jpg"``, ``".webp"``, ``".bmp"``) for a file
    suffix or format name (``".jpeg"``, ``"PNG"``, ...). Raises
    :class:`~boxmask.ExportError` naming ``what`` for a format boxmask cannot write."""
    key = name.lower() if name.startswith(".") else "." + name.lower()
    ext = WRITE_FORMATS.get(key)
    if ext is None:
        raise ExportError(
            f"cannot write {what}: unknown image suffix {name!r} (use .jpg, .png, .webp or .bmp)"
        )
    return ext


def encode_image(
    array: npt.ArrayLike,
    fmt: str,
    *,
    channels: Channels = "RGB",
    quality: int = 92,
    png_level: int = 6,
) -> bytes:
    """An ``(H, W, 3)`` uint8 array (in ``channels`` order) as ``fmt`` file bytes.

    The one image encoder (files, overlays, thumbnails). ``fmt`` is a suffix or format
    name (see :func:`encoder_for`); ``quality`` (1-100) applies to JPEG and WebP,
    ``png_level`` (zlib 0-9) to PNG. Same input, same bytes.
    """
    ext = encoder_for(fmt)
    if isinstance(quality, bool) or not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be 1-100, got {quality}")
    if isinstance(png_level, bool) or not 0 <= int(png_level) <= 9:
        raise ValueError(f"png_level must be 0-9, got {png_level}")
    rgb = to_rgb_array(array, channels=channels)
    bgr = rgb if channels == "BGR" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params: list[int] = []
    if ext == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise ExportError(f"cannot encode an image as {ext}")
    return bytes(buf.tobytes())


def write_image(
    path: str | os.PathLike[str],
    array: npt.ArrayLike,
    *,
    channels: Channels = "RGB",
    quality: int = 92,
) -> Path:
    """Write an ``(H, W, 3)`` uint8 array to ``path`` atomically; returns the path.

    The format follows the suffix: ``.png``, ``.jpg``/``.jpeg``, ``.webp`` or ``.bmp``.
    ``quality`` (1-100) applies to JPEG and WebP. The file is written by
    :func:`boxmask.io.atomic_write_bytes` (a temporary file in the same folder, created
    as needed, then renamed over ``path``), so a reader sees the old file or the new
    one, never a partial one. Same input, same bytes.
    """
    target = Path(path)
    data = encode_image(
        array, encoder_for(target.suffix, what=str(target)), channels=channels, quality=quality
    )
    return atomic_write_bytes(target, data)
