"""PNG masks: data-URI/base64 handling, header check (bomb guard), decode, resize, threshold.

A Gemini PNG mask is a probability map (0–255) covering the item's box. Decoding follows
Google's reference: resize to the integer paste box with bilinear interpolation, keep
pixels ``> threshold``. zlib-ng (zlib's API), Pillow and OpenCV do the work (they release the
GIL, so many masks decode in parallel on a thread pool).
"""

from __future__ import annotations

import binascii
import io
import re
import struct
import types
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

_inflater: types.ModuleType
try:
    # zlib-ng inflates the same streams as zlib, faster: 200 synthetic 256×256 masks
    # (level 9) 12.2 -> 1.7 ms, the 35 masks of the real answers 76 -> 55 µs each
    # (benchmarks/bench_decode.py prints which one ran). Same bytes out, same errors.
    from zlib_ng import zlib_ng as _inflater
except ImportError:  # pragma: no cover - a platform without a zlib-ng wheel
    _inflater = zlib

#: The module that inflates IDAT streams: ``zlib_ng.zlib_ng`` where installed, else ``zlib``.
INFLATER = _inflater.__name__
#: What a corrupt stream raises, from either module.
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflater.error)

__all__ = [
    "MAX_MASK_PIXELS",
    "MaskDecodeError",
    "PngHeader",
    "decode_mask_payload",
    "decode_png_gray",
    "read_png_header",
    "resize_threshold",
]

#: Largest mask PNG (width × height) decoded; more is treated as a decompression bomb.
#: Real masks are 256 × 256; 4096 × 4096 leaves ample room.
MAX_MASK_PIXELS = 4096 * 4096

#: Paste boxes with a side under this many pixels are resized with Pillow (the
#: reference's own filter); larger ones with OpenCV (IoU >= 0.98 with Pillow, measured).
SMALL_BOX = 64

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DATA_URI = re.compile(r"^\s*data:[^,;]*(;[^,]*)?,", re.IGNORECASE)
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=_-]")


class MaskDecodeError(ValueError):
    """A mask payload could not be decoded. ``kind`` is a ProblemKind value."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class PngHeader:
    """The PNG IHDR fields: size in pixels, bit depth and color type (0, 2, 3, 4, 6)."""

    width: int
    height: int
    bit_depth: int
    color_type: int


def read_png_header(data: bytes) -> PngHeader:
    """Read the IHDR chunk without decoding any pixel. Raises MaskDecodeError."""
    if data.startswith(_PNG_SIGNATURE) and len(data) < 33:
        raise MaskDecodeError("bad_mask", f"mask PNG is cut short ({len(data)} bytes, no header)")
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE):
        kind = _sniff_format(data)
        raise MaskDecodeError("bad_mask", f"mask is not a PNG ({kind})")
    length, chunk_type = struct.unpack(">I4s", data[8:16])
    if chunk_type != b"IHDR" or length != 13:
        raise MaskDecodeError("bad_mask", "mask PNG has no IHDR chunk first")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    if width == 0 or height == 0:
        raise MaskDecodeError("bad_mask", f"mask PNG declares an empty size {width}x{height}")
    return PngHeader(width, height, bit_depth, color_type)


def _sniff_format(data: bytes) -> str:
    if not data:
        return "empty payload"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG data"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP data"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF data"
    return f"starts with {data[:8]!r}"


def decode_base64(text: str) -> bytes:
    """Decode base64 text, with or without a ``data:...;base64,`` prefix.

    Whitespace and missing padding are tolerated; URL-safe alphabet too.
    """
    match = _DATA_URI.match(text)
    payload = text[match.end() :] if match else text
    raw = payload.encode("ascii", "ignore")
    raw = b"".join(raw.split())
    if not raw:
        raise MaskDecodeError("bad_mask", "mask string is empty")
    if _NOT_B64.search(raw):
        raise MaskDecodeError("bad_mask", "mask string is not base64 (invalid characters)")
    if b"-" in raw or b"_" in raw:
        raw = raw.translate(bytes.maketrans(b"-_", b"+/"))
    raw = raw.rstrip(b"=")
    if len(raw) % 4 == 1:
        raise MaskDecodeError("bad_mask", "mask base64 has an impossible length (truncated?)")
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw)
    except binascii.Error as exc:  # pragma: no cover - guarded by the checks above
        raise MaskDecodeError("bad_mask", f"mask base64 is invalid: {exc}") from None


def decode_png_gray(data: bytes, *, max_pixels: int = MAX_MASK_PIXELS) -> npt.NDArray[np.uint8]:
    """Decode PNG bytes to an 8-bit single-channel probability map (0–255).

    Gray is used as is; 16-bit gray is scaled by 255/65535; palette and RGB are converted
    to luminance (ITU-R 601, as Pillow's ``convert("L")``); RGBA and gray+alpha carry the
    mask in alpha when alpha varies, else in the luminance of the color. The header is
    checked against ``max_pixels`` before any pixel is decoded.
    """
    header = read_png_header(data)
    if header.width * header.height > max_pixels:
        raise MaskDecodeError(
            "mask_too_large",
            f"mask PNG declares {header.width}x{header.height} pixels, over the cap of "
            f"{max_pixels} (possible decompression bomb); not decoded",
        )
    _check_chunks(data)
    raw = _inflate_bounded(data, header)
    if header.bit_depth == 8 and header.color_type == 0 and data[28] == 0:
        fast = _gray8_unfiltered(raw, header)
        if fast is not None:
            return fast
    return _decode_with_pillow(data)


def _decode_with_pillow(data: bytes) -> npt.NDArray[np.uint8]:
    """The general path: Pillow's own PNG decoder (zlib, releases the GIL, and prints
    nothing: libpng wrote ``libpng error: ...`` to the terminal), then the same
    conversion to one 8-bit channel as before."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            image = _as_array(img)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error):
        raise MaskDecodeError("bad_mask", "mask PNG is corrupt (decoder refused it)") from None
    if image.dtype == np.uint16 or image.dtype == np.int32:
        image = cv2.convertScaleAbs(image.astype(np.float32), alpha=255.0 / 65535.0)
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    channels = image.shape[2]
    if channels in (2, 4):  # gray+alpha, RGBA: the mask is in alpha when it varies
        alpha = image[:, :, -1]
        if int(alpha.min()) != int(alpha.max()):
            return np.ascontiguousarray(alpha)
        if channels == 2:
            return np.ascontiguousarray(image[:, :, 0])
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def _as_array(img: Image.Image) -> npt.NDArray[Any]:
    """Pixels of a decoded PNG: L, I;16 (as uint16), RGB, RGBA, LA; palette and 1-bit
    images expanded to their colours."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    elif img.mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    return np.asarray(img)


def _check_chunks(data: bytes) -> None:
    """Refuse a PNG whose chunks run past its end, before OpenCV sees it.

    OpenCV's PNG reader allocates a chunk's declared length up front: a 97-byte mask
    whose IDAT claims 2.9 GB cost 2.9 GB of memory (found by fuzzing). The chunk walk
    reads only the 8-byte chunk headers.
    """
    pos, end = 8, len(data)
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 12 + length > end:
            raise MaskDecodeError(
                "bad_mask",
                f"mask PNG is corrupt: its {data[pos + 4 : pos + 8].decode('latin-1')} chunk declares "
                f"{length} bytes but only {max(0, end - pos - 12)} follow",
            )
        if data[pos + 4 : pos + 8] == b"IEND":
            return
        pos += 12 + length


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def _raw_size(header: PngHeader, interlaced: bool) -> int:
    """Bytes of filtered scanlines the header declares (one filter byte per row)."""
    bits = _CHANNELS.get(header.color_type, 4) * header.bit_depth

    def rows(width: int, height: int) -> int:
        return 0 if width == 0 or height == 0 else height * (1 + (width * bits + 7) // 8)

    if not interlaced:
        return rows(header.width, header.height)
    return sum(
        rows(
            max(0, (header.width - x0 + dx - 1) // dx),
            max(0, (header.height - y0 + dy - 1) // dy),
        )
        for x0, y0, dx, dy in _ADAM7
    )


def _inflate_bounded(data: bytes, header: PngHeader) -> bytes:
    """The IDAT stream inflated up to the size the header declares, never further.

    A stream that inflates past it (a zlib bomb behind a small header: ~3 s and
    libpng warnings per 1.4 MB mask before) is refused without inflating the rest.
    """
    pos, end = 8, len(data)
    idat: list[bytes] = []
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        if chunk_type == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        elif chunk_type == b"IEND":
            break
        pos += 12 + length
    expected = _raw_size(header, data[28] != 0)
    try:
        raw = _inflater.decompressobj().decompress(b"".join(idat), expected + 1)
    except _INFLATE_ERRORS:
        return b""  # the decoder reports the corruption
    if len(raw) > expected:
        raise MaskDecodeError(
            "mask_overflow",
            f"mask PNG's pixel data inflates past the {expected:,} bytes its "
            f"{header.width}x{header.height} header declares; stopped there, mask not decoded",
        )
    return raw


def _gray8_unfiltered(raw: bytes, header: PngHeader) -> npt.NDArray[np.uint8] | None:
    """Fast path for the PNGs Gemini sends: 8-bit gray, not interlaced, filter 0 rows.

    Returns a view of the inflated rows without the filter bytes, or None for anything
    else (the general decoder takes over).
    """
    stride = header.width + 1
    if len(raw) != stride * header.height:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(header.height, stride)
    if rows[:, 0].any():  # some row uses a PNG filter: let the decoder unfilter it
        return None
    return rows[:, 1:]


def decode_mask_payload(text: str, *, max_pixels: int = MAX_MASK_PIXELS) -> npt.NDArray[np.uint8]:
    """base64 (optionally a data URI) → PNG → 8-bit probability map. Raises MaskDecodeError."""
    return decode_png_gray(decode_base64(text), max_pixels=max_pixels)


def resize_threshold(
    probability: npt.NDArray[np.uint8],
    box_width: int,
    box_height: int,
    crop_x: tuple[int, int],
    crop_y: tuple[int, int],
    threshold: int,
    keep_probabilities: bool = False,
    *,
    out: npt.NDArray[np.uint8] | None = None,
    probabilities_out: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8] | None]:
    """Resize a probability map to the paste box and keep ``> threshold``.

    ``crop_x``/``crop_y`` are the half-open ranges of the resized box that lie inside the
    image (box-local coordinates). ``out`` (optional) is a C-contiguous uint8 buffer of
    the crop's shape to write into, e.g. a view of one shared arena: resizing straight
    into it avoids a second buffer and its page faults. Returns the bool crop and, when
    ``keep_probabilities``, the resized uint8 probabilities of the same region (written
    to ``probabilities_out`` when given).
    """
    x_lo, x_hi = crop_x
    y_lo, y_hi = crop_y
    shape = (y_hi - y_lo, x_hi - x_lo)
    whole = x_lo == 0 and y_lo == 0 and x_hi == box_width and y_hi == box_height
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    if keep_probabilities and probabilities_out is None:
        probabilities_out = np.empty(shape, dtype=np.uint8)
    if out.size == 0:
        return out.view(np.bool_), probabilities_out if keep_probabilities else None
    if min(box_width, box_height) < SMALL_BOX and probability.shape != (box_height, box_width):
        # Small boxes: Pillow's antialiased bilinear itself (the reference), cheap at this
        # size; OpenCV's area/bilinear resize drifted to IoU 0.91 under ~64 px.
        small = Image.fromarray(probability).resize(
            (box_width, box_height), resample=Image.Resampling.BILINEAR
        )
        resized = np.asarray(small)[y_lo:y_hi, x_lo:x_hi]
        if keep_probabilities and probabilities_out is not None:
            np.copyto(probabilities_out, resized)
        cv2.threshold(resized, threshold, 1, cv2.THRESH_BINARY, dst=out)
        return out.view(np.bool_), (probabilities_out if keep_probabilities else None)
    probability = _shrink_first(probability, box_width, box_height)
    interpolation = _interpolation(probability.shape, box_width, box_height)
    if threshold == 127 and interpolation != cv2.INTER_AREA and _is_binary(probability):
        # Real Gemini masks hold only 0 and 255. For them, "bilinear resize, then > 127"
        # is "bilinear resize of the 0/1 map, rounded": both cut where the interpolant
        # reaches 0.5 (OpenCV's fixed-point bilinear rounds an exact 0.5 up, as 127.5 ->
        # 128 > 127). So the resize writes the final 0/1 crop in one pass. Not for
        # shrinks (area averaging): there an integer ratio averages boundary pixels to
        # exactly 0.5, which the float area path rounds half to even (0.5 -> 0, but
        # 127.5 -> 128), 0.6 % of the pixels at 256 -> 64. A shrunk crop is at most the
        # PNG's size, so the general path below costs next to nothing there.
        binary = cv2.threshold(probability, 127, 1, cv2.THRESH_BINARY)[1]
        _resize_region(binary, box_width, box_height, crop_x, crop_y, interpolation, out)
        if keep_probabilities and probabilities_out is not None:
            _resize_region(
                probability, box_width, box_height, crop_x, crop_y, interpolation, probabilities_out
            )
        return out.view(np.bool_), (probabilities_out if keep_probabilities else None)
    # Where the resized probabilities land: the caller's buffer when nothing is cut.
    target = probabilities_out if keep_probabilities else out
    if probability.shape == (box_height, box_width):
        resized = probability[y_lo:y_hi, x_lo:x_hi]
    else:
        if whole and target is not None:
            resized = cv2.resize(
                probability, (box_width, box_height), dst=target, interpolation=interpolation
            )
        else:
            resized = cv2.resize(probability, (box_width, box_height), interpolation=interpolation)
            resized = resized[y_lo:y_hi, x_lo:x_hi]
    if keep_probabilities and probabilities_out is not None and resized is not probabilities_out:
        np.copyto(probabilities_out, resized)
        resized = probabilities_out
    cv2.threshold(resized, threshold, 1, cv2.THRESH_BINARY, dst=out)
    return out.view(np.bool_), (probabilities_out if keep_probabilities else None)


def _resize_region(
    source: npt.NDArray[np.uint8],
    box_width: int,
    box_height: int,
    crop_x: tuple[int, int],
    crop_y: tuple[int, int],
    interpolation: int,
    out: npt.NDArray[np.uint8],
) -> None:
    """Resize ``source`` to the box and write its visible region into ``out``."""
    if source.shape == (box_height, box_width):
        np.copyto(out, source[crop_y[0] : crop_y[1], crop_x[0] : crop_x[1]])
    elif out.shape == (box_height, box_width):
        cv2.resize(source, (box_width, box_height), dst=out, interpolation=interpolation)
    else:
        full = cv2.resize(source, (box_width, box_height), interpolation=interpolation)
        np.copyto(out, full[crop_y[0] : crop_y[1], crop_x[0] : crop_x[1]])


def _is_binary(probability: npt.NDArray[np.uint8]) -> bool:
    """True when every value is 0 or 255 (the masks Gemini actually sends)."""
    between = cv2.inRange(probability, 1, 254)
    return bool(cv2.countNonZero(between) == 0)


def _shrink_first(
    probability: npt.NDArray[np.uint8], box_width: int, box_height: int
) -> npt.NDArray[np.uint8]:
    """For a box that shrinks one axis and grows the other: that axis area-averaged to its
    final size first (a small image), so that only the growing axis is interpolated.

    Pillow's BILINEAR (the reference) widens its filter on the shrinking axis; OpenCV's
    INTER_LINEAR samples two pixels there and aliases thin parts: a thin 256×256 mask
    pasted into 96×395 px had IoU 0.979 with the reference (found by the hypothesis test),
    0.9997 this way; over 3,000 random sizes of 40-1,600 px the worst mixed one was 0.984,
    now 0.998. These masks take the general path afterwards (the averaged map is no
    longer 0/1): one threshold pass more, ~4 % of bench_decode's one-thread time.
    """
    src_h, src_w = probability.shape[:2]
    if box_width < src_w and box_height > src_h:
        return cv2.resize(probability, (box_width, src_h), interpolation=cv2.INTER_AREA)
    if box_height < src_h and box_width > src_w:
        return cv2.resize(probability, (src_w, box_height), interpolation=cv2.INTER_AREA)
    return probability


def _interpolation(src_shape: tuple[int, ...], box_width: int, box_height: int) -> int:
    """Area averaging when shrinking on both axes, bilinear otherwise.

    Pillow's BILINEAR (the reference) widens its filter when it shrinks, so it averages;
    OpenCV's INTER_LINEAR samples only two source pixels. Measured against Pillow on
    256×256 binary masks: INTER_AREA matches best when both axes shrink (IoU >= 0.999),
    INTER_LINEAR when either axis grows (INTER_AREA drops to 0.85 on mixed scales,
    which :func:`_shrink_first` has already brought to one growing axis).
    """
    src_h, src_w = src_shape[:2]
    if box_width <= src_w and box_height <= src_h:
        return int(cv2.INTER_AREA)
    return int(cv2.INTER_LINEAR)
