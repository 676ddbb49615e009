"""pycocotools' polygon boundary walk, vectorized over every ring of an answer.

``rleFrPoly`` upsamples a ring ×5, walks every integer point of its outline, and keeps
the pairs of consecutive points whose column changes at a pixel centre: each is a place
where the column-major fill flips. :func:`ring_crossings` finds the same flips with the
same arithmetic, without walking every point: mostly-horizontal edges step one column
at a time (only the steps at pixel centres are computed), and on mostly-vertical edges
the step where the column passes a pixel centre is solved for, then corrected exactly.
The work follows the columns the rings span, not the length of their outlines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["following_vertex", "ring_crossings"]

_SCALE = 5.0
_SCALE_INT = 5

IntArray = npt.NDArray[np.int64]
Crossings = tuple[IntArray, IntArray, IntArray]


class _Edges:
    """pycocotools' per-edge walk set-up on the 5× upsampled integer grid, for the edges
    of many rings at once (edge ``j`` joins vertex ``j`` to ``following[j]``)."""

    def __init__(self, xy: npt.NDArray[np.float64], following: IntArray) -> None:
        # (int)(scale * v + .5) in C truncates toward zero.
        xs = np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64)
        ys = np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)
        x_end, y_end = xs[following], ys[following]
        dx = np.abs(x_end - xs)
        dy = np.abs(y_end - ys)
        self.along_x = dx >= dy
        self.flip = (self.along_x & (xs > x_end)) | (~self.along_x & (ys > y_end))
        self.xs0 = np.where(self.flip, x_end, xs)
        self.xs1 = np.where(self.flip, xs, x_end)
        self.ys0 = np.where(self.flip, y_end, ys)
        ys1 = np.where(self.flip, ys, y_end)
        self.steps = np.maximum(dx, dy)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(
                self.along_x,
                (ys1 - self.ys0).astype(np.float64) / dx,
                (self.xs1 - self.xs0).astype(np.float64) / dy,
            )
        self.slope = np.where(self.steps == 0, 0.0, slope)

    def rounded(self, edge: IntArray, t: IntArray) -> IntArray:
        """The walk's rounded coordinate at ``t``: ``v`` on mostly-horizontal edges,
        ``u`` on mostly-vertical ones: ``(int)(start + slope · t + .5)``."""
        start = np.where(self.along_x[edge], self.ys0[edge], self.xs0[edge])
        # astype truncates toward zero, as C's (int) does.
        return (start + self.slope[edge] * t + 0.5).astype(np.int64)

    def point(self, edge: IntArray, t: IntArray) -> tuple[IntArray, IntArray]:
        """Walk point ``(u, v)`` at parameter ``t`` of ``edge`` (pycocotools' formulas)."""
        ax = self.along_x[edge]
        rounded = self.rounded(edge, t)
        return np.where(ax, t + self.xs0[edge], rounded), np.where(ax, rounded, t + self.ys0[edge])


def _centre_columns(lo: IntArray, hi: IntArray, width: int) -> tuple[IntArray, IntArray]:
    """Pixel columns ``c`` of the image whose centre ``k = 5c + 2`` (upsampled) has
    ``lo <= k <= hi``, for each range: (range index, c)."""
    first = np.maximum(-((2 - lo) // _SCALE_INT), 0)
    last = np.minimum((hi - 2) // _SCALE_INT, width - 1)
    counts = np.maximum(last - first + 1, 0)
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum()), dtype=np.int64) - (starts - first)[owner]


def _horizontal(e: _Edges, width: int) -> Crossings:
    """Mostly-horizontal edges: ``u`` steps by one, so the pairs that matter are
    ``(k, k + 1)`` at the pixel-centre columns ``k``; ``v`` is monotone, so the lower of
    the pair's two rows is the one at ``k + 1`` when the edge falls. Returns (edge,
    column, yd upsampled)."""
    hx = np.flatnonzero(e.along_x & (e.steps > 0))
    owner, column = _centre_columns(e.xs0[hx], e.xs1[hx] - 1, width)
    edge = hx[owner]
    slope = e.slope[edge]
    t = _SCALE_INT * column + 2 - e.xs0[edge] + (slope < 0)
    # (int)(ys + s * t + .5): astype truncates toward zero, as C does.
    return edge, column, (e.ys0[edge] + slope * t + 0.5).astype(np.int64)


def _vertical(e: _Edges, width: int) -> Crossings:
    """Mostly-vertical edges: ``v`` steps by one and ``u`` (monotone in the walk
    parameter, at most one column per step) passes each pixel-centre column once.

    The parameter where ``u`` goes from ``k`` to ``k + 1`` is solved for, then corrected
    with pycocotools' own arithmetic. Returns (edge, column, yd upsampled).
    """
    vy = np.flatnonzero(~e.along_x)
    xs0, slope_v = e.xs0[vy], e.slope[vy]
    u_first = (xs0 + 0.5).astype(np.int64)
    u_last = (xs0 + slope_v * e.steps[vy] + 0.5).astype(np.int64)
    owner, column = _centre_columns(
        np.minimum(u_first, u_last), np.maximum(u_first, u_last) - 1, width
    )
    k = _SCALE_INT * column + 2
    edge = vy[owner]
    start, slope = xs0[owner], slope_v[owner]
    rising = slope > 0
    # u(t) = (int)(xs0 + slope·t + .5) reaches k + 1 near t = (k + .5 - xs0) / slope.
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = (k + 0.5 - start) / np.where(slope == 0, 1.0, slope)
    t = np.where(rising, np.ceil(estimate) - 1, np.floor(estimate))
    last_pair = np.maximum(e.steps[edge] - 1, 0)
    t = np.clip(np.nan_to_num(t), 0, last_pair).astype(np.int64)
    # Wanted: u(t) on this side of column k, u(t + 1) beyond it. The estimate is off by
    # at most a step; the exact arithmetic corrects it (u is monotone in t).
    pending = np.arange(len(t))
    while pending.size:
        sub_start, sub_slope, sub_k = start[pending], slope[pending], k[pending]
        sub_rising, t_now = rising[pending], t[pending]
        u_a = (sub_start + sub_slope * t_now + 0.5).astype(np.int64)
        u_b = (sub_start + sub_slope * (t_now + 1) + 0.5).astype(np.int64)
        past_a = np.where(sub_rising, u_a > sub_k, u_a <= sub_k)
        past_b = np.where(sub_rising, u_b > sub_k, u_b <= sub_k)
        t[pending] = t_now - past_a + (~past_a & ~past_b)
        pending = pending[past_a | ~past_b]
    return edge, column, e.ys0[edge] + t


def _joins(e: _Edges, joins: IntArray, width: int) -> Crossings:
    """Pairs joining edge ``j``'s last walk point to edge ``j + 1``'s first, for ``j``
    in ``joins``, where the column changes at a pixel centre. Returns (edge, column,
    yd upsampled)."""
    nxt = joins + 1
    last_u, last_v = e.point(joins, np.where(e.flip[joins], 0, e.steps[joins]))
    first_u, first_v = e.point(nxt, np.where(e.flip[nxt], e.steps[nxt], 0))
    changed = first_u != last_u
    u_prev, u_cur = last_u[changed], first_u[changed]
    v_prev, v_cur = last_v[changed], first_v[changed]
    xd = np.where(u_cur < u_prev, u_cur, u_cur - 1)
    yd = np.where(v_cur < v_prev, v_cur, v_prev)
    # Kept at pixel centres inside the image: xd = 5c + 2, 0 <= c < width.
    keep = ((xd - 2) % _SCALE_INT == 0) & (xd >= 2) & (xd <= _SCALE_INT * (width - 1) + 2)
    return joins[changed][keep], (xd[keep] - 2) // _SCALE_INT, yd[keep]


def following_vertex(lengths: IntArray) -> IntArray:
    """For rings of ``lengths`` vertices stored one after the other: the index of the
    vertex each edge goes to (the next one, the ring's first after its last)."""
    last = np.cumsum(lengths) - 1
    following = np.arange(1, int(lengths.sum()) + 1, dtype=np.int64)
    following[last] = last - lengths + 1
    return following


def ring_crossings(rings: Sequence[npt.NDArray[np.float64]], width: int, height: int) -> Crossings:
    """Every fill flip of ``rings`` (each ``(K, 2)`` pixel ``[x, y]``, K >= 2, finite,
    coordinates within ±1e9) on a ``width × height`` image: ``(ring, x, y)`` int64.

    ``x`` is a pixel column in ``0..width-1``; ``y`` a row in ``0..height``: the fill
    of column ``x`` flips at row ``y`` (``height``: at the column's end). pycocotools'
    downsampling: ``x = (xd + .5) / 5 - .5`` kept when whole and inside, ``y = ceil((yd +
    .5) / 5 - .5)`` clipped. Unordered; equal flips are listed as often as they occur.
    """
    lengths = np.array([len(r) for r in rings], dtype=np.int64)
    xy = np.concatenate(rings).astype(np.float64, copy=False)
    e = _Edges(xy, following_vertex(lengths))
    not_last = np.ones(len(xy), dtype=np.bool_)
    not_last[np.cumsum(lengths) - 1] = False
    parts = (
        _horizontal(e, width),
        _vertical(e, width),
        _joins(e, np.flatnonzero(not_last), width),
    )
    edge = np.concatenate([p[0] for p in parts])
    x = np.concatenate([p[1] for p in parts])
    yd = np.concatenate([p[2] for p in parts])
    # ceil((yd + .5) / 5 - .5) clipped to 0..height, in integers (exact).
    y = np.clip(-((2 - yd) // _SCALE_INT), 0, height)
    ring_of_vertex = np.repeat(np.arange(len(rings), dtype=np.int64), lengths)
    return ring_of_vertex[edge], x, y
