"""Reading and writing images the way boxmask sees them: upright, RGB, size-checked.

Conventions (shared with the request layer, so boxes land where the model saw them):

- **Upright.** Files and PIL images are turned by their EXIF ``Orientation`` tag
  (:func:`PIL.ImageOps.exif_transpose`) before anything else. Numpy arrays carry no
  EXIF and are used as they are.
- **Channel order.** Arrays are ``(H, W, 3)`` ``uint8`` **RGB** (row 0 at the top,
  column 0 at the left). ``(H, W)`` grayscale and ``(H, W, 4)`` RGBA are accepted on
  input; RGBA (and LA / P with transparency) is flattened onto white. OpenCV arrays are
  BGR: pass ``channels="BGR"`` (or convert with ``cv2.cvtColor(a, cv2.COLOR_BGR2RGB)``).
- **Bomb guard.** The pixel count is read from the file header and checked against
  ``max_pixels`` *before* decoding; a larger image raises :class:`~boxmask.ImageError`.
- **Regular files only.** A path that is a FIFO, a device or a socket is refused before
  it is opened (opening a FIFO would wait for a writer forever).
- **HEIC/HEIF** are read everywhere when the optional ``pillow-heif`` package is
  installed (``pip install 'boxmask[heif]'``); without it they raise a clear
  :class:`~boxmask.ImageError` saying so. The opener is registered on first use.
- **One pipeline.** :func:`open_image` (header only) → :func:`upright_size` →
  :func:`open_upright` (decoded, EXIF applied) → :func:`read_image` (array). Parse
  callers, overlays, batch workers and the API client all go through these, so every
  path reports the same upright size.
- **Writing** is :mod:`boxmask.image_encode` (the one encoder, atomic files).
"""

from __future__ import annotations

import functools
import io
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from boxmask.errors import ImageError
from boxmask.pil_pixels import rgb_pixels

__all__ = [
    "MAX_PIXELS",
    "Channels",
    "ImageSource",
    "checked_array",
    "exif_orientation",
    "image_size",
    "open_image",
    "open_upright",
    "read_file_bytes",
    "read_image",
    "require_heif",
    "sniff_mime",
    "to_rgb_array",
    "upright_size",
]

#: Largest image (width × height) decoded by default: 150 MP covers 108 MP phone photos
#: and stays below Pillow's own hard limit, so boxmask's check always runs first.
MAX_PIXELS = 150_000_000

Channels = Literal["RGB", "BGR"]
#: What image arguments accept: a file path, encoded file bytes, a PIL image, or an array.
ImageSource = str | os.PathLike[str] | bytes | Image.Image | npt.NDArray[Any]

RGBArray = npt.NDArray[np.uint8]


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return type(source).__name__


_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"heif"}
_SNIFF_BYTES = 64


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type from the first bytes, or None when unknown.

    PNG, JPEG, WEBP, GIF, BMP, TIFF, HEIC and HEIF (ISO-BMFF ``ftyp`` brands).
    """
    head = bytes(data[:_SNIFF_BYTES])
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


@functools.lru_cache(maxsize=1)
def _heif_available() -> bool:
    """Register pillow-heif's opener once; False when the package is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def require_heif(name: str) -> None:
    """Make HEIC/HEIF readable, or raise :class:`~boxmask.ImageError` saying how."""
    if not _heif_available():
        raise ImageError(
            f"{name} is a HEIC/HEIF image: reading it needs the optional pillow-heif "
            "package: pip install 'boxmask[heif]' (or pip install pillow-heif), or convert "
            "the image to JPEG/PNG first"
        )


def _regular_file(path: str | os.PathLike[str]) -> None:
    """Refuse what is not a regular file before opening it (a FIFO blocks in open())."""
    name = str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"image not found: {name}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{name} is a folder, not an image")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise ImageError(f"{name} is {kind}, not an image file")


def _head(source: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(source, bytes):
        return source[:_SNIFF_BYTES]
    with open(source, "rb") as fh:
        return fh.read(_SNIFF_BYTES)


def read_file_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the image file ``path`` (regular files only, see the module doc)."""
    _regular_file(path)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None


def open_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> Image.Image:
    """Open a file or encoded bytes, header only, and check the pixel count.

    The pixels are decoded later (:func:`open_upright`). Raises
    :class:`~boxmask.ImageError` for a missing path, a folder, a FIFO or other
    non-regular file, an unknown format, HEIC/HEIF without pillow-heif, or more than
    ``max_pixels`` pixels. ``name`` is what messages call the image (default: the
    path, or the byte count).
    """
    name = name or _describe(source)
    if not isinstance(source, bytes):
        _regular_file(source)
    target: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if sniff_mime(_head(source)) in ("image/heic", "image/heif"):
            require_heif(name)
        with warnings.catch_warnings():
            # boxmask checks the pixel count itself, below, with its own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(target)
    except FileNotFoundError:
        raise ImageError(f"image not found: {name}") from None
    except IsADirectoryError:
        raise ImageError(f"{name} is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"cannot read {name}: not an image format Pillow knows (PNG, JPEG, WebP, ...)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refusing to decode {name}: {exc}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {exc}") from None
    try:
        _check_pixels(im.size, name, max_pixels)
    except ImageError:
        im.close()
        raise
    return im


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"{name} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"refusing to decode {name}: {width}x{height} = {width * height:,} pixels is more "
            f"than max_pixels={max_pixels:,} (a decompression bomb guard; raise max_pixels "
            "if the image is trusted)"
        )


def open_upright(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A decoded PIL image, turned upright by its EXIF orientation.

    ``source`` is a path, encoded bytes, a PIL image or an array (an array is wrapped
    as it is, see :func:`to_rgb_array`). The mode is kept (``"L"``, ``"RGBA"``, ...).
    A PIL image that is already upright is returned itself, not copied.
    Raises :class:`~boxmask.ImageError` when the file cannot be read or has more than
    ``max_pixels`` pixels.
    """
    if isinstance(source, np.ndarray):
        return Image.fromarray(to_rgb_array(source))
    if isinstance(source, Image.Image):
        im = source
        name = f"PIL image ({im.mode} {im.width}x{im.height})"
        _check_pixels(im.size, name, max_pixels)
    elif isinstance(source, (str, os.PathLike, bytes)):
        name = _describe(source)
        im = open_image(source, max_pixels=max_pixels)
    else:
        raise ImageError(
            f"cannot use {type(source).__name__} as an image: pass a path, bytes, "
            "a PIL image or an (H, W, 3) uint8 RGB array"
        )
    try:
        im.load()
        if im is source:  # the caller's image is never changed: a turned copy, if any
            upright = ImageOps.exif_transpose(im) if exif_orientation(im) != 1 else im
        else:  # boxmask's own, turned in place: the copy cost 2 ms of 3.3 (600×400 JPEG)
            ImageOps.exif_transpose(im, in_place=True)
            upright = im
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt data surfaces at decode time, not at open.
        if im is not source:
            im.close()
        raise ImageError(f"cannot decode {name}: {exc}") from None
    if upright is None or upright is im:
        return im
    if im is not source:
        im.close()
    return upright


def image_size(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Upright ``(width, height)`` in pixels, from the header only (no decoding).

    The same size :func:`read_image` and :func:`open_upright` give for ``source``.
    """
    if isinstance(source, np.ndarray):
        if source.ndim < 2:
            raise ImageError(f"an image array needs 2 or 3 dimensions, got shape {source.shape}")
        return int(source.shape[1]), int(source.shape[0])
    if isinstance(source, Image.Image):
        return upright_size(source)
    if isinstance(source, (str, os.PathLike, bytes)):
        with open_image(source, max_pixels=max_pixels) as im:
            return upright_size(im)
    raise ImageError(f"cannot use {type(source).__name__} as an image")


def upright_size(im: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of ``im`` once turned upright (what ``exif_transpose`` gives).

    Reads the header only. Pillow's TIFF reader applies the orientation itself (its
    reported size is already upright) and pillow-heif applies HEIF transforms, so only
    an orientation still pending swaps the sides.
    """
    width, height = im.size
    if exif_orientation(im) in (5, 6, 7, 8) and not _applied_by_reader(im):
        return height, width
    return width, height


def _applied_by_reader(im: Image.Image) -> bool:
    """True when the reader already turned the size upright (Pillow's TIFF reader
    reports the turned size and applies the orientation itself on load)."""
    tags = getattr(im, "tag_v2", None)
    if im.format != "TIFF" or tags is None:
        return False
    stored = (tags.get(256), tags.get(257))  # ImageWidth, ImageLength as stored
    return stored != im.size


def exif_orientation(im: Image.Image) -> int:
    """The EXIF ``Orientation`` of ``im`` (1 = upright; 1 too for missing or corrupt EXIF),
    as :func:`PIL.ImageOps.exif_transpose` will read it. Reads metadata only (a PNG is
    not decoded, see :func:`_png_exif`)."""
    try:
        exif = _png_exif(im) if im.format == "PNG" else im.getexif()
        value = exif.get(0x0112, 1)
    except Exception:  # corrupt EXIF: Pillow would not turn it either
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


# Text chunks whose keyword makes Pillow read an orientation (EXIF as text, XMP).
_PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_PNG_ORIENTATION_KEYWORDS = frozenset({b"exif", b"Raw profile type exif", b"XML:com.adobe.xmp"})


def _png_exif(im: Image.Image) -> Image.Exif:
    """The EXIF of a PNG as Pillow sees it once the image is loaded, without decoding it.

    Pillow's ``getexif`` on a PNG with no eXIf chunk before the image data decodes the
    whole image (1.1 ms for 600×400, vs 0.08 ms for the header) to look for chunks after
    it. Here the chunks after IDAT are walked by their 8-byte headers instead; an eXIf
    chunk there is read (the last one wins, as in Pillow), and only a text chunk
    carrying EXIF or XMP after the data (rare) falls back to Pillow's decoding
    ``getexif``, as does an image without a file (loaded, or built in memory).
    """
    fp = getattr(im, "fp", None)
    if fp is None:
        return im.getexif()
    start = fp.tell()
    late_exif: bytes | None = None
    after_data = needs_decode = False
    try:
        fp.seek(0)
        needs_decode = fp.read(8) != b"\x89PNG\r\n\x1a\n"  # a PNG inside another stream
        while not needs_decode and len(head := fp.read(8)) == 8:
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IEND" or (after_data and kind == b"fcTL"):
                break  # the end, or the next frame of an APNG (where load() stops)
            skip = length + 4  # data + CRC
            if kind in (b"IDAT", b"fdAT"):
                after_data = True
            elif after_data and kind == b"eXIf":
                late_exif = b"Exif\x00\x00" + fp.read(length)
                skip = 4
            elif after_data and kind in _PNG_TEXT_CHUNKS:
                keyword = fp.read(min(length, 80))
                # EXIF or XMP as text after the data: only Pillow's decoding reader reads it
                needs_decode = keyword.split(b"\0", 1)[0] in _PNG_ORIENTATION_KEYWORDS
                skip -= len(keyword)
            fp.seek(skip, os.SEEK_CUR)
    finally:
        fp.seek(start)
    if needs_decode:
        return im.getexif()
    probe = Image.Image()  # Pillow's own EXIF (and XMP) reading, over the loaded info
    probe.info = dict(im.info)
    if late_exif is not None:
        probe.info["exif"] = late_exif
    return probe.getexif()


def checked_array(array: npt.ArrayLike, *, channels: Channels = "RGB") -> RGBArray:
    """``array`` as ``uint8`` ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, or an ImageError.

    ``bool`` becomes 0/255 and ``(H, W, 1)`` becomes ``(H, W)``; nothing else changes
    (no channel swap, alpha kept). :func:`to_rgb_array` and the API client share it.
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * np.uint8(255)
    if a.dtype != np.uint8:
        raise ImageError(
            f"image arrays must be uint8 (0-255) or bool, got {a.dtype}; "
            "convert with np.clip(a * 255, 0, 255).astype(np.uint8) for 0-1 floats"
        )
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(
            f"image arrays must be (H, W), (H, W, 3) {channels} or (H, W, 4) "
            f"{channels}A, got shape {a.shape}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"image array has no pixels (shape {a.shape})")
    return a


def to_rgb_array(array: npt.ArrayLike, *, channels: Channels = "RGB") -> RGBArray:
    """Normalise an array to C-contiguous ``(H, W, 3)`` uint8 in ``channels`` order.

    Accepts ``(H, W)`` / ``(H, W, 1)`` gray, ``(H, W, 3)`` colour and ``(H, W, 4)``
    colour + alpha (flattened onto white) in ``uint8``, or ``bool`` gray. ``channels``
    names the order of the colour channels of both the input and the output; no
    channel swap happens here. Returns the input itself when it is already in shape.
    """
    a = checked_array(array, channels=channels)
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.uint16)
        flat = (a[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
        return flat.astype(np.uint8)
    return np.ascontiguousarray(a)


def read_image(
    source: ImageSource, *, channels: Channels = "RGB", max_pixels: int = MAX_PIXELS
) -> RGBArray:
    """The image as a C-contiguous ``(H, W, 3)`` uint8 array, upright.

    Files, bytes and PIL images are EXIF-transposed and converted to RGB (gray, palette
    and CMYK included; transparency flattened onto white), then returned in
    ``channels`` order. Arrays are taken to already be in ``channels`` order and are
    only normalised (see :func:`to_rgb_array`).
    """
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_pixels((source.shape[1], source.shape[0]), "image array", max_pixels)
        return to_rgb_array(source, channels=channels)
    im = open_upright(source, max_pixels=max_pixels)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot convert {_describe(source)} to RGB: {exc}") from None
    # a new array read from Pillow's memory (np.array's copy costs 16x more: pil_pixels)
    return rgb_pixels(im, channels)
