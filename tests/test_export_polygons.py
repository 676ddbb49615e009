"""Polygons from crops: pycocotools rasterizes them back to the mask's pixels."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

import boxmask
from boxmask.export.polygons import MaskPolygons, crop_to_polygons
from boxmask.masks.store import Masks
from boxmask.testing.answers import make_items, to_answer_text


def _coco_raster(polygons: list[list[float]], width: int, height: int) -> np.ndarray:
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def _centre_raster(mp: MaskPolygons, width: int, height: int) -> np.ndarray:
    """Pixels whose centre lies inside the parts and outside the holes (nesting-aware)."""
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    count = np.zeros((height, width), dtype=int)
    for ring in mp.parts:
        count += shapely.contains_xy(shapely.Polygon(ring), xx, yy)
    for ring in mp.holes:
        count -= shapely.contains_xy(shapely.Polygon(ring), xx, yy)
    return count > 0


def _check(dense: np.ndarray, x_shift: int = 0, y_shift: int = 0) -> MaskPolygons:
    """Polygons of ``dense`` (placed at an offset in a larger image) reproduce it."""
    height, width = dense.shape[0] + y_shift + 3, dense.shape[1] + x_shift + 2
    canvas = np.zeros((height, width), dtype=bool)
    canvas[y_shift : y_shift + dense.shape[0], x_shift : x_shift + dense.shape[1]] = dense
    masks = Masks.from_dense(canvas)
    mp = masks.to_polygons()[0]
    for ring in mp.parts:
        assert ring.shape[1] == 2 and len(ring) >= 3
        assert shapely.is_valid(shapely.Polygon(ring)), shapely.is_valid_reason(
            shapely.Polygon(ring)
        )
    for flat in mp.coco():
        assert len(flat) >= 6 and len(flat) % 2 == 0
    if mp.has_holes:
        assert (_centre_raster(mp, width, height) == canvas).all()
        # Filled outline covers the mask; holes are what COCO polygons would lose.
        assert (_coco_raster(mp.coco(), width, height) >= canvas).all()
    else:
        assert (_coco_raster(mp.coco(), width, height) == canvas).all()
    return mp


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 24),
    st.integers(1, 24),
    st.floats(0.05, 0.95),
    st.integers(0, 2**32 - 1),
    st.integers(0, 5),
    st.integers(0, 5),
)
def test_random_masks_rasterize_back_exactly(
    h: int, w: int, density: float, seed: int, dx: int, dy: int
) -> None:
    rng = np.random.default_rng(seed)
    _check(rng.random((h, w)) < density, dx, dy)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 30), st.integers(2, 30), st.integers(0, 2**32 - 1))
def test_thin_lines_and_branches(h: int, w: int, seed: int) -> None:
    # One-pixel-wide lines, crossings and branches: spikes, reversals and pinches.
    rng = np.random.default_rng(seed)
    canvas = np.zeros((h, w), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        p = tuple(int(v) for v in rng.integers(0, max(h, w), 2))
        q = tuple(int(v) for v in rng.integers(0, max(h, w), 2))
        cv2.line(canvas, p, q, 1, 1)
    _check(canvas.astype(bool), 1, 2)


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 40), st.integers(3, 40), st.integers(0, 2**32 - 1), st.floats(0.3, 3.0))
def test_simplified_polygons_are_valid(h: int, w: int, seed: int, tolerance: float) -> None:
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 4), max(2, w // 4)))
    dense = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    full = Masks.from_dense(dense).to_polygons()[0]
    mp = Masks.from_dense(dense).to_polygons(tolerance=tolerance)[0]
    for ring in mp.parts:
        assert len(ring) >= 3
        assert shapely.is_valid(shapely.Polygon(ring))
    assert sum(map(len, mp.parts)) <= sum(map(len, full.parts)) + 4 * len(full.parts)


def test_every_3x3_mask() -> None:
    for bits in itertools.product([False, True], repeat=9):
        dense = np.array(bits, dtype=bool).reshape(3, 3)
        if dense.any():
            _check(dense, 2, 1)


@pytest.mark.parametrize(
    ("dense", "parts", "holes"),
    [
        (np.ones((1, 1), bool), 1, 0),
        (np.ones((1, 7), bool), 1, 0),
        (np.ones((9, 1), bool), 1, 0),
        (np.eye(5, dtype=bool), 1, 0),  # diagonal line: 8-connected, one part
        (np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], bool), 4, 0),
        (np.pad(np.zeros((2, 2), bool), 1, constant_values=True), 1, 1),
    ],
)
def test_shapes(dense: np.ndarray, parts: int, holes: int) -> None:
    mp = _check(dense, 3, 4)
    assert len(mp.parts) == parts
    assert len(mp.holes) == holes


def test_rectangle_is_four_points_on_pixel_edges() -> None:
    dense = np.zeros((10, 12), bool)
    dense[2:6, 3:11] = True
    mp = Masks.from_dense(dense).to_polygons()[0]
    (ring,) = mp.parts
    assert len(ring) == 4
    assert ring.min(axis=0).tolist() == [3.0, 2.0]
    assert ring.max(axis=0).tolist() == [11.0, 6.0]


def test_island_inside_hole_is_kept() -> None:
    dense = np.zeros((9, 9), bool)
    dense[:, :] = True
    dense[2:7, 2:7] = False
    dense[4, 4] = True
    mp = _check(dense)
    assert mp.has_holes and len(mp.parts) == 2


def test_real_format_masks_exact_and_simplified() -> None:
    width, height = 1280, 720
    d = boxmask.parse(to_answer_text(make_items(16, seed=4)), width=width, height=height)
    assert d.masks is not None
    exact = d.masks.to_polygons()
    simple = d.masks.to_polygons(tolerance=0.5)
    for i, (m, e, s) in enumerate(zip(d.masks.to_dense(), exact, simple, strict=True)):
        if e.has_holes:
            continue
        assert (_coco_raster(e.coco(), width, height) == m).all(), i
        got = _coco_raster(s.coco(), width, height)
        iou = (got & m).sum() / (got | m).sum()
        assert m.sum() < 300 or iou >= 0.985, (i, iou)
        assert sum(map(len, s.parts)) <= sum(map(len, e.parts))
        for ring in s.parts:
            assert len(ring) >= 3 and shapely.is_valid(shapely.Polygon(ring))


def test_empty_and_no_mask_items() -> None:
    masks = Masks([None, (1, 1, np.zeros((3, 3), bool))], 10, 10)
    assert [mp.is_empty for mp in masks.to_polygons()] == [True, True]
    assert crop_to_polygons(0, 0, np.zeros((0, 0), bool)).coco() == []


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError):
        crop_to_polygons(0, 0, np.ones((2, 2), bool), tolerance=-1)


def test_uint8_crops_are_read_as_nonzero() -> None:
    crop = np.zeros((5, 6), dtype=np.uint8)
    crop[1:4, 1:5] = 255
    crop[2, 2] = 0  # a hole
    as_bool = crop_to_polygons(3, 4, crop > 0)
    as_uint8 = crop_to_polygons(3, 4, crop)
    assert as_uint8.has_holes
    assert [p.tolist() for p in as_uint8.parts] == [p.tolist() for p in as_bool.parts]


# A 49×59 noise mask whose hole region has a ring touching itself diagonally around an
# island: cv2.drawContours filled the region differently from the grown polygon here.
_HOLES_CASE = (
    "dbe71556ecd825a85b4fddca077716c567c21d9deb39c398212e4866fe244762dfb0f1955e932764282d895a"
    "f98898bde31285b4aed4235e5922d78b7358f0bee895f05f7f2dda7e9e0241f137b087863959f4bfc7feb456"
    "bc0fe3896ed78feedfdce97a10dcaec6662e11f2fb1648a4fba3e16b857b999681abf358e303630b8bef4621"
    "e28cb85236fbe527b6cf7109dd17e3d569d256864d4d705deee71926c91759f4bf416a42d3873cccf8bf3ef3"
    "7d474ea993c32264fc079b3d883307315293ee0c5cd3187a80af06d55cd373e890f5392c92c88a1655c7cf10"
    "bddd16ff60d59bd9c9e2b3a9018bdd08f1cebd7c71013b438bd86f41e2285d3f868d72d6370e5a5b88d26d85"
    "29d1f2128e558f9f603a8b568712043e40327c750dabae38efd535e9e96f534444709b8ea96172677fcb1ee6"
    "0282d8529059daf457770d59afa8c1d857d15f18526f9f9758e5bbfabda44ab8f9c84d36dfb0f4ae4bf573ae"
    "5fafef26f2bb1b64daa0"
)


def test_hole_region_with_self_touching_ring() -> None:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(_HOLES_CASE), dtype=np.uint8))
    dense = bits[: 49 * 59].reshape(49, 59).astype(bool)
    assert _check(dense).has_holes
