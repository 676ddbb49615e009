"""Detections: aligned fields, selection, iteration, summary."""

from __future__ import annotations

import numpy as np
import pytest

from boxmask import Detections, parse
from boxmask.testing.answers import make_items, to_answer_text


def sample() -> Detections:
    items = [it.to_json() for it in make_items(4, seed=3)]
    items[1]["confidence"] = 0.5
    items.append({"point": [500, 500], "label": "pt"})
    return parse(items, width=400, height=300)


def test_selection_keeps_every_field_aligned() -> None:
    d = sample()
    assert len(d) == 5
    sel = d[np.array([False, True, False, True, True])]
    assert sel.labels == [d.labels[1], d.labels[3], "pt"]
    np.testing.assert_array_equal(sel.boxes, d.boxes[[1, 3, 4]])
    assert sel.scores is not None and sel.scores[0] == 0.5
    assert sel.masks is not None and len(sel.masks) == 3
    assert sel.masks.crop(0)[2] is d.masks.crop(1)[2]  # type: ignore[union-attr]
    assert sel.source_index.tolist() == [1, 3, 4]
    assert sel.has_box.tolist() == [True, True, False]
    assert d[[4, 0]].labels == ["pt", d.labels[0]]
    assert len(d[1:3]) == 2


def test_int_index_and_iteration_give_items() -> None:
    d = sample()
    item = d[1]
    assert item.label == d.labels[1] and item.score == 0.5 and item.mask is not None
    assert d[-1].box is None and d[-1].point == (200.0, 150.0)
    assert [x.label for x in d] == d.labels
    with pytest.raises(IndexError):
        d[5]


def test_summary_and_repr() -> None:
    d = sample()
    s = d.summary()
    assert s["items"] == 5 and s["masks"] == 4 and s["points"] == 1 and s["boxes"] == 4
    assert "n=5" in repr(d)


def test_areas_use_masks_where_present() -> None:
    d = parse(to_answer_text(make_items(2, seed=1)), width=100, height=100)
    assert d.masks is not None
    np.testing.assert_array_equal(d.areas, d.masks.areas)


def test_constructor_validates_lengths() -> None:
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4)), ["a"], width=5, height=5)
    with pytest.raises(ValueError):
        Detections(np.zeros((0, 4)), [], width=0, height=5)
    assert len(Detections.empty(5, 5)) == 0
