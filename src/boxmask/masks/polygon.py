"""Polygon masks rasterized exactly as pycocotools does (pixel-edge semantics).

Newer Gemini models send ``mask`` as a polygon ``[[x, y], ...]`` normalized to 0–1000 over
the whole image (x first). boxmask rasterizes it straight into a crop, reproducing
pycocotools' ``rleFrPoly`` pixel for pixel: pixel ``(c, r)`` covers ``[c, c+1) × [r, r+1)``
and is filled when the polygon covers its centre, with pycocotools' exact tie rules
(5× upsampled boundary walk, column crossings, parity fill). Vectorized numpy, cost
proportional to the polygon's perimeter and bounding box, never to the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_WALK", "rasterize_polygon", "rasterize_polygons", "walk_length"]

_SCALE = 5.0
_SCALE_INT = 5
#: Most boundary points :func:`rasterize_polygon` walks (5 per pixel of outline, as
#: pycocotools does): 400,000 pixels of outline, 28 times around a 12 MP image. The walk
#: holds ~100 bytes per point, so a polygon with vertices far outside the image (a
#: corrupt answer) is refused with a ValueError instead of taking gigabytes.
MAX_WALK = 2_000_000
#: Largest coordinate (pixels) accepted; beyond it the walk's integers would overflow.
_MAX_COORD = 1e9

BoolArray = npt.NDArray[np.bool_]
Crop = tuple[int, int, BoolArray]


def _edges(xy: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[Any]]:
    """pycocotools' per-edge walk set-up on the 5× upsampled integer grid."""
    # (int)(scale * v + .5) in C truncates toward zero.
    xs = np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64)
    ys = np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)
    x_end, y_end = np.roll(xs, -1), np.roll(ys, -1)
    dx = np.abs(x_end - xs)
    dy = np.abs(y_end - ys)
    along_x = dx >= dy
    flip = (along_x & (xs > x_end)) | (~along_x & (ys > y_end))
    xs0 = np.where(flip, x_end, xs)
    xs1 = np.where(flip, xs, x_end)
    ys0 = np.where(flip, y_end, ys)
    ys1 = np.where(flip, ys, y_end)
    steps = np.maximum(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(
            along_x,
            (ys1 - ys0).astype(np.float64) / dx,
            (xs1 - xs0).astype(np.float64) / dy,
        )
    slope = np.where(steps == 0, 0.0, slope)
    return {
        "along_x": along_x,
        "flip": flip,
        "xs0": xs0,
        "ys0": ys0,
        "xs1": xs1,
        "steps": steps,
        "slope": slope,
    }


def _walk_point(
    e: dict[str, npt.NDArray[Any]], edge: npt.NDArray[np.int64], t: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Walk point ``(u, v)`` at parameter ``t`` of ``edge`` (pycocotools' formulas)."""
    tf = t.astype(np.float64)
    ax = e["along_x"][edge]
    xs0, ys0, slope = e["xs0"][edge], e["ys0"][edge], e["slope"][edge]
    u = np.where(ax, t + xs0, np.trunc(xs0 + slope * tf + 0.5).astype(np.int64))
    v = np.where(ax, np.trunc(ys0 + slope * tf + 0.5).astype(np.int64), t + ys0)
    return u, v


def _pair_crossings(
    u_prev: npt.NDArray[np.int64],
    v_prev: npt.NDArray[np.int64],
    u_cur: npt.NDArray[np.int64],
    v_cur: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Upsampled ``(x, y)`` of the crossings of consecutive walk points where u changes."""
    changed = u_cur != u_prev
    u_cur, u_prev = u_cur[changed], u_prev[changed]
    v_cur, v_prev = v_cur[changed], v_prev[changed]
    return np.where(u_cur < u_prev, u_cur, u_cur - 1), np.where(v_cur < v_prev, v_cur, v_prev)


def _crossings(xy: npt.NDArray[np.float64], width: int, height: int) -> npt.NDArray[np.int64]:
    """Column-major flat positions (x·h + y) where the fill parity flips (pycocotools rules).

    pycocotools walks every upsampled boundary point and keeps consecutive pairs whose
    column ``u`` changes at a pixel centre (``u ≡ 2 mod 5``). Walked here, with the same
    arithmetic: on mostly-horizontal edges ``u`` steps by one, so only the pairs at those
    centres (and inside the image's columns) are computed; mostly-vertical edges are
    walked point by point; and the pairs joining one edge's last point to the next
    edge's first.
    """
    e = _edges(xy)
    along_x, steps, xs0, xs1 = e["along_x"], e["steps"], e["xs0"], e["xs1"]
    xd_parts: list[npt.NDArray[np.int64]] = []
    yd_parts: list[npt.NDArray[np.int64]] = []
    # Mostly-horizontal edges: pairs (k, k + 1) with k ≡ 2 (mod 5) in the image's columns.
    hx = np.flatnonzero(along_x & (steps > 0))
    if hx.size:
        lo = np.maximum(xs0[hx], 2)
        hi = np.minimum(xs1[hx] - 1, _SCALE_INT * (width - 1) + 2)
        first = lo + (2 - lo) % _SCALE_INT
        counts = np.where(hi >= first, (hi - first) // _SCALE_INT + 1, 0)
        edge = np.repeat(hx, counts)
        starts = np.cumsum(counts) - counts
        k = np.repeat(first, counts) + _SCALE_INT * (
            np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
        )
        t = k - xs0[edge]
        _, v_a = _walk_point(e, edge, t)
        _, v_b = _walk_point(e, edge, t + 1)
        xd_parts.append(k)
        yd_parts.append(np.minimum(v_a, v_b))
    # Mostly-vertical edges: every point, consecutive pairs inside each edge.
    vy = np.flatnonzero(~along_x)
    if vy.size:
        counts = steps[vy] + 1
        edge = np.repeat(vy, counts)
        starts = np.cumsum(counts) - counts
        d = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
        t = np.where(e["flip"][edge], steps[edge] - d, d)
        u, v = _walk_point(e, edge, t)
        inside = d[1:] != 0  # both points of the pair on the same edge
        xd, yd = _pair_crossings(u[:-1][inside], v[:-1][inside], u[1:][inside], v[1:][inside])
        xd_parts.append(xd)
        yd_parts.append(yd)
    # Joins: the last point of edge i and the first point of edge i + 1.
    if len(steps) > 1:
        edges = np.arange(len(steps), dtype=np.int64)
        flip = e["flip"]
        last_u, last_v = _walk_point(e, edges[:-1], np.where(flip[:-1], 0, steps[:-1]))
        first_u, first_v = _walk_point(e, edges[1:], np.where(flip[1:], steps[1:], 0))
        xd, yd = _pair_crossings(last_u, last_v, first_u, first_v)
        xd_parts.append(xd)
        yd_parts.append(yd)
    if not xd_parts:
        return np.zeros(0, dtype=np.int64)
    xd_all = (np.concatenate(xd_parts).astype(np.float64) + 0.5) / _SCALE - 0.5
    keep = (np.floor(xd_all) == xd_all) & (xd_all >= 0) & (xd_all <= width - 1)
    yd_all = (np.concatenate(yd_parts).astype(np.float64) + 0.5) / _SCALE - 0.5
    yd_all = np.ceil(np.clip(yd_all, 0, height))
    return xd_all[keep].astype(np.int64) * height + yd_all[keep].astype(np.int64)


def _effective_toggles(positions: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    """Apply pycocotools' run-merging rule: equal positions cancel in pairs."""
    if positions.size == 0:
        return positions
    unique, counts = np.unique(positions, return_counts=True)
    flips = counts % 2 == 1
    unique = unique[flips]
    return unique[unique < total]


def walk_length(xy_pixels: npt.ArrayLike) -> float:
    """Boundary points :func:`rasterize_polygon` would walk for this ring (float, so
    absurd coordinates give a large number instead of overflowing)."""
    xy = np.asarray(xy_pixels, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        steps = np.abs(np.roll(xy, -1, axis=0) - xy) * _SCALE
        return float(np.maximum(steps[:, 0], steps[:, 1]).sum() + len(xy))


def rasterize_polygon(xy_pixels: npt.ArrayLike, width: int, height: int) -> Crop:
    """Rasterize one polygon given in pixel coordinates ``(K, 2) [x, y]``.

    Returns ``(x0, y0, crop)``: the crop is a C-contiguous bool array whose top-left pixel
    is ``(x0, y0)``; outside it the mask is empty. Pixels are those pycocotools'
    ``frPyObjects`` + ``decode`` fill for the same polygon and image size. Raises
    ``ValueError`` when the outline is longer than :data:`MAX_WALK` points (vertices far
    outside the image).
    """
    xy = np.asarray(xy_pixels, dtype=np.float64).reshape(-1, 2)
    empty: Crop = (0, 0, np.zeros((0, 0), dtype=np.bool_))
    if len(xy) < 2 or not np.isfinite(xy).all():
        return empty
    walk = walk_length(xy)
    if walk > MAX_WALK or np.abs(xy).max() > _MAX_COORD:
        raise ValueError(
            f"polygon outline is too long to rasterize ({walk:.3g} boundary points, cap "
            f"{MAX_WALK:,}): its vertices lie far outside the image"
        )
    toggles = _effective_toggles(_crossings(xy, width, height), width * height)
    if toggles.size == 0:
        return empty
    cols = toggles // height
    rows = toggles % height
    col_parity = np.bincount(cols - cols.min()) % 2
    x0 = int(cols.min())
    if not col_parity.any():
        # Every column opens and closes inside itself: a tight crop suffices.
        x1 = int(cols.max()) + 1
        y0, y1 = int(rows.min()), int(rows.max())
        crop_h = y1 - y0
        if crop_h <= 0:
            return empty
        # Row-major from the start (toggles are unique, so plain assignment), filled
        # down each column in place: no transpose, no scatter-add.
        # Rows padded to whole 8-byte words: the XOR runs on uint64, 8 columns at once
        # (each byte is its own column, XOR does not carry), 40x faster than on bytes.
        crop_w = x1 - x0
        grid = np.zeros((crop_h + 1, -(-crop_w // 8) * 8), dtype=np.uint8)
        grid[rows - y0, cols - x0] = 1
        words = grid[:crop_h].view(np.uint64)
        np.bitwise_xor.accumulate(words, axis=0, out=words)
        filled = grid[:crop_h, :crop_w]
        return x0, y0, np.ascontiguousarray(filled).view(np.bool_)
    # Degenerate polygons can leave a column open; pycocotools then carries the fill
    # into the next columns (column-major runs). Reproduce that over full columns.
    span = (width - x0) * height
    flat = np.zeros(span, dtype=np.uint8)
    np.bitwise_xor.at(flat, toggles - x0 * height, 1)
    filled = np.bitwise_xor.accumulate(flat).reshape(width - x0, height)
    return x0, 0, np.ascontiguousarray(filled.T).view(np.bool_)


def rasterize_polygons(
    polygons_xy_pixels: list[npt.NDArray[np.float64]], width: int, height: int
) -> Crop:
    """Union of several polygons (the parts of one mask), as pycocotools ``merge`` does."""
    parts = [rasterize_polygon(p, width, height) for p in polygons_xy_pixels]
    parts = [p for p in parts if p[2].size]
    if not parts:
        return 0, 0, np.zeros((0, 0), dtype=np.bool_)
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
