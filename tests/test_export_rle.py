"""COCO RLE from crops: byte-identical to pycocotools on the dense mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

import boxmask
from boxmask.errors import ExportError
from boxmask.export.rle import (
    counts_from_string,
    counts_to_string,
    crop_counts,
    crop_to_rle,
    crops_to_rle,
    rle_area,
    rle_to_crop,
    rle_to_xywh,
)
from boxmask.masks.store import Masks
from boxmask.testing.answers import make_items, to_answer_text


def _reference(dense: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(dense.astype(np.uint8)))


def _dense(x0: int, y0: int, crop: np.ndarray, width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=bool)
    out[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return out


@st.composite
def placed_crops(draw: st.DrawFn) -> tuple[int, int, np.ndarray, int, int]:
    """A crop (possibly with empty borders, possibly all-empty) inside an image."""
    width = draw(st.integers(1, 40))
    height = draw(st.integers(1, 40))
    w = draw(st.integers(1, width))
    h = draw(st.integers(1, height))
    x0 = draw(st.integers(0, width - w))
    y0 = draw(st.integers(0, height - h))
    kind = draw(st.sampled_from(["random", "full", "empty", "one"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        crop = rng.random((h, w)) < rng.uniform(0.05, 0.95)
    elif kind == "full":
        crop = np.ones((h, w), dtype=bool)
    elif kind == "empty":
        crop = np.zeros((h, w), dtype=bool)
    else:
        crop = np.zeros((h, w), dtype=bool)
        crop[rng.integers(h), rng.integers(w)] = True
    return x0, y0, crop, width, height


@settings(max_examples=400, deadline=None)
@given(placed_crops())
def test_counts_match_pycocotools_on_random_crops(case: tuple) -> None:
    x0, y0, crop, width, height = case
    dense = _dense(x0, y0, crop, width, height)
    ref = _reference(dense)
    rle = crop_to_rle(x0, y0, crop, width, height)
    assert isinstance(rle["counts"], str)
    assert rle["counts"].encode("ascii") == ref["counts"]
    assert rle["size"] == [height, width]
    # Decoding gives the mask back, and area/bbox agree with pycocotools.
    rx, ry, rcrop = rle_to_crop(rle)
    assert (_dense(rx, ry, rcrop, width, height) == dense).all()
    assert rle_area(rle) == int(mask_utils.area(ref))
    assert list(rle_to_xywh(rle)) == pytest.approx(list(mask_utils.toBbox(ref)))


@pytest.mark.parametrize(
    ("height", "width", "cells"),
    [
        (1, 1, [(0, 0)]),  # 1×1 image, full
        (5, 7, [(0, 0)]),  # top-left pixel
        (5, 7, [(4, 6)]),  # bottom-right pixel: trailing run ends the image
        (5, 7, [(0, 6), (4, 0)]),  # opposite corners
        (3, 4, [(r, c) for r in range(3) for c in range(4)]),  # every pixel
    ],
)
def test_border_and_single_pixel_masks(height: int, width: int, cells: list) -> None:
    dense = np.zeros((height, width), dtype=bool)
    for r, c in cells:
        dense[r, c] = True
    masks = Masks.from_dense(dense)
    assert masks.to_rle()[0]["counts"].encode() == _reference(dense)["counts"]


def test_mask_touching_every_border_and_full_columns() -> None:
    # Runs of 1s that continue from the bottom of one column into the top of the next
    # must merge (the crop spans the full image height).
    dense = np.zeros((6, 5), dtype=bool)
    dense[:, 0] = True
    dense[:, 1] = True
    dense[0, 2] = dense[5, 2] = True
    dense[2:4, 4] = True
    masks = Masks.from_dense(dense)
    assert masks.crop(0)[:2] == (0, 0)
    assert masks.to_rle()[0]["counts"].encode() == _reference(dense)["counts"]


def test_empty_mask_items_encode_as_background() -> None:
    masks = Masks([None, (2, 1, np.zeros((2, 2), bool))], 8, 4)
    rles = masks.to_rle()
    ref = _reference(np.zeros((4, 8), bool))["counts"]
    assert [r["counts"].encode() for r in rles] == [ref, ref]
    assert rle_to_crop(rles[0])[2].shape == (0, 0)


def test_real_format_masks_match_pycocotools() -> None:
    # 256×256 {0, 255} PNG masks resized into boxes, as Gemini sends them.
    for width, height in [(640, 480), (1001, 333), (37, 1200)]:
        text = to_answer_text(make_items(12, seed=width, min_side=5, max_side=900))
        d = boxmask.parse(text, width=width, height=height)
        assert d.masks is not None
        dense = d.masks.to_dense()
        for rle, m in zip(d.masks.to_rle(), dense, strict=True):
            assert rle["counts"].encode() == _reference(m)["counts"]


def test_batch_equals_single() -> None:
    rng = np.random.default_rng(3)
    crops = [(int(rng.integers(0, 20)), int(rng.integers(0, 20)), rng.random((9, 11)) < 0.5)]
    crops.append((0, 0, np.zeros((0, 0), bool)))
    crops.append((29, 19, np.ones((1, 1), bool)))
    batch = crops_to_rle(crops, 40, 20)
    single = [crop_to_rle(x, y, c, 40, 20) for x, y, c in crops]
    assert batch == single


def test_large_runs_and_negative_deltas_round_trip() -> None:
    # Long runs need several varint chars; alternating long/short runs give negative
    # deltas. Compare against pycocotools' own compressor via frPyObjects.
    counts = [5_000_000, 3, 17, 1_000_000, 1, 2**24, 12, 40]
    total = sum(counts)
    text = counts_to_string(counts)
    ref = mask_utils.frPyObjects({"size": [total, 1], "counts": counts}, total, 1)
    assert text.encode() == ref["counts"]
    assert counts_from_string(text).tolist() == counts
    assert counts_from_string(text.encode()).tolist() == counts


def test_uncompressed_counts_decode() -> None:
    dense = np.zeros((4, 4), bool)
    dense[1:3, 1:3] = True
    x0, y0, crop = rle_to_crop({"size": [4, 4], "counts": [5, 2, 2, 2, 5]})
    assert (_dense(x0, y0, crop, 4, 4) == dense).all()
    assert crop_counts(x0, y0, crop, 4, 4).tolist() == [5, 2, 2, 2, 5]


@pytest.mark.parametrize(
    "rle",
    [
        {"size": [4, 4], "counts": ""},
        {"size": [4, 4], "counts": "0`"},  # ends mid-number
        {"size": [4, 4], "counts": "~~~~~~~~~~~~~~1"},  # absurdly large
        {"size": [4, 4], "counts": [3, 2]},  # wrong total
        {"size": [4, 4], "counts": "\x01"},
        {"counts": "00"},
    ],
)
def test_malformed_rle_raises_export_error(rle: dict) -> None:
    with pytest.raises(ExportError):
        rle_to_crop(rle)


def test_uint8_crops_are_read_as_nonzero() -> None:
    crop = (np.arange(12).reshape(3, 4) % 3).astype(np.uint8) * 100
    assert crop_to_rle(1, 2, crop, 8, 6) == crop_to_rle(1, 2, crop > 0, 8, 6)


def test_box_rles_equal_pycocotools_encode_of_the_box_pixels() -> None:
    """Box-only items' RLE, written from the run structure: byte-identical to encoding the
    filled pixels, for random, half-pixel, clipped and image-filling boxes."""
    from boxmask.export.rle import box_pixels, boxes_to_rle

    rng = np.random.default_rng(4)
    for _ in range(1500):
        width, height = (int(v) for v in rng.integers(1, 50, 2))
        corners = rng.uniform(-10, 60, 4)
        if rng.random() < 0.3:
            corners = np.round(corners * 2) / 2
        x0, x1 = sorted(corners[:2])
        y0, y1 = sorted(corners[2:])
        box = np.array([x0, y0, x1, y1])
        c0, r0, c1, r1 = box_pixels(box, width, height)
        dense = np.zeros((height, width), dtype=np.uint8, order="F")
        dense[r0:r1, c0:c1] = 1
        expected = mask_utils.encode(dense)["counts"].decode()
        assert boxes_to_rle(box, width, height)[0]["counts"] == expected, (box, width, height)
