"""supervision and FiftyOne interop without hard dependencies."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import boxmask
from boxmask import Detections, ExportError, Masks
from boxmask.testing.answers import make_items, to_answer_text

sv = pytest.importorskip("supervision")

WIDTH, HEIGHT = 320, 240


def _answer() -> Detections:
    text = to_answer_text(make_items(6, seed=9))
    return boxmask.parse(text, width=WIDTH, height=HEIGHT)


def test_to_supervision_compact_masks_match_dense() -> None:
    d = _answer()
    s = d.to_supervision()
    assert isinstance(s, sv.Detections)
    assert isinstance(s.mask, sv.CompactMask)
    assert (s.mask.to_dense() == d.masks.to_dense()).all()
    np.testing.assert_array_equal(s.xyxy, d.boxes)
    assert list(s.data["class_name"]) == d.labels
    names = sorted(set(d.labels))  # supervision's from_vlm numbers sorted labels
    assert [names[k] for k in s.class_id] == d.labels
    assert s.confidence is None
    dense = d.to_supervision(compact=False)
    assert isinstance(dense.mask, np.ndarray) and (dense.mask == d.masks.to_dense()).all()


def test_round_trip_through_supervision() -> None:
    d = _answer()
    d.scores = np.linspace(0.1, 0.9, len(d))
    for compact in (True, False):
        back = Detections.from_supervision(d.to_supervision(compact=compact))
        assert (back.width, back.height) == (WIDTH, HEIGHT)
        assert back.labels == d.labels
        np.testing.assert_allclose(back.scores, d.scores)
        np.testing.assert_allclose(back.boxes, d.boxes)
        assert (back.masks.to_dense() == d.masks.to_dense()).all()


def test_from_supervision_without_names_or_size() -> None:
    s = sv.Detections(xyxy=np.array([[1.0, 2.0, 5.0, 6.0]]), class_id=np.array([1]))
    with pytest.raises(ExportError, match="width"):
        Detections.from_supervision(s)
    d = Detections.from_supervision(s, width=10, height=10, class_names=["a", "b"])
    assert d.labels == ["b"] and d.masks is None
    assert Detections.from_supervision(s, width=10, height=10).labels == ["1"]


def test_fixed_class_names_and_unknown_label() -> None:
    d = _answer()
    names = sorted(set(d.labels))
    s = d.to_supervision(class_names=names)
    assert [names[k] for k in s.class_id] == d.labels
    with pytest.raises(ExportError):
        d.to_supervision(class_names=names[1:])


def test_class_numbering_matches_supervision_and_classes_filters() -> None:
    text = (
        '[{"box_2d": [10, 10, 200, 200], "label": "zebra"},'
        ' {"box_2d": [10, 10, 300, 300], "label": "apple"},'
        ' {"box_2d": [10, 10, 400, 400], "label": "mango"},'
        ' {"box_2d": [10, 10, 500, 500], "label": "apple"}]'
    )
    ours = boxmask.parse(text, width=WIDTH, height=HEIGHT).to_supervision()
    theirs = sv.Detections.from_vlm(
        vlm=sv.VLM.GOOGLE_GEMINI_2_5, result=text, resolution_wh=(WIDTH, HEIGHT)
    )
    np.testing.assert_array_equal(ours.class_id, theirs.class_id)
    d = boxmask.parse(text, width=WIDTH, height=HEIGHT)
    picked = d.to_supervision(classes=["mango", "apple"])
    filtered = sv.Detections.from_vlm(
        vlm=sv.VLM.GOOGLE_GEMINI_2_5,
        result=text,
        resolution_wh=(WIDTH, HEIGHT),
        classes=["mango", "apple"],
    )
    np.testing.assert_array_equal(picked.class_id, filtered.class_id)
    np.testing.assert_allclose(picked.xyxy, filtered.xyxy)
    assert list(picked.data["class_name"]) == ["apple", "mango", "apple"]
    with pytest.raises(ExportError, match="not both"):
        d.to_supervision(classes=["a"], class_names=["a"])


def test_missing_supervision_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "supervision", None)
    with pytest.raises(ExportError, match="pip install supervision"):
        _answer().to_supervision()


def test_to_fiftyone_relative_boxes_and_box_masks() -> None:
    crop = np.zeros((4, 6), dtype=bool)
    crop[1:3, 2:5] = True
    d = Detections(
        [[10.4, 20.0, 16.2, 24.0], [3, 3, 3, 3]],
        ["cup", "dot"],
        width=100,
        height=50,
        scores=[0.5, np.nan],
        masks=Masks([(10, 20, crop), None], 100, 50),
        has_box=[True, False],
    )
    (det,) = d.to_fiftyone()
    assert det["label"] == "cup" and det["confidence"] == 0.5 and det["index"] == 0
    assert det["bounding_box"] == pytest.approx([0.104, 0.4, 0.058, 0.08])
    mask = det["mask"]
    assert mask.shape == (4, 7)  # rows 20..23, columns floor(10.4)=10 .. ceil(16.2)=17
    assert (mask[:, :6] == crop).all() and not mask[:, 6].any()
    assert det["mask_pixels_cut"] == 0
