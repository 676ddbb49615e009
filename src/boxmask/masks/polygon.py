"""Polygon masks rasterized exactly as pycocotools does (pixel-edge semantics).

Newer Gemini models send ``mask`` as a polygon ``[[x, y], ...]`` normalized to 0–1000 over
the whole image (x first). boxmask rasterizes it straight into a crop, reproducing
pycocotools' ``rleFrPoly`` pixel for pixel: pixel ``(c, r)`` covers ``[c, c+1) × [r, r+1)``
and is filled when the polygon covers its centre, with pycocotools' exact tie rules
(5× upsampled boundary walk, column crossings, column-major parity fill).

Every ring of an answer is rasterized in one vectorized pass (:func:`rasterize_masks`):
the crossings of all rings are found together (:mod:`boxmask.masks.polygon_walk`), at a
cost that follows the pixel columns they span, not the points of their outlines, and
each ring's crop is filled by one XOR scan down its columns. Measured with
``benchmarks/bench_decode.py`` (200 rings of 40 vertices on a 4032×3024 image, runs
interleaved in one process, on a 2-core machine at load 6–8): 1.6–2.8× the time of
``cv2.fillPoly`` on the same crops (which does not give pycocotools' pixels); 14–24×
before. No full-image array is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from boxmask.masks.arena import take as take_arena
from boxmask.masks.polygon_walk import following_vertex, ring_crossings

__all__ = [
    "MAX_WALK",
    "outline_refusal",
    "outline_walks",
    "rasterize_masks",
    "rasterize_polygon",
    "rasterize_polygons",
    "walk_length",
]

_SCALE = 5.0
#: Most boundary points one ring may have on pycocotools' walk (5 per pixel of outline):
#: 400,000 pixels of outline, 28 times around a 12 MP image. A ring with vertices far
#: outside the image (a corrupt answer) is refused with a ValueError: pycocotools would
#: take gigabytes for it, and its crop would be as large.
MAX_WALK = 2_000_000
#: Largest coordinate (pixels) accepted; beyond it the walk's integers would overflow.
_MAX_COORD = 1e9

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Crop = tuple[int, int, BoolArray]


def _empty() -> Crop:
    return 0, 0, np.zeros((0, 0), dtype=np.bool_)


def _ring_crops(
    rings: Sequence[npt.NDArray[np.float64]], width: int, height: int
) -> list[Crop | None]:
    """One crop per ring (None when it fills nothing), rasterized together.

    Every ring gets a grid: its crop plus one row for the flips at the crop's bottom
    edge, rows padded to whole 8-byte words. All flips are placed in one sorted array of
    grid positions (equal flips cancel in pairs, as pycocotools' run merging does); each
    ring's are set in a small scratch grid, XOR-scanned down the columns on uint64 (8
    columns at once), and the crop copied into one shared arena: no full-image array,
    no allocation per ring.
    """
    out: list[Crop | None] = [None] * len(rings)
    ring, x, y = ring_crossings(rings, width, height)
    if not ring.size:
        return out
    n = len(rings)
    x0, x_hi = np.full(n, width, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    y0, y_hi = np.full(n, height, dtype=np.int64), np.zeros(n, dtype=np.int64)
    np.minimum.at(x0, ring, x)
    np.maximum.at(x_hi, ring, x)
    np.minimum.at(y0, ring, y)
    np.maximum.at(y_hi, ring, y)
    present = np.flatnonzero(x_hi >= 0)
    widths = np.where(x_hi >= 0, x_hi + 1 - x0, 0)
    heights = np.where(x_hi >= 0, y_hi - y0, 0)
    padded = -(-widths // 8) * 8
    grid_sizes = np.where(x_hi >= 0, (heights + 1) * padded, 0)
    grid_starts = np.cumsum(grid_sizes) - grid_sizes
    keys = grid_starts[ring] + (y - y0[ring]) * padded[ring] + x - x0[ring]
    keys.sort()
    if (keys[1:] == keys[:-1]).any():
        keys = _odd_occurrences(keys)
    bounds = np.r_[np.searchsorted(keys, grid_starts[present]), keys.size].tolist()
    sizes = heights * widths
    arena = take_arena(int(sizes.sum()))
    offsets = (np.cumsum(sizes) - sizes).tolist()
    scratch = np.zeros(int(grid_sizes.max()), dtype=np.uint8)
    for s, r in enumerate(present.tolist()):
        left, top, h, w = int(x0[r]), int(y0[r]), int(heights[r]), int(widths[r])
        w8, start = int(padded[r]), int(grid_starts[r])
        grid = scratch[: (h + 1) * w8]
        flips = keys[bounds[s] : bounds[s + 1]] - start
        grid[flips] = 1
        words = grid.view(np.uint64).reshape(h + 1, w8 // 8)
        np.bitwise_xor.accumulate(words, axis=0, out=words)
        if words[h].any():
            # Some column does not close: pycocotools carries the fill on, column-major.
            out[r] = _carried_fill(flips % w8 + left, flips // w8 + top, width, height)
        elif h > 0:
            crop = arena[offsets[r] : offsets[r] + h * w].reshape(h, w)
            np.copyto(crop, grid[: h * w8].reshape(h, w8)[:, :w])
            out[r] = (left, top, crop.view(np.bool_))
        grid[:] = 0
    return out


def _odd_occurrences(sorted_keys: IntArray) -> IntArray:
    """The values occurring an odd number of times in a sorted array (once each)."""
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    counts = np.diff(np.r_[starts, sorted_keys.size])
    return sorted_keys[starts[counts % 2 == 1]]


def _carried_fill(x: IntArray, y: IntArray, width: int, height: int) -> Crop | None:
    """The fill of one ring some of whose columns flip an odd number of times, exactly
    as pycocotools runs it: flips at column-major positions ``x · height + y`` (those at
    or past the image's end do nothing), the fill carried from column to column, over
    full columns from the first flipped one.

    Defensive: pycocotools' walk is a closed loop, so every column a ring crosses is
    crossed an even number of times and this path is not taken by any ring found so far
    (random, edge-touching and degenerate ones); it keeps the pixels right if one does."""
    position = x * height + y
    position = position[position < width * height]
    if not position.size:
        return None
    first = int(position.min()) // height
    flat = np.zeros((width - first) * height, dtype=np.uint8)
    np.bitwise_xor.at(flat, position - first * height, 1)
    np.bitwise_xor.accumulate(flat, out=flat)
    return first, 0, np.ascontiguousarray(flat.reshape(width - first, height).T).view(np.bool_)


def _union(parts: list[Crop]) -> Crop:
    """Union of crops of one image (pycocotools ``merge``)."""
    if len(parts) == 1:
        return parts[0]
    x0 = min(p[0] for p in parts)
    y0 = min(p[1] for p in parts)
    x1 = max(p[0] + p[2].shape[1] for p in parts)
    y1 = max(p[1] + p[2].shape[0] for p in parts)
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.bool_)
    for px, py, crop in parts:
        region = out[py - y0 : py - y0 + crop.shape[0], px - x0 : px - x0 + crop.shape[1]]
        np.logical_or(region, crop, out=region)
    return x0, y0, out


def outline_walks(
    rings: Sequence[npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """For each ring ``(K, 2)`` pixel ``[x, y]`` (K >= 1): the boundary points
    pycocotools would walk (float, so absurd coordinates give a large number instead of
    overflowing), and whether the ring can be rasterized (finite, walk at most
    :data:`MAX_WALK`, coordinates within 1e9 px)."""
    if not rings:
        return np.zeros(0), np.zeros(0, dtype=np.bool_)
    lengths = np.array([len(r) for r in rings], dtype=np.int64)
    xy = np.concatenate(rings).astype(np.float64, copy=False)
    starts = np.cumsum(lengths) - lengths
    with np.errstate(over="ignore", invalid="ignore"):
        steps = np.abs(xy[following_vertex(lengths)] - xy) * _SCALE
        longest_axis = np.maximum(steps[:, 0], steps[:, 1])
        walks: npt.NDArray[np.float64] = np.add.reduceat(longest_axis, starts) + lengths
        farthest = np.maximum.reduceat(np.abs(xy).max(axis=1), starts)
    ok = np.isfinite(walks) & (walks <= MAX_WALK) & (farthest <= _MAX_COORD)
    return walks, ok


def walk_length(xy_pixels: npt.ArrayLike) -> float:
    """Boundary points pycocotools would walk for this ring (see :func:`outline_walks`)."""
    xy = np.asarray(xy_pixels, dtype=np.float64).reshape(-1, 2)
    return float(outline_walks([xy])[0][0]) if len(xy) else 0.0


def outline_refusal(walk: float) -> str:
    """The reason given for a ring :func:`outline_walks` refuses."""
    return (
        f"polygon outline is too long to rasterize ({walk:.3g} boundary points, cap "
        f"{MAX_WALK:,}): its vertices lie far outside the image"
    )


def rasterize_masks(
    masks: Sequence[Sequence[npt.ArrayLike]], width: int, height: int
) -> list[Crop]:
    """Rasterize many polygon masks of one ``width × height`` image in one pass.

    Each mask is a list of rings ``(K, 2) [x, y]`` in pixels; the result per mask is
    ``(x0, y0, crop)``, the union of its rings as pycocotools' ``frPyObjects`` +
    ``merge`` + ``decode`` fill it (an empty (0, 0) crop when nothing is filled). Rings
    with fewer than 2 points or non-finite coordinates fill nothing. Raises
    ``ValueError`` when a ring's outline is too long (see :func:`outline_walks`).
    """
    rings: list[npt.NDArray[np.float64]] = []
    owner: list[int] = []
    for m, mask in enumerate(masks):
        for ring in mask:
            xy = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
            if len(xy) >= 2 and np.isfinite(xy).all():
                rings.append(xy)
                owner.append(m)
    walks, ok = outline_walks(rings)
    if not ok.all():
        raise ValueError(outline_refusal(float(walks[~ok][0])))
    parts: list[list[Crop]] = [[] for _ in masks]
    if rings:
        for m, crop in zip(owner, _ring_crops(rings, width, height), strict=True):
            if crop is not None:
                parts[m].append(crop)
    return [_union(p) if p else _empty() for p in parts]


def rasterize_polygon(xy_pixels: npt.ArrayLike, width: int, height: int) -> Crop:
    """Rasterize one polygon given in pixel coordinates ``(K, 2) [x, y]``.

    Returns ``(x0, y0, crop)``: the crop is a C-contiguous bool array whose top-left pixel
    is ``(x0, y0)``; outside it the mask is empty. Pixels are those pycocotools'
    ``frPyObjects`` + ``decode`` fill for the same polygon and image size. Raises
    ``ValueError`` when the outline is longer than :data:`MAX_WALK` points (vertices far
    outside the image).
    """
    return rasterize_masks([[xy_pixels]], width, height)[0]


def rasterize_polygons(
    polygons_xy_pixels: Sequence[npt.ArrayLike], width: int, height: int
) -> Crop:
    """Union of several polygons (the parts of one mask), as pycocotools ``merge`` does."""
    return rasterize_masks([polygons_xy_pixels], width, height)[0]
