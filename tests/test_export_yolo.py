"""YOLO label files: re-read to the same boxes, polygons that rasterize to the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

import boxmask
from boxmask import Detections, ExportError, Masks
from boxmask.export.yolo import YoloDataset, join_parts, read_yolo_boxes
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT = 800, 600


def _answer(seed: int) -> Detections:
    return boxmask.parse(to_answer_text(make_items(10, seed=seed)), width=WIDTH, height=HEIGHT)


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_files_reread_to_the_same_boxes(tmp_path: Path, task: str) -> None:
    ds = YoloDataset(task)
    answers = [_answer(0), _answer(1)]
    ds.add(answers[0], "photos/a.jpg")
    ds.add(answers[1], "b.png", split="val")
    ds.save(tmp_path)
    for d, (split, stem) in zip(answers, [("train", "a"), ("val", "b")], strict=True):
        classes, boxes = read_yolo_boxes(tmp_path / "labels" / split / f"{stem}.txt", WIDTH, HEIGHT)
        assert [ds.categories.names[c] for c in classes] == d.labels
        expected = d.boxes if task == "detect" else d.masks.tight_boxes()
        np.testing.assert_allclose(boxes, expected, atol=1.0)
    text = (tmp_path / "data.yaml").read_text(encoding="utf-8")
    assert "train: images/train" in text and "val: images/val" in text
    assert "path:" not in text.replace("`path`", "")
    assert f"nc: {len(ds.categories)}" in text


def test_segment_lines_rasterize_to_the_mask() -> None:
    d = _answer(2)
    ds = YoloDataset("segment")
    lines = ds.add(d, "x.jpg")
    dense = d.masks.to_dense()
    for line, m in zip(lines, dense, strict=True):
        values = np.array(line.split()[1:], dtype=np.float64)
        assert len(values) >= 6 and len(values) % 2 == 0
        assert ((values >= 0) & (values <= 1)).all()
        pts = values.reshape(-1, 2) * [WIDTH, HEIGHT]
        rle = mask_utils.frPyObjects([pts.ravel().tolist()], HEIGHT, WIDTH)
        got = mask_utils.decode(mask_utils.merge(rle)).astype(bool)
        # 6 decimals of normalized coordinates: allow a pixel or so along the outline.
        iou = (got & m).sum() / (got | m).sum()
        assert iou > 0.99


def test_multi_part_masks_are_joined_and_reported() -> None:
    crop = np.zeros((20, 30), dtype=bool)
    crop[1:5, 1:6] = True
    crop[10:18, 20:28] = True
    crop[12:14, 8:10] = True
    d = Detections(
        [[100, 100, 130, 120]],
        ["parts"],
        width=WIDTH,
        height=HEIGHT,
        masks=Masks([(100, 100, crop)], WIDTH, HEIGHT),
    )
    polygons = d.masks.to_polygons()[0]
    assert len(polygons.parts) == 3
    joined = join_parts(polygons.parts)
    rle = mask_utils.frPyObjects([joined.ravel().tolist()], HEIGHT, WIDTH)
    got = mask_utils.decode(rle[0]).astype(bool)
    assert (got == d.masks.to_dense()[0]).all()  # even-odd fill gives every part back
    ds = YoloDataset("segment")
    (line,) = ds.add(d, "p.jpg")
    assert [p.kind for p in ds.problems] == ["parts_joined"]
    assert len(line.split()) == 1 + joined.size


def test_reports_for_points_holes_and_missing_masks() -> None:
    ring = np.ones((6, 6), dtype=bool)
    ring[2:4, 2:4] = False
    d = Detections(
        [[10, 10, 16, 16], [50, 50, 60, 58], [5, 5, 5, 5]],
        ["donut", "box", "point"],
        width=WIDTH,
        height=HEIGHT,
        masks=Masks([(10, 10, ring), None, None], WIDTH, HEIGHT),
        has_box=[True, True, False],
        source_index=[0, 1, 2],
    )
    ds = YoloDataset("segment")
    lines = ds.add(d, "r.jpg")
    assert len(lines) == 2
    assert sorted((p.kind, p.index) for p in ds.problems) == [
        ("holes_filled", 0),
        ("no_mask", 1),
        ("point_only", 2),
    ]
    box_line = np.array(lines[1].split()[1:], dtype=float).reshape(-1, 2) * [WIDTH, HEIGHT]
    np.testing.assert_allclose(box_line, [[50, 50], [60, 50], [60, 58], [50, 58]], atol=1e-3)


def test_unicode_names_in_data_yaml_and_fixed_classes(tmp_path: Path) -> None:
    d = Detections([[0, 0, 10, 10], [5, 5, 20, 20]], ["猫", "犬 🐕"], width=WIDTH, height=HEIGHT)
    ds = YoloDataset("detect", categories=["犬 🐕", "猫"])
    lines = ds.add(d, "z.jpg")
    assert [line.split()[0] for line in lines] == ["1", "0"]
    ds.save(tmp_path)
    text = (tmp_path / "data.yaml").read_text(encoding="utf-8")
    assert '  0: "犬 🐕"' in text and '  1: "猫"' in text


def test_input_errors() -> None:
    with pytest.raises(ExportError):
        YoloDataset("obb")  # type: ignore[arg-type]
    ds = YoloDataset()
    ds.add(_answer(0), "a.jpg")
    with pytest.raises(ExportError):
        ds.add(_answer(1), "other/a.png")  # same label file
    with pytest.raises(ExportError):
        ds.add(_answer(1), "b.jpg", split="../x")
