"""Polygon rasterization equals pycocotools pixel for pixel."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from boxmask.masks.polygon import (
    _carried_fill,
    rasterize_masks,
    rasterize_polygon,
    rasterize_polygons,
)


def dense(crop: tuple[int, int, np.ndarray], width: int, height: int) -> np.ndarray:
    x0, y0, arr = crop
    out = np.zeros((height, width), dtype=bool)
    if arr.size:
        out[y0 : y0 + arr.shape[0], x0 : x0 + arr.shape[1]] = arr
    return out


def coco_dense(polygons: list[np.ndarray], width: int, height: int) -> np.ndarray:
    rles = coco_mask.frPyObjects([p.ravel().tolist() for p in polygons], height, width)
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


coords = st.floats(-20, 120, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(
    points=st.lists(st.tuples(coords, coords), min_size=3, max_size=9),
    width=st.integers(1, 100),
    height=st.integers(1, 100),
    snap=st.sampled_from([0.0, 1.0, 0.5]),
)
def test_matches_pycocotools(
    points: list[tuple[float, float]], width: int, height: int, snap: float
) -> None:
    xy = np.array(points, dtype=np.float64)
    if snap:
        xy = np.round(xy / snap) * snap
    ours = dense(rasterize_polygon(xy, width, height), width, height)
    np.testing.assert_array_equal(ours, coco_dense([xy], width, height))


def test_square_fills_pixel_centres_inside() -> None:
    xy = np.array([[2, 2], [6, 2], [6, 6], [2, 6]], dtype=float)
    x0, y0, crop = rasterize_polygon(xy, 10, 10)
    assert (x0, y0, crop.shape, int(crop.sum())) == (2, 2, (4, 4), 16)


def test_multi_part_union_matches_pycocotools() -> None:
    parts = [
        np.array([[1, 1], [20, 1], [20, 15], [1, 15]], dtype=float),
        np.array([[30, 30], [45, 32], [38, 48]], dtype=float),
        np.array([[10, 10], [35, 12], [25, 40]], dtype=float),
    ]
    ours = dense(rasterize_polygons(parts, 50, 50), 50, 50)
    np.testing.assert_array_equal(ours, coco_dense(parts, 50, 50))


def test_polygon_outside_image_is_empty() -> None:
    _x0, _y0, crop = rasterize_polygon(np.array([[-50, -50], [-10, -50], [-10, -10]]), 20, 20)
    assert crop.size == 0


def test_crop_is_bounded_by_polygon_not_image() -> None:
    xy = np.array([[4000, 3000], [4100, 3000], [4100, 3100]], dtype=float)
    x0, y0, crop = rasterize_polygon(xy, 8000, 6000)
    assert crop.shape[0] <= 101 and crop.shape[1] <= 101
    assert (x0, y0) >= (4000, 3000)


rings_strategy = st.lists(
    st.lists(st.tuples(coords, coords), min_size=3, max_size=7), min_size=1, max_size=3
)


@settings(max_examples=150, deadline=None)
@given(
    masks=st.lists(rings_strategy, min_size=1, max_size=5),
    width=st.integers(1, 100),
    height=st.integers(1, 100),
)
def test_batch_matches_pycocotools_mask_by_mask(
    masks: list[list[list[tuple[float, float]]]], width: int, height: int
) -> None:
    """Rings of several masks rasterized in one pass: each mask is still its own union."""
    arrays = [[np.array(r, dtype=np.float64) for r in m] for m in masks]
    crops = rasterize_masks(arrays, width, height)
    for rings, crop in zip(arrays, crops, strict=True):
        np.testing.assert_array_equal(dense(crop, width, height), coco_dense(rings, width, height))


def test_large_image_rings_touching_every_edge_match_pycocotools() -> None:
    """Rings on a 12 MP-like image, several running into the image's edges (rows past
    the bottom flip at the column's end, columns past the right edge are cut)."""
    rng = np.random.default_rng(7)
    width, height = 1511, 1013
    masks = []
    for _ in range(24):
        centre = rng.uniform(-0.1, 1.1, 2) * [width, height]
        angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
        radius = rng.uniform(5, 400) * rng.uniform(0.5, 1.0, 30)
        ring = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius[:, None]
        masks.append([np.round(np.clip(ring, -50, [width + 50, height]), 1)])
    masks.append([np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=float)])
    for rings, crop in zip(masks, rasterize_masks(masks, width, height), strict=True):
        np.testing.assert_array_equal(dense(crop, width, height), coco_dense(rings, width, height))


def test_carried_fill_runs_column_major_to_the_image_end() -> None:
    """The defensive path for a column that does not close: pycocotools' flat parity."""
    width, height = 5, 4
    x, y = np.array([1, 3]), np.array([2, 1])
    first, top, crop = _carried_fill(x, y, width, height) or (0, 0, np.zeros((0, 0), bool))
    flat = np.zeros(width * height, dtype=np.uint8)
    flat[x * height + y] = 1
    expected = np.bitwise_xor.accumulate(flat).reshape(width, height).T == 1
    np.testing.assert_array_equal(dense((first, top, crop), width, height), expected)
    assert _carried_fill(np.array([4]), np.array([4]), width, height) is None  # at the end
