"""Images in: pick the MIME type and encode; everything else is :mod:`boxmask.images`.

Local images (a path, bytes, PIL image or numpy array) become :class:`PreparedImage`
bytes whose pixels are the ones boxmask later decodes answers against. Opening, the
EXIF turn and the upright size come from :mod:`boxmask.images` (the one image pipeline,
shared with parse callers, overlays and batch), so the size the client reports is the
size ``boxmask.image_size`` and ``boxmask.draw`` see:

- Files and bytes are sent as they are when their format is one Gemini documents
  (PNG, JPEG, WEBP, HEIC, HEIF) and they need no turning. A JPEG/PNG/WEBP with an EXIF
  orientation other than 1 is turned upright and re-encoded (JPEG quality 95 for JPEG,
  PNG otherwise). Other formats Pillow can read (GIF, BMP, TIFF, …) are re-encoded as
  PNG (GIF: first frame).
- PIL images are turned by their EXIF orientation too (as :func:`boxmask.read_image`
  does), then encoded as PNG. Numpy arrays are encoded as PNG as they are: RGB/RGBA
  order (as PIL and matplotlib; convert OpenCV's BGR with ``img[..., ::-1]``),
  ``uint8`` or ``bool``.
- HEIC/HEIF need the optional ``pillow-heif`` package (``pip install 'boxmask[heif]'``)
  to read their size; without it a HEIC can still go to :meth:`ask` as it is.
- A path that is not a regular file (a FIFO, a device) is refused, never opened.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from boxmask.errors import ImageError
from boxmask.images import (
    MAX_PIXELS,
    checked_array,
    exif_orientation,
    open_image,
    open_upright,
    read_file_bytes,
    require_heif,
    sniff_mime,
    upright_size,
)

__all__ = [
    "SUPPORTED_MIME_TYPES",
    "ImageRef",
    "PreparedImage",
    "is_files_name",
    "is_image_reference",
    "is_url",
    "prepare_image",
    "sniff_mime",
]

#: Formats Gemini documents for images; anything else is re-encoded as PNG.
SUPPORTED_MIME_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
_FILES_NAME = re.compile(r"files/[a-z0-9-]{1,40}")
_PNG_LEVEL = 1  # fast: the bytes go over the wire once, compression ratio matters little


@dataclass(frozen=True)
class ImageRef:
    """An image the service fetches itself: a Files API URI or an ``http(s)`` URL.

    Give ``width``/``height`` (pixels, upright) when you know them, so that ``detect``
    needs no download to learn the size.
    """

    uri: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: bytes (inline or upload) or a URI, plus its upright size."""

    mime_type: str | None
    data: bytes | None = field(default=None, repr=False)
    uri: str | None = None
    width: int | None = None
    height: int | None = None
    source: str = "image"
    reencoded: bool = False

    @cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes sent (empty for a URI)."""
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else ""

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` in pixels, or None when unknown."""
        if self.width is None or self.height is None:
            return None
        return self.width, self.height


def is_url(text: str) -> bool:
    """True for ``http://`` and ``https://`` strings."""
    lowered = text[:8].lower()
    return lowered.startswith(("http://", "https://"))


def is_image_reference(text: str) -> bool:
    """True when a string names an image rather than being prompt text: a whole
    ``http(s)://`` URL (no spaces) or a Files API name (``files/abc``).

    ``generate`` parts and ``ask`` images read strings by this one rule, so the same
    string means the same thing in both (wrap text in :class:`~boxmask.api.TextPart`
    to send such a string as text).
    """
    stripped = text.strip()
    if is_url(stripped):
        return not any(c.isspace() for c in stripped)
    return is_files_name(stripped)


def is_files_name(text: str) -> bool:
    """True for a Files API name (``files/abc``)."""
    return _FILES_NAME.fullmatch(text) is not None


def _encode(im: Image.Image, as_jpeg: bool) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if as_jpeg and im.mode in ("RGB", "L", "CMYK"):
        im.save(buf, "JPEG", quality=95)
        return buf.getvalue(), "image/jpeg"
    if im.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    im.save(buf, "PNG", compress_level=_PNG_LEVEL)
    return buf.getvalue(), "image/png"


def _from_bytes(data: bytes, source: str, need_size: bool) -> PreparedImage:
    if not data:
        raise ImageError(f"{source}: the image is empty (0 bytes)")
    mime = sniff_mime(data)
    if mime in ("image/heic", "image/heif") and not need_size:
        try:
            require_heif(source)
        except ImageError:
            return PreparedImage(mime, data, source=source)
    try:
        with open_image(data, max_pixels=MAX_PIXELS, name=source) as im:
            width, height = upright_size(im)
            if mime in SUPPORTED_MIME_TYPES and exif_orientation(im) == 1:
                return PreparedImage(mime, data, width=width, height=height, source=source)
            upright = open_upright(im)
            encoded, new_mime = _encode(upright, as_jpeg=mime in ("image/jpeg", "image/heic"))
    except ImageError:
        raise
    except Exception as exc:
        kind = mime or "an unknown format"
        raise ImageError(
            f"{source}: cannot read the image ({kind}): {exc}. Supported: PNG, JPEG, WEBP, "
            "HEIC, HEIF (and anything Pillow reads, re-encoded as PNG)"
        ) from None
    return PreparedImage(
        new_mime, encoded, width=width, height=height, source=source, reencoded=True
    )


def _from_array(array: np.ndarray[Any, Any]) -> PreparedImage:
    arr = checked_array(array)
    import cv2

    if arr.ndim == 3:
        code = cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        arr = cv2.cvtColor(np.ascontiguousarray(arr), code)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
    if not ok:  # pragma: no cover
        raise ImageError("numpy image could not be encoded as PNG")
    height, width = arr.shape[:2]
    return PreparedImage(
        "image/png",
        buf.tobytes(),
        width=int(width),
        height=int(height),
        source=f"array {width}x{height}",
        reencoded=True,
    )


def prepare_image(image: Any, *, need_size: bool = True, name: str | None = None) -> PreparedImage:
    """Read any local image input into a :class:`PreparedImage` (see the module doc).

    ``image``: a path (``str`` or ``os.PathLike``), ``bytes``, a PIL image, a numpy array,
    or an :class:`ImageRef` (returned as a URI image). ``need_size`` False lets a HEIC
    go through without pillow-heif (its size stays unknown). ``name`` is what messages
    and the upload's display name call bytes (default ``"bytes"``). Raises
    :class:`~boxmask.ImageError` for unreadable or unsupported input (a FIFO or other
    non-regular file too), FileNotFoundError for a missing path.
    """
    if isinstance(image, ImageRef):
        return PreparedImage(
            image.mime_type, uri=image.uri, width=image.width, height=image.height, source=image.uri
        )
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(image), name or "bytes", need_size)
    if isinstance(image, Image.Image):
        upright = open_upright(image)
        encoded, mime = _encode(upright, as_jpeg=False)
        w, h = upright.size
        return PreparedImage(
            mime, encoded, width=w, height=h, source=f"PIL image {w}x{h}", reencoded=True
        )
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, (str, os.PathLike)):
        if isinstance(image, str) and is_url(image):
            return PreparedImage(None, uri=image, source=image)
        path = Path(image)
        if not path.exists():  # the client's documented error for a missing path
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        return _from_bytes(read_file_bytes(path), path.name, need_size)
    raise ImageError(
        f"unsupported image input {type(image).__name__}: pass a path, bytes, a PIL image, "
        "a numpy array, an http(s) URL, a Files API URI or a boxmask File"
    )
