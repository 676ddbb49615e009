"""Images in: sniff the format from the bytes, read the upright size, encode arrays.

Local images (a path, bytes, PIL image or numpy array) become :class:`PreparedImage`
bytes whose pixels are the ones boxmask later decodes answers against:

- Files and bytes are sent as they are when their format is one Gemini documents
  (PNG, JPEG, WEBP, HEIC, HEIF) and they need no rotation. A JPEG/PNG/WEBP with an EXIF
  orientation other than 1 is turned upright (``PIL.ImageOps.exif_transpose``, as the
  overlays do) and re-encoded (JPEG quality 95 for JPEG, PNG otherwise). Other formats
  Pillow can read (GIF, BMP, TIFF, …) are re-encoded as PNG (GIF: first frame).
- PIL images and numpy arrays are encoded as PNG as they are (no EXIF rotation: their
  pixels are what the caller holds). Arrays are RGB/RGBA order (as PIL and matplotlib;
  convert OpenCV's BGR with ``img[..., ::-1]``), ``uint8`` or ``bool``.
- HEIC/HEIF pixel sizes need the optional ``pillow-heif`` package
  (``pip install 'boxmask[heif]'``); without it HEIC can still go to :meth:`ask`.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from boxmask.errors import ImageError

__all__ = [
    "SUPPORTED_MIME_TYPES",
    "ImageRef",
    "PreparedImage",
    "is_url",
    "prepare_image",
    "sniff_mime",
]

#: Formats Gemini documents for images; anything else is re-encoded as PNG.
SUPPORTED_MIME_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
)
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"heif"}
_ORIENTATION_TAG = 0x0112
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


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type from the first bytes, or None when unknown.

    PNG, JPEG, WEBP, GIF, BMP, TIFF, HEIC and HEIF (ISO-BMFF ``ftyp`` brands).
    """
    head = bytes(data[:64])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        brands = {head[8:12]}
        end = min(max(box_size, 16), len(head))
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _HEIF_BRANDS:
            return "image/heif"
    return None


def _heif_opener() -> None:
    try:
        import pillow_heif
    except ImportError:
        raise ImageError(
            "reading a HEIC/HEIF image's pixel size needs the optional pillow-heif package: "
            "pip install 'boxmask[heif]' (or pip install pillow-heif), or convert the image "
            "to JPEG/PNG first"
        ) from None
    pillow_heif.register_heif_opener()


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # corrupt EXIF: treat as upright
        return 1
    return int(value) if isinstance(value, int) else 1


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
    if mime in ("image/heic", "image/heif"):
        if not need_size:
            try:
                _heif_opener()
            except ImageError:
                return PreparedImage(mime, data, source=source)
        else:
            _heif_opener()
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            orientation = _orientation(im) if mime != "image/gif" else 1
            if mime in SUPPORTED_MIME_TYPES and orientation in (1, 0):
                return PreparedImage(mime, data, width=width, height=height, source=source)
            im.load()
            upright = ImageOps.exif_transpose(im) if orientation not in (0, 1) else im
            encoded, new_mime = _encode(upright, as_jpeg=mime in ("image/jpeg", "image/heic"))
            w, h = upright.size
    except ImageError:
        raise
    except Exception as exc:
        kind = mime or "an unknown format"
        raise ImageError(
            f"{source}: cannot read the image ({kind}): {exc}. Supported: PNG, JPEG, WEBP, "
            "HEIC, HEIF (and anything Pillow reads, re-encoded as PNG)"
        ) from None
    return PreparedImage(new_mime, encoded, width=w, height=h, source=source, reencoded=True)


def _from_array(array: np.ndarray[Any, Any]) -> PreparedImage:
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ImageError(
            f"numpy image must be uint8 or bool, got {arr.dtype}; scale it to 0-255 uint8 first"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(
            f"numpy image must be H×W, H×W×3 (RGB) or H×W×4 (RGBA), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"numpy image has no pixels (shape {arr.shape})")
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


def prepare_image(image: Any, *, need_size: bool = True) -> PreparedImage:
    """Read any local image input into a :class:`PreparedImage` (see the module doc).

    ``image``: a path (``str`` or ``os.PathLike``), ``bytes``, a PIL image, a numpy array,
    or an :class:`ImageRef` (returned as a URI image). ``need_size`` False lets a HEIC
    go through without pillow-heif (its size stays unknown). Raises
    :class:`~boxmask.ImageError` for unreadable or unsupported input, FileNotFoundError
    for a missing path.
    """
    if isinstance(image, ImageRef):
        return PreparedImage(
            image.mime_type, uri=image.uri, width=image.width, height=image.height, source=image.uri
        )
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(image), "bytes", need_size)
    if isinstance(image, Image.Image):
        encoded, mime = _encode(image, as_jpeg=False)
        w, h = image.size
        return PreparedImage(
            mime, encoded, width=w, height=h, source=f"PIL image {w}x{h}", reencoded=True
        )
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, (str, os.PathLike)):
        if isinstance(image, str) and is_url(image):
            return PreparedImage(None, uri=image, source=image)
        path = Path(image)
        return _from_bytes(path.read_bytes(), path.name, need_size)
    raise ImageError(
        f"unsupported image input {type(image).__name__}: pass a path, bytes, a PIL image, "
        "a numpy array, an http(s) URL, a Files API URI or a boxmask File"
    )
