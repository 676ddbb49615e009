"""Ground truth checks: what is not COCO is one clear line; harmless gaps are filled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boxmask.evaluation import EvalInputError, load_ground_truth


def _gt(**changes: Any) -> dict[str, Any]:
    gt: dict[str, Any] = {
        "images": [
            {"id": 1, "file_name": "val/a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.png", "width": 100, "height": 80},
            {"id": 3, "file_name": "other/b.png", "width": 100, "height": 80},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 7,
                "bbox": [10, 10, 20, 20],
                "area": 400,
                "iscrowd": 0,
                "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]],
            },
        ],
        "categories": [{"id": 7, "name": "cup"}],
    }
    gt.update(changes)
    return gt


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"image_id": 1}], "is not COCO: a JSON list.*results file"),
        ({"annotations": [], "categories": [{"id": 1, "name": "a"}]}, "no 'images' list"),
        (_gt(categories=[]), "has no categories"),
        ({"images": [], "annotations": []}, "has no categories"),
        (_gt(categories=[{"name": "cup"}]), r"categories\[0\] needs an integer 'id'"),
        (_gt(images=[{"id": 1, "file_name": "a.jpg"}]), r"images\[0\] needs 'id', 'file_name'"),
        (_gt(images=[]), "has no images"),
        (_gt(annotations=[{"image_id": 1, "category_id": 7}]), r"annotations\[0\] needs"),
        (_gt(annotations=[{"image_id": 9, "category_id": 7, "bbox": [0, 0, 1, 1]}]), "image id 9"),
        (
            _gt(annotations=[{"image_id": 1, "category_id": 8, "bbox": [0, 0, 1, 1]}]),
            "category id 8",
        ),
    ],
)
def test_not_coco_is_one_line(data: Any, message: str) -> None:
    with pytest.raises(EvalInputError, match=message) as info:
        load_ground_truth(data)
    assert "\n" not in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalInputError, match="not found"):
        load_ground_truth(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EvalInputError, match="is not COCO: not JSON"):
        load_ground_truth(tmp_path / "bad.json")


def test_missing_id_iscrowd_area_are_filled_and_noted() -> None:
    gt = load_ground_truth(
        _gt(
            annotations=[
                {"image_id": 1, "category_id": 7, "bbox": [0, 0, 4, 5]},
                {
                    "image_id": 2,
                    "category_id": 7,
                    "bbox": [0, 0, 4, 5],
                    "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]],
                },
            ]
        )
    )
    anns = gt.coco.dataset["annotations"]
    assert [a["id"] for a in anns] == [1, 2]
    assert anns[0]["area"] == 20.0 and anns[1]["area"] == 100.0
    assert all(a["iscrowd"] == 0 for a in anns)
    assert not gt.has_masks  # the first object has no segmentation
    assert len(gt.notes) == 3 and any("'area'" in n for n in gt.notes)


def test_images_found_by_file_name_suffix_or_unique_basename() -> None:
    gt = load_ground_truth(_gt())
    assert gt.has_masks
    assert gt.find_image("/data/val/a.jpg") == 1
    assert gt.find_image("a.jpg") == 1  # unique basename
    assert gt.find_image("/x/other/b.png") == 3
    assert gt.find_image("b.png") == 2  # exact file name wins
    assert gt.find_image("/elsewhere/b.png") == 2  # "b.png" is itself a GT file_name
    assert gt.find_image("c.jpg") is None
    assert gt.find_stem("a.seg.txt") == 1


def test_reads_a_file_and_does_not_change_the_callers_dict(tmp_path: Path) -> None:
    data = _gt(annotations=[{"image_id": 1, "category_id": 7, "bbox": [0, 0, 4, 5]}])
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    assert load_ground_truth(path).source == str(path)
    load_ground_truth(data)
    assert "id" not in data["annotations"][0]
