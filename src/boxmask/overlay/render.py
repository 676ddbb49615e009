"""Overlays: masks, outlines, boxes, points and label chips drawn on the image.

Coordinates follow boxmask's convention: boxes are xyxy pixel *edges* (pixel ``c`` spans
``[c, c + 1)``), points are pixel ``(x, y)``, masks are crops placed at ``(x0, y0)``.

How the masks are drawn (and what the tests compare against a full-frame reference):

1. Items are ordered by area, largest first, so smaller items end up on top.
2. Each item, in that order, paints its whole mask with its fill colour, then its
   outline, the inner border of the mask ``thickness`` pixels wide (mask pixels within
   an octagonal, near-circular ``thickness`` radius of a pixel outside the mask or the
   image, see :func:`outline_kernel`), with
   its outline colour. A later (smaller) item covers the fill and outline beneath it.
3. Every pixel painted with a fill is blended *once* with the image,
   ``out = (1 - alpha) * image + alpha * colour``, so overlaps never get darker or
   muddier than a single mask; outline pixels take the colour, opaque. With
   ``alpha=0`` nothing is filled and only the outlines are painted.

Both steps work on the crops only: per crop, a colour index is painted into a small
index map that spans the union of the crops (never ``N × H × W``), and the image is
blended once through it. Pixels outside every mask are not touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from boxmask.detections import Detections
from boxmask.images import MAX_PIXELS, Channels, ImageSource, read_image
from boxmask.masks.store import Masks
from boxmask.overlay.chips import Chips, chip_texts, default_text_size
from boxmask.overlay.fonts import FontLike
from boxmask.overlay.palette import RGB, PaletteLike, as_palette, outline_color_for

__all__ = ["Overlay", "default_thickness", "draw", "mask_border", "outline_kernel", "render"]

Image8 = npt.NDArray[np.uint8]


def default_thickness(width: int, height: int) -> int:
    """Outline and box line width in pixels: 2 up to ~2 MP, then growing with the image
    (5 at 4032×3024), 1-2 px once the image is fitted to a screen."""
    return max(2, round(math.sqrt(width * height) / 700))


@dataclass(frozen=True)
class Overlay:
    """What :func:`render` drew: the picture and what it could not show as asked.

    ``image``: ``(H, W, 3)`` uint8 in the input's channel order. ``hidden_labels``:
    chip texts that found no free place (the image is too crowded). ``missing_glyphs``:
    characters of the labels no installed font could draw (shown as boxes); merge them
    over a run and print :func:`~boxmask.overlay.fonts.missing_glyph_warning` once.
    ``chips``: the pixel rectangles ``(x0, y0, x1, y1)`` (exclusive) of the label chips.
    """

    image: Image8
    hidden_labels: tuple[str, ...] = ()
    missing_glyphs: str = ""
    chips: tuple[tuple[int, int, int, int], ...] = ()


def draw(image: ImageSource, detections: Detections, **options: Any) -> Image8:
    """Draw ``detections`` on ``image`` and return a new ``(H, W, 3)`` uint8 array.

    ``image`` is a path, encoded bytes, a PIL image (all read upright, EXIF orientation
    applied, as the request layer sends them) or an array in ``channels`` order:
    ``(H, W, 3)`` **RGB** by default, ``(H, W)`` gray or ``(H, W, 4)`` RGBA also
    accepted. Pass ``channels="BGR"`` for OpenCV arrays: input and output are then BGR.
    The input array is never modified. The keywords are :func:`render`'s; ``render``
    also says which labels could not be shown.
    """
    return render(image, detections, **options).image


def render(
    image: ImageSource,
    detections: Detections,
    *,
    alpha: float = 0.5,
    outline: bool = True,
    boxes: bool = True,
    labels: bool = True,
    points: bool = True,
    scores: bool = True,
    palette: PaletteLike = None,
    font: FontLike | None = None,
    thickness: int | None = None,
    text_size: int | None = None,
    channels: Channels = "RGB",
    max_pixels: int = MAX_PIXELS,
) -> Overlay:
    """:func:`draw`, returning an :class:`Overlay` (the picture and what it left out).

    - ``alpha``: mask fill opacity, 0 (no fill) to 1 (opaque).
    - ``outline``: draw each mask's border, ``thickness`` pixels wide, inside the mask,
      in a darker (or, for dark colours, lighter) shade of the fill colour.
    - ``boxes``: draw boxes inside the box edges, ``thickness`` wide (half as wide for
      items that have a mask, which already shows the object). Point-only items have
      no box.
    - ``points``: draw point markers (filled dot with a white ring).
    - ``labels``: draw label chips (never overlapping, inside the image, long labels
      elided with "…"); ``scores`` adds the confidence ("cup 93%") where an item has one.
    - ``palette``: None (the default palette: distinct colours within the picture,
      stable per label), a :class:`~boxmask.overlay.Palette` built from a run's labels
      (the same colour for a label in every overlay), a list of colours, or a
      ``{label: colour}`` mapping; colours are ``"#rrggbb"`` or ``(r, g, b)``.
    - ``font``: a font path, file name or family name, or a PIL font, tried first for
      each label; labels it cannot draw use an installed font that can (see
      :mod:`boxmask.overlay.fonts`).
    - ``thickness`` / ``text_size``: line width and text em size in pixels (by default
      they scale with the image size).

    Raises ``ValueError`` when the image size differs from the size the detections
    were parsed for, or for a bad option; :class:`~boxmask.ImageError` for an
    unreadable image.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    out = _canvas(image, detections, channels, max_pixels)
    height, width = out.shape[:2]
    if thickness is not None and thickness < 1:
        raise ValueError(f"thickness must be at least 1, got {thickness}")
    line = thickness if thickness is not None else default_thickness(width, height)
    size = text_size if text_size is not None else default_text_size(width, height)
    if size < 1:
        raise ValueError(f"text_size must be at least 1, got {size}")
    radius = _marker_radius(size)
    rgb_colors = as_palette(palette).colors_for(detections.labels)
    colors = [_rgb(c, channels) for c in rgb_colors]
    order = np.argsort(-detections.areas, kind="stable")

    masks = detections.masks
    if masks is not None and (alpha > 0 or outline):
        _draw_masks(out, masks, colors, order, float(alpha), line if outline else 0, channels)
    if boxes:
        _draw_boxes(out, detections, colors, order, line)
    if points and detections.points is not None:
        _draw_points(out, detections.points, colors, order, radius)
    if not labels:
        return Overlay(out)
    chips = Chips(width, height, size=size, font=font)
    texts = chip_texts(detections.labels, detections.scores if scores else None)
    _add_chips(chips, detections, texts, rgb_colors, order[::-1], radius)
    rects = chips.paste(out, gap=max(2, line), bgr=channels == "BGR", line=max(1, line // 2))
    return Overlay(out, tuple(chips.hidden), chips.missing, tuple(rects))


def _canvas(
    image: ImageSource, detections: Detections, channels: Channels, max_pixels: int
) -> Image8:
    """The image to draw on (a fresh array), checked against the detections' size."""
    base = read_image(image, channels=channels, max_pixels=max_pixels)
    out = (
        base.copy() if isinstance(image, np.ndarray) and np.may_share_memory(base, image) else base
    )
    height, width = out.shape[:2]
    if (width, height) != (detections.width, detections.height):
        raise ValueError(
            f"the detections are for a {detections.width}x{detections.height} image but the "
            f"image is {width}x{height}; parse the answer with the upright image size "
            "(files are read with their EXIF orientation applied)"
        )
    return out


def _add_chips(
    chips: Chips,
    detections: Detections,
    texts: list[str],
    colors: list[RGB],
    order: npt.NDArray[np.intp],
    radius: int,
) -> None:
    """One chip per item with a box or a finite point, in ``order`` (smallest first,
    so small objects get the spots next to them before large ones)."""
    pts = detections.points
    for i in order:
        if detections.has_box[i]:
            chips.add(texts[i], colors[i], _box_pixels(detections.boxes[i]), "box")
        elif pts is not None and np.isfinite(pts[i]).all():
            cx, cy = int(pts[i, 0]), int(pts[i, 1])
            anchor = (cx - radius, cy - radius, cx + radius + 1, cy + radius + 1)
            chips.add(texts[i], colors[i], anchor, "point")


def _rgb(color: RGB, channels: Channels) -> RGB:
    """A colour in the image's channel order."""
    return (color[2], color[1], color[0]) if channels == "BGR" else color


# ------------------------------------------------------------------------------ masks
def _octagon(thickness: int) -> tuple[int, int]:
    """``(a, b)``: the octagon of radius ``thickness`` is a ``(2a+1)`` square dilated by a
    diamond of radius ``b``, with ``a + b = thickness`` and the diagonal reach also
    ``thickness`` (``b = 2t(1 - 1/sqrt 2)``)."""
    b = round(2 * thickness * (1 - 1 / math.sqrt(2)))
    return thickness - b, b


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def outline_kernel(thickness: int) -> npt.NDArray[np.uint8]:
    """The ``(2t+1) × (2t+1)`` 0/1 structuring element of the outline: a near-circular
    octagon of radius ``thickness`` (a cross for 1). A mask pixel is on the outline
    when this kernel, centred on it, reaches a pixel outside the mask."""
    a, b = _octagon(thickness)
    size = 2 * thickness + 1
    kernel = np.zeros((size, size), dtype=np.uint8)
    kernel[thickness - a : thickness + a + 1, thickness - a : thickness + a + 1] = 1
    if b:
        kernel = cv2.dilate(kernel, _CROSS, iterations=b)
    return kernel


def mask_border(
    crop: npt.NDArray[np.bool_],
    thickness: int,
    out: npt.NDArray[np.uint8] | None = None,
    scratch: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.uint8]:
    """``crop``'s inner border, ``thickness`` pixels wide, as a 0/1 uint8 array.

    The erosion by :func:`outline_kernel` is done as a square erosion followed by ``b``
    cross erosions (same result, three times faster than the octagon at once); pixels
    beyond the crop count as outside the mask. ``out`` and ``scratch`` (crop-shaped
    uint8 arrays, views allowed) are reused when given, to spare fresh memory.
    """
    m = crop.view(np.uint8)
    a, b = _octagon(thickness)
    border = dict(borderType=cv2.BORDER_CONSTANT, borderValue=0)
    eroded = m
    if a:
        square = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * a + 1, 2 * a + 1))
        eroded = cv2.erode(eroded, square, dst=scratch, **border)
    if b:
        eroded = cv2.erode(eroded, _CROSS, dst=out, iterations=b, **border)
    return cv2.subtract(m, eroded, dst=out)


def _draw_masks(
    out: Image8,
    masks: Masks,
    colors: list[RGB],
    order: npt.NDArray[np.intp],
    alpha: float,
    thickness: int,
    channels: Channels,
) -> None:
    """Fill (blended) and outline every mask, in ``order``; see the module docstring."""
    boxes = masks.crop_boxes()
    has = masks.has_mask
    if not has.any():
        return
    rx0, ry0 = (int(v) for v in boxes[has, :2].min(axis=0))
    rx1, ry1 = (int(v) for v in boxes[has, 2:].max(axis=0))
    # One index map over the union of the crops: 0 = untouched, 1..K = fill with colour
    # k, K+1..2K = outline with colour k. Painted item by item in drawing order, so a
    # later (smaller) item covers the fill and the outline of the ones below it.
    distinct = list(dict.fromkeys(colors[i] for i in range(len(colors)) if has[i]))
    ids = {c: k + 1 for k, c in enumerate(distinct)}
    k_max = len(distinct)
    dtype = np.uint8 if 2 * k_max < 256 else np.uint16
    lut = np.zeros((2 * k_max + 1, 3), dtype=np.uint8)
    lut[1 : k_max + 1] = np.array(distinct, dtype=np.uint8).reshape(-1, 3)
    outlines = [_rgb(outline_color_for(_rgb(c, channels)), channels) for c in distinct]
    lut[k_max + 1 :] = np.array(outlines, dtype=np.uint8).reshape(-1, 3)
    index = np.zeros((ry1 - ry0, rx1 - rx0), dtype=dtype)
    # Scratch buffers as large as the largest crop, reused through views: fresh memory
    # for every crop (page faults) would cost more than the erosions themselves.
    shapes = masks.shapes[has]
    max_h, max_w = (int(v) for v in shapes.max(axis=0))
    value = np.empty((max_h, max_w), dtype=dtype)
    work = np.empty((2, max_h, max_w), dtype=np.uint8) if thickness > 0 else None
    for i in order:
        if not has[i]:
            continue
        x0, y0, crop = masks.crop(int(i))
        h, w = crop.shape
        region = index[y0 - ry0 : y0 - ry0 + h, x0 - rx0 : x0 - rx0 + w]
        fill_value = value[:h, :w]
        if alpha > 0:
            fill_value.fill(ids[colors[i]])
            cv2.copyTo(fill_value, crop.view(np.uint8), region)
        if work is not None:
            # OpenCV runs the erosions on all cores itself; no extra threads here.
            edge = mask_border(crop, thickness, out=work[0, :h, :w], scratch=work[1, :h, :w])
            fill_value.fill(ids[colors[i]] + k_max)
            cv2.copyTo(fill_value, edge, region)
    roi = out[ry0:ry1, rx0:rx1]
    painted = _colorize(index, lut)
    if alpha > 0:
        fill = _in_range(index, 1, k_max)
        blended = cv2.addWeighted(roi, 1.0 - alpha, painted, alpha, 0.0)
        cv2.copyTo(blended, fill, roi)
    if thickness > 0:
        cv2.copyTo(painted, _in_range(index, k_max + 1, 2 * k_max), roi)


def _colorize(index: npt.NDArray[Any], lut: Image8) -> Image8:
    """``lut[index]`` as an ``(h, w, 3)`` image.

    One 4-byte gather per pixel (the colours packed as 32-bit words), then OpenCV drops
    the fourth byte. For a uint8 index the gather is ``cv2.LUT`` with a 256-entry int32
    table: 0.24 ms on a 470×380 region, against 0.57 ms for ``np.take`` (which first
    widens the index to intp) and 1.07 ms for ``cv2.LUT`` on a 3-channel merge (a
    3-channel table has no fast path); a uint16 index (over 127 colours) uses
    ``np.take``."""
    packed = np.zeros((256 if index.dtype == np.uint8 else len(lut), 4), dtype=np.uint8)
    packed[: len(lut), :3] = lut
    table = packed.view(np.int32).reshape(-1)
    words = cv2.LUT(index, table) if index.dtype == np.uint8 else np.take(table, index)
    return cv2.cvtColor(words.view(np.uint8).reshape(*index.shape, 4), cv2.COLOR_RGBA2RGB)


def _in_range(index: npt.NDArray[Any], low: int, high: int) -> npt.NDArray[np.uint8]:
    """255 where ``low <= index <= high``, else 0."""
    if index.dtype == np.uint8:
        return cv2.inRange(index, low, high)
    return ((index >= low) & (index <= high)).view(np.uint8)


# ------------------------------------------------------------------------------ boxes
def _box_pixels(box: npt.NDArray[np.float64]) -> tuple[int, int, int, int]:
    """Pixel-edge float box → the integer pixel range it touches ``[x0, x1) × [y0, y1)``."""
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = max(math.ceil(box[2]), x0 + 1), max(math.ceil(box[3]), y0 + 1)
    return x0, y0, x1, y1


def _draw_boxes(
    out: Image8,
    detections: Detections,
    colors: list[RGB],
    order: npt.NDArray[np.intp],
    thickness: int,
) -> None:
    height, width = out.shape[:2]
    masked = (
        detections.masks.has_mask
        if detections.masks is not None
        else np.zeros(len(detections), dtype=np.bool_)
    )
    done: set[tuple[int, int, int, int, RGB]] = set()
    for i in order:
        if not detections.has_box[i]:
            continue
        x0, y0, x1, y1 = _box_pixels(detections.boxes[i])
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width), min(y1, height)
        key = (x0, y0, x1, y1, colors[i])
        if x1 <= x0 or y1 <= y0 or key in done:
            continue
        done.add(key)
        # A mask already shows the object: its box is drawn thinner, as context.
        wanted = max(1, thickness // 2) if masked[i] else thickness
        t = max(1, min(wanted, (x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2))
        color = np.array(colors[i], dtype=np.uint8)
        out[y0 : y0 + t, x0:x1] = color
        out[y1 - t : y1, x0:x1] = color
        out[y0:y1, x0 : x0 + t] = color
        out[y0:y1, x1 - t : x1] = color


# ----------------------------------------------------------------------------- points
def _marker_radius(text_size: int) -> int:
    """Point marker radius in pixels: a third of the label text size."""
    return max(4, round(text_size * 0.33))


def _draw_points(
    out: Image8,
    points: npt.NDArray[np.float64],
    colors: list[RGB],
    order: npt.NDArray[np.intp],
    radius: int,
) -> None:
    """A dot in the item colour with a white ring and a thin dark rim, centred on the
    point with sub-pixel precision (anti-aliased)."""
    ring = max(1, round(radius * 0.3))
    rim = max(1, round(radius * 0.12))
    shift = 4
    scale = 1 << shift
    for i in order:
        x, y = points[i]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        # Pixel (c, r) spans [c, c+1); OpenCV puts pixel centres on integers.
        center = (round((x - 0.5) * scale), round((y - 0.5) * scale))
        color = tuple(int(c) for c in colors[i])
        cv2.circle(out, center, (radius + rim) * scale, (30, 30, 30), -1, cv2.LINE_AA, shift)
        cv2.circle(out, center, radius * scale, (255, 255, 255), -1, cv2.LINE_AA, shift)
        cv2.circle(out, center, (radius - ring) * scale, color, -1, cv2.LINE_AA, shift)
