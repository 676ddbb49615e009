"""The crop-native Masks store."""

from __future__ import annotations

import numpy as np
import pytest

from boxmask import Masks


def make() -> Masks:
    a = np.ones((2, 3), dtype=bool)
    b = np.array([[True, False], [False, True]])
    return Masks([(1, 1, a), None, (5, 4, b)], width=8, height=6)


def test_crop_and_alignment() -> None:
    m = make()
    assert len(m) == 3
    x0, y0, arr = m.crop(0)
    assert (x0, y0, arr.shape) == (1, 1, (2, 3))
    assert m.crop(1)[2].shape == (0, 0)
    assert m.has_mask.tolist() == [True, False, True]
    assert m.areas.tolist() == [6, 0, 2]
    assert m.stored_pixels == 6 + 4


def test_dense_and_label_map_agree() -> None:
    m = make()
    dense = m.to_dense()
    assert dense.shape == (3, 6, 8) and dense.dtype == bool
    assert dense[0, 1:3, 1:4].all() and dense[0].sum() == 6
    assert not dense[1].any()
    assert dense[2, 4, 5] and dense[2, 5, 6] and dense[2].sum() == 2
    labels = m.label_map()
    assert labels.dtype == np.uint16
    assert labels[1, 1] == 1 and labels[4, 5] == 3 and labels[0, 0] == 0


def test_later_items_on_top_in_label_map() -> None:
    m = Masks([(0, 0, np.ones((4, 4), bool)), (1, 1, np.ones((2, 2), bool))], 4, 4)
    lm = m.label_map()
    assert lm[1, 1] == 2 and lm[0, 0] == 1


def test_crops_outside_the_image_are_cut() -> None:
    m = Masks([(-2, -1, np.ones((4, 5), bool)), (7, 5, np.ones((3, 3), bool))], 8, 6)
    x0, y0, arr = m.crop(0)
    assert (x0, y0, arr.shape) == (0, 0, (3, 3))
    x0, y0, arr = m.crop(1)
    assert (x0, y0, arr.shape) == (7, 5, (1, 1))
    far = Masks([(100, 100, np.ones((2, 2), bool))], 8, 6)
    assert far.crop(0)[2].size == 0


def test_tight_boxes_are_pixel_edges() -> None:
    arr = np.zeros((5, 5), bool)
    arr[1:3, 2:4] = True
    m = Masks([(10, 20, arr), None], 50, 50)
    tb = m.tight_boxes()
    np.testing.assert_array_equal(tb[0], [12, 21, 14, 23])
    assert np.isnan(tb[1]).all()


def test_selection_keeps_crops_without_copy() -> None:
    m = make()
    sub = m[np.array([True, False, True])]
    assert len(sub) == 2 and sub.crop(1)[2] is m.crop(2)[2]
    assert m[[2, 0]].origins.tolist() == [[5, 4], [1, 1]]
    assert len(m[1:]) == 2
    with pytest.raises(IndexError):
        m[[5]]
    with pytest.raises(IndexError):
        m[np.array([True, False])]


def test_from_dense_round_trip() -> None:
    m = make()
    back = Masks.from_dense(m.to_dense())
    np.testing.assert_array_equal(back.to_dense(), m.to_dense())
    assert back.stored_pixels <= m.stored_pixels


def test_concatenate_and_probabilities_absent() -> None:
    m = make()
    both = Masks.concatenate([m, m[[0]]])
    assert len(both) == 4 and both.areas.tolist() == [6, 0, 2, 6]
    assert not m.has_probabilities and m.probabilities(0) is None


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        Masks([], 0, 5)
    with pytest.raises(ValueError):
        Masks([(0, 0, np.ones((2, 2, 2), bool))], 5, 5)
