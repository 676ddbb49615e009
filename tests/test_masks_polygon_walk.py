"""The vectorized boundary walk finds exactly the flips of pycocotools' point-by-point walk."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from boxmask.masks.polygon_walk import following_vertex, ring_crossings


def reference_flips(xy: np.ndarray, width: int, height: int) -> Counter[tuple[int, int]]:
    """pycocotools' ``rleFrPoly`` up to its crossing list, transcribed line by line
    (C's ``(int)`` truncates toward zero); flips as (column, row), row in 0..height."""
    k = len(xy)
    x = [int(5 * xy[j, 0] + 0.5) for j in range(k)] + [int(5 * xy[0, 0] + 0.5)]
    y = [int(5 * xy[j, 1] + 0.5) for j in range(k)] + [int(5 * xy[0, 1] + 0.5)]
    u: list[int] = []
    v: list[int] = []
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        # 0/0 on a repeated vertex: C gets NaN, a row that no pair uses (u stays put).
        s = 0.0 if dx == dy == 0 else (ye - ys) / dx if dx >= dy else (xe - xs) / dy
        if dx >= dy:
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(int(ys + s * t + 0.5))
        else:
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(int(xs + s * t + 0.5))
    flips: Counter[tuple[int, int]] = Counter()
    for j in range(1, len(u)):
        if u[j] == u[j - 1]:
            continue
        xd_f = ((u[j] if u[j] < u[j - 1] else u[j] - 1) + 0.5) / 5 - 0.5
        if math.floor(xd_f) != xd_f or xd_f < 0 or xd_f > width - 1:
            continue
        yd_f = ((v[j] if v[j] < v[j - 1] else v[j - 1]) + 0.5) / 5 - 0.5
        yd_f = min(max(yd_f, 0.0), float(height))
        flips[(int(xd_f), math.ceil(yd_f))] += 1
    return flips


coords = st.floats(-30, 130, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    rings=st.lists(
        st.lists(st.tuples(coords, coords), min_size=2, max_size=8), min_size=1, max_size=4
    ),
    width=st.integers(1, 100),
    height=st.integers(1, 100),
    snap=st.sampled_from([0.0, 0.5, 1.0, 0.1]),
)
def test_flips_equal_the_point_by_point_walk(
    rings: list[list[tuple[float, float]]], width: int, height: int, snap: float
) -> None:
    arrays = [np.array(r, dtype=np.float64) for r in rings]
    if snap:
        arrays = [np.round(a / snap) * snap for a in arrays]
    ring, x, y = ring_crossings(arrays, width, height)
    for i, xy in enumerate(arrays):
        ours = Counter(zip(x[ring == i].tolist(), y[ring == i].tolist(), strict=True))
        assert ours == reference_flips(xy, width, height)


def test_long_vertical_edges_cost_columns_not_points() -> None:
    """A sliver 2 px wide and 1e5 px tall: a handful of flips, not a million walk points."""
    sliver = np.array([[10.0, -50_000.0], [12.0, -50_000.0], [12.0, 50_000.0], [10.0, 50_000.0]])
    _ring, x, y = ring_crossings([sliver], 40, 30)
    assert sorted(zip(x.tolist(), y.tolist(), strict=True)) == [
        (10, 0),
        (10, 30),
        (11, 0),
        (11, 30),
    ]


def test_following_vertex_closes_each_ring() -> None:
    assert following_vertex(np.array([3, 2])).tolist() == [1, 2, 0, 4, 3]
