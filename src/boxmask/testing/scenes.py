"""Synthetic scenes with known ground truth, and the "model" of the fake server.

A :class:`Scene` is a plain background with colored shapes (rectangles, ellipses,
triangles) that do not overlap; :meth:`Scene.masks` and :meth:`Scene.boxes` are the truth.
:func:`find_regions` segments any RGB image by color (background = the border's median
color, foreground pixels named by the nearest palette color, 8-connected components),
and the ``*_answer`` functions write what Gemini would: ``box_2d`` ``[ymin, xmin, ymax,
xmax]`` and ``point`` ``[y, x]`` in 0–1000, masks as 256×256 PNG data URIs (Gemini 2.5)
or ``[[x, y], …]`` polygons in 0–1000 (Gemini 3.x).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from boxmask.testing.answers import encode_png_mask

__all__ = [
    "PALETTE",
    "Region",
    "Scene",
    "Shape",
    "boxes_answer",
    "caption",
    "find_regions",
    "make_scene",
    "masks_answer",
    "points_answer",
    "select_regions",
]

#: Shape colors (RGB) and the names the fake model uses for them.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 220),
    "yellow": (235, 200, 40),
    "purple": (140, 60, 180),
    "orange": (245, 135, 30),
}
KINDS = ("rectangle", "ellipse", "triangle")
_SYNONYMS = {
    "rectangle": ("rectangle", "square", "block"),
    "ellipse": ("ellipse", "circle", "oval", "disc", "disk"),
    "triangle": ("triangle",),
}
_FOREGROUND_DISTANCE = 48  # max channel difference from the background
Mask = npt.NDArray[np.bool_]
_KERNEL = np.ones((3, 3), dtype=np.uint8)


def kind_label(kind: str, width: int, height: int) -> str:
    """``square`` / ``circle`` for near-equal sides, else the kind itself."""
    squareish = abs(width - height) <= max(2, 0.08 * max(width, height))
    if squareish and kind == "rectangle":
        return "square"
    if squareish and kind == "ellipse":
        return "circle"
    return kind


@dataclass(frozen=True)
class Shape:
    """One shape: ``kind``, palette ``color`` name, and its pixel box ``(x0, y0, x1, y1)``
    (``x1``/``y1`` exclusive) that the filled shape touches on every side."""

    kind: str
    color: str
    box: tuple[int, int, int, int]

    @property
    def label(self) -> str:
        x0, y0, x1, y1 = self.box
        return f"{self.color} {kind_label(self.kind, x1 - x0, y1 - y0)}"

    def mask(self, width: int, height: int) -> Mask:
        """The filled shape as a full ``(height, width)`` bool mask."""
        x0, y0, x1, y1 = self.box
        out = np.zeros((height, width), dtype=np.uint8)
        if self.kind == "rectangle":
            out[y0:y1, x0:x1] = 1
        elif self.kind == "ellipse":
            yy, xx = np.mgrid[y0:y1, x0:x1]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
            inside = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0
            out[y0:y1, x0:x1] = inside
        else:
            apex = ((x0 + x1 - 1) // 2, y0)
            pts = np.array([apex, (x0, y1 - 1), (x1 - 1, y1 - 1)], dtype=np.int32)
            cv2.fillPoly(out, [pts], 1)
        return out.astype(bool)


@dataclass(frozen=True)
class Scene:
    """A ``width × height`` image: ``background`` RGB plus non-overlapping ``shapes``."""

    width: int
    height: int
    background: tuple[int, int, int]
    shapes: tuple[Shape, ...]

    def render(self) -> npt.NDArray[np.uint8]:
        """``(height, width, 3)`` uint8 RGB pixels."""
        image = np.empty((self.height, self.width, 3), dtype=np.uint8)
        image[:] = self.background
        for shape, mask in zip(self.shapes, self.masks(), strict=True):
            image[mask] = PALETTE[shape.color]
        return image

    def masks(self) -> list[Mask]:
        """Ground-truth full masks, one per shape."""
        return [s.mask(self.width, self.height) for s in self.shapes]

    def boxes(self) -> npt.NDArray[np.float64]:
        """Ground-truth ``(N, 4)`` pixel ``[xmin, ymin, xmax, ymax]`` edges of each mask."""
        rows = []
        for mask in self.masks():
            ys, xs = np.nonzero(mask)
            rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        return np.array(rows, dtype=np.float64).reshape(-1, 4)

    def encode(self, fmt: str = "PNG", **options: Any) -> bytes:
        """The rendered image as file bytes (``PNG``, ``JPEG``, ``WEBP``, …)."""
        buf = io.BytesIO()
        Image.fromarray(self.render()).save(buf, fmt, **options)
        return buf.getvalue()


def make_scene(
    seed: int = 0,
    *,
    width: int = 320,
    height: int = 240,
    n_shapes: int = 3,
    background: tuple[int, int, int] = (250, 250, 250),
    min_side: int = 28,
) -> Scene:
    """A random scene with ``n_shapes`` (<= 6) shapes of distinct colors, kinds cycling,
    separated by at least 6 px. Deterministic for a seed."""
    if not 0 <= n_shapes <= len(PALETTE):
        raise ValueError(f"n_shapes must be 0..{len(PALETTE)}")
    rng = np.random.default_rng(seed)
    colors = list(PALETTE)
    rng.shuffle(colors)
    max_side = max(min_side + 1, min(width, height) // 2)
    shapes: list[Shape] = []
    for i in range(n_shapes):
        for _ in range(500):
            w, h = (int(v) for v in rng.integers(min_side, max_side, 2))
            x0 = int(rng.integers(2, max(3, width - w - 2)))
            y0 = int(rng.integers(2, max(3, height - h - 2)))
            box = (x0, y0, x0 + w, y0 + h)
            if all(_apart(box, s.box, 6) for s in shapes):
                shapes.append(Shape(KINDS[i % len(KINDS)], colors[i], box))
                break
        else:
            raise ValueError("could not place the shapes: use a larger image or fewer shapes")
    return Scene(width, height, background, tuple(shapes))


def _apart(a: tuple[int, ...], b: tuple[int, ...], gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


# ---------------------------------------------------------------------- the "model"
@dataclass(frozen=True)
class Region:
    """A segmented region: pixel box ``(x0, y0, x1, y1)`` (exclusive ends), its bool
    ``crop`` of that box, the palette ``color`` and the shape ``kind`` label."""

    color: str
    kind: str
    box: tuple[int, int, int, int]
    crop: Mask

    @property
    def label(self) -> str:
        return f"{self.color} {self.kind}"


def find_regions(rgb: npt.NDArray[np.uint8], *, max_regions: int = 100) -> list[Region]:
    """Segment an RGB image by color (see the module doc). Regions come top-down, left-right."""
    height, width = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    diff = np.abs(rgb.astype(np.int16) - background).max(axis=2)
    foreground = diff > _FOREGROUND_DISTANCE
    if not foreground.any():
        return []
    names = list(PALETTE)
    colors = np.array([PALETTE[n] for n in names], dtype=np.float32)
    pixels = rgb[foreground].astype(np.float32)
    nearest = ((pixels[:, None, :] - colors[None]) ** 2).sum(axis=2).argmin(axis=1)
    labels = np.full((height, width), -1, dtype=np.int16)
    labels[foreground] = nearest
    min_area = max(12, int(0.0002 * width * height))
    regions: list[Region] = []
    for index, name in enumerate(names):
        layer = (labels == index).astype(np.uint8)
        if not layer.any():
            continue
        # Opening drops the thin rings JPEG leaves around other colours' edges; growing
        # the rest back inside the layer restores sharp corners (triangle apexes).
        grown = cv2.morphologyEx(layer, cv2.MORPH_OPEN, _KERNEL)
        for _ in range(32):
            step = cv2.dilate(grown, _KERNEL) & layer
            if np.array_equal(step, grown):
                break
            grown = step
        layer = grown
        count, comp, stats, _ = cv2.connectedComponentsWithStats(layer, connectivity=8)
        for c in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[c])
            if area < min_area:
                continue
            crop = comp[y : y + h, x : x + w] == c
            fill = area / float(w * h)
            kind = "rectangle" if fill >= 0.92 else "ellipse" if fill >= 0.66 else "triangle"
            regions.append(Region(name, kind_label(kind, w, h), (x, y, x + w, y + h), crop))
    regions.sort(key=lambda r: (r.box[1], r.box[0]))
    return regions[:max_regions]


def select_regions(regions: list[Region], text: str) -> list[Region]:
    """The regions a request asks for: colors and shape words in ``text`` filter them
    ("the red circles", "squares"); with neither, every region."""
    lowered = text.lower()
    colors = {c for c in PALETTE if re.search(rf"\b{c}\b", lowered)}
    kinds = {
        word
        for kind, words in _SYNONYMS.items()
        for word in words
        if re.search(rf"\b{word}(e?s)?\b", lowered)
    }
    wanted_kinds = {k for k, words in _SYNONYMS.items() if kinds & set(words)}
    out = []
    for region in regions:
        base = next(k for k, words in _SYNONYMS.items() if region.kind in words)
        if colors and region.color not in colors:
            continue
        if wanted_kinds and base not in wanted_kinds:
            continue
        out.append(region)
    return out


def _box_1000(region: Region, width: int, height: int) -> list[int]:
    x0, y0, x1, y1 = region.box
    return [
        round(y0 / height * 1000),
        round(x0 / width * 1000),
        round(y1 / height * 1000),
        round(x1 / width * 1000),
    ]


def boxes_answer(regions: list[Region], width: int, height: int) -> list[dict[str, Any]]:
    """``[{"box_2d": [ymin, xmin, ymax, xmax], "label"}]`` in 0–1000."""
    return [{"box_2d": _box_1000(r, width, height), "label": r.label} for r in regions]


def points_answer(regions: list[Region], width: int, height: int) -> list[dict[str, Any]]:
    """``[{"point": [y, x], "label"}]`` in 0–1000, each point deep inside its region."""
    out = []
    for r in regions:
        padded = np.pad(r.crop.astype(np.uint8), 1)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
        cy, cx = np.unravel_index(int(dist.argmax()), dist.shape)
        x = r.box[0] + cx + 0.5
        y = r.box[1] + cy + 0.5
        out.append({"point": [round(y / height * 1000), round(x / width * 1000)], "label": r.label})
    return out


def masks_answer(
    regions: list[Region], width: int, height: int, *, mask_format: str = "png"
) -> list[dict[str, Any]]:
    """Items with ``box_2d``, ``label`` and ``mask``: ``png`` (256×256 {0, 255} PNG data
    URI covering the box), ``polygon`` (``[[x, y], …]`` 0–1000) or ``tokens``
    (``<start_of_mask><seg_N>…``, the undecodable drift some models show)."""
    out = []
    for r in regions:
        item: dict[str, Any] = {"box_2d": _box_1000(r, width, height), "label": r.label}
        if mask_format == "png":
            small = cv2.resize(r.crop.astype(np.uint8) * 255, (256, 256), cv2.INTER_LINEAR)
            item["mask"] = encode_png_mask(np.where(small > 127, 255, 0).astype(np.uint8))
        elif mask_format == "polygon":
            item["mask"] = _polygon(r, width, height)
        elif mask_format == "tokens":
            item["mask"] = "<start_of_mask>" + "".join(f"<seg_{i % 64}>" for i in range(16))
        else:
            raise ValueError(f"mask_format must be png, polygon or tokens, not {mask_format!r}")
        out.append(item)
    return out


def _polygon(region: Region, width: int, height: int) -> list[list[int]]:
    # Contours of the 2× upsampled crop trace pixel edges, not pixel centres.
    big = cv2.resize(
        region.crop.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST
    )
    contours, _ = cv2.findContours(np.pad(big, 1), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    xs = region.box[0] + (contour[:, 0] - 1 + 0.5) / 2
    ys = region.box[1] + (contour[:, 1] - 1 + 0.5) / 2
    return [
        [round(x / width * 1000), round(y / height * 1000)] for x, y in zip(xs, ys, strict=True)
    ]


def caption(regions: list[Region], width: int, height: int, background: str = "") -> str:
    """A one-sentence description of an image's regions."""
    if not regions:
        return f"A plain {width}x{height} image with no distinct shapes."
    names = ", ".join(f"a {r.label}" for r in regions)
    where = f" on a {background} background" if background else ""
    return f"A {width}x{height} image with {len(regions)} shape(s){where}: {names}."
