"""Label maps: instance and class ids, dtypes, overlap reports, PNG round trips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from boxmask import Detections, ExportError, Masks
from boxmask.export.categories import Categories
from boxmask.export.labelmap import (
    class_masks,
    instance_label_map,
    save_class_mask_pngs,
    save_label_map_png,
    semantic_label_map,
)
from boxmask.problems import Problem


def _squares(n: int, width: int = 64, height: int = 48, labels: list[str] | None = None):
    crops = [
        ((3 * i) % (width - 2), (2 * i) % (height - 2), np.ones((2, 2), bool)) for i in range(n)
    ]
    boxes = [[x, y, x + 2, y + 2] for x, y, _ in crops]
    return Detections(
        boxes,
        labels or [f"c{i % 3}" for i in range(n)],
        width=width,
        height=height,
        masks=Masks(crops, width, height),
    )


def test_instance_map_values_and_uint8() -> None:
    d = _squares(4)
    out = instance_label_map(d)
    assert out.dtype == np.uint8 and out.shape == (48, 64)
    for i, (x0, y0, _crop) in enumerate(d.masks):
        assert (out[y0 : y0 + 2, x0 : x0 + 2] == i + 1).all()
    assert (out > 0).sum() == 16


def test_uint16_above_255_items_and_png_round_trip(tmp_path: Path) -> None:
    d = _squares(300, width=1000, height=700)
    out = instance_label_map(d)
    assert out.dtype == np.uint16 and out.max() == 300
    path = save_label_map_png(tmp_path / "inst.png", out)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and (back == out).all()


def test_overlaps_are_reported() -> None:
    crops = [
        (0, 0, np.ones((4, 4), bool)),
        (2, 2, np.ones((4, 4), bool)),
        (0, 0, np.ones((8, 8), bool)),
    ]
    d = Detections(
        [[0, 0, 4, 4], [2, 2, 6, 6], [0, 0, 8, 8]],
        ["a", "b", "c"],
        width=10,
        height=10,
        masks=Masks(crops, 10, 10),
    )
    problems: list[Problem] = []
    out = instance_label_map(d, problems=problems, image="x.png")
    assert (out[:8, :8] == 3).all()
    assert sorted((p.index, p.kind) for p in problems) == [(0, "hidden"), (1, "hidden")]
    problems.clear()
    small_first = instance_label_map(d, order="small_on_top", problems=problems)
    assert small_first[0, 0] == 1 and small_first[5, 5] == 2 and small_first[7, 7] == 3
    assert sorted((p.index, p.kind) for p in problems) == [
        (0, "overlap_hidden"),
        (2, "overlap_hidden"),
    ]
    assert "4 of 16" in str(next(p for p in problems if p.index == 0))


def test_semantic_map_uses_shared_category_ids(tmp_path: Path) -> None:
    cats = Categories(["background-free", "c2", "c1", "c0"])
    d = _squares(6)
    out = semantic_label_map(d, cats)
    for (x0, y0, _), label in zip(d.masks, d.labels, strict=True):
        assert out[y0, x0] == cats.id_of(label)
    masks = class_masks(d)
    assert list(masks) == ["c0", "c1", "c2"]
    assert sum(int(m.sum()) for m in masks.values()) == 24
    written = save_class_mask_pngs(tmp_path, d, cats)
    assert sorted(p.name for p in written.values()) == ["002_c2.png", "003_c1.png", "004_c0.png"]
    img = cv2.imread(str(written["c0"]), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(img)) == {0, 255} and (img > 0).sum() == 8


def test_unsafe_label_file_names(tmp_path: Path) -> None:
    d = _squares(2, labels=["a/b:c", "猫"])
    written = save_class_mask_pngs(tmp_path, d)
    assert [p.name for p in written.values()] == ["001_a_b_c.png", "002_猫.png"]


def test_items_without_masks_are_reported_and_bad_inputs_raise() -> None:
    d = Detections([[0, 0, 2, 2]], ["a"], width=4, height=4, masks=Masks([None], 4, 4))
    problems: list[Problem] = []
    assert not instance_label_map(d, problems=problems).any()
    assert [p.kind for p in problems] == ["no_mask"]
    with pytest.raises(ExportError):
        save_label_map_png("x.png", np.zeros((2, 2), np.float32))
    with pytest.raises(ExportError):
        instance_label_map(d, order="largest")  # type: ignore[arg-type]
