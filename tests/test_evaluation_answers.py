"""Reading answers and matching them to GT images: nothing dropped silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import boxmask
from boxmask.evaluation import EvalInputError, LabelMatcher, evaluate, load_ground_truth
from boxmask.evaluation.answers import read_answers
from tests.eval_data import make_case

GT: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
        {"id": 2, "file_name": "b.jpg", "width": 200, "height": 100},
    ],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [20, 10, 40, 30],
            "area": 1200,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 2,
            "category_id": 2,
            "bbox": [100, 50, 50, 40],
            "area": 2000,
            "iscrowd": 0,
        },
    ],
    "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "plate"}],
}
CUP = {"box_2d": [100, 100, 400, 300], "label": "cup"}  # = GT 1 on a 200x100 image


def _read(source: Any, labels: Any = None) -> Any:
    gt = load_ground_truth(GT)
    return read_answers(source, gt, LabelMatcher(gt.categories, labels))


def _manifest(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_size_disagreement_names_both_sizes(tmp_path: Path) -> None:
    Image.new("RGB", (400, 100)).save(tmp_path / "a.jpg")
    path = _manifest(tmp_path, [{"image": "a.jpg", "answer": json.dumps([CUP])}])
    with pytest.raises(EvalInputError) as info:
        _read(path)
    assert "'a.jpg': ground truth says 200x100" in str(info.value)
    assert "is 400x100" in str(info.value) and "\n" not in str(info.value)
    swapped = _manifest(tmp_path, [{"image": "b.jpg", "width": 100, "height": 200, "answer": "[]"}])
    with pytest.raises(EvalInputError, match="swapped"):
        _read(swapped)
    with pytest.raises(EvalInputError, match=r"200x100.*320x240"):
        _read({"a.jpg": boxmask.Detections.empty(320, 240)})


def test_unreadable_stray_combined_and_point_only_are_reported(tmp_path: Path) -> None:
    point = {"point": [500, 500], "label": "cup"}
    path = _manifest(
        tmp_path,
        [
            {"image": "a.jpg", "answer": json.dumps([CUP, point])},
            {"image": "a.jpg", "answer": json.dumps([CUP | {"label": "Mug"}])},
            {"image": "b.jpg", "answer": "I cannot see any objects."},
            {"image": "zzz.jpg", "answer": json.dumps([CUP])},
        ],
    )
    answers = _read(path)
    assert answers.answers == 4
    assert answers.sized_from_gt == 3  # no image files: parsed at the GT size
    assert answers.combined == 1 and len(answers.images[1]) == 2
    assert answers.point_only == 1
    assert answers.unknown_labels == {"Mug": 1}
    assert [s for s, _ in answers.unreadable] == ["m.jsonl:3"]
    assert len(answers.images[2]) == 0  # answered, nothing readable
    assert answers.without_gt_image == ["m.jsonl:4"]
    report = evaluate(GT, path, labels={"mug": "cup"})
    assert report.matching.unknown_labels == {}
    assert report.bbox.category("cup").true_positives == 1
    assert report.bbox.category("cup").false_positives == 1  # the duplicate
    assert report.bbox.category("plate").misses == 1
    assert report.matching.unmatched == 2  # the unreadable answer and the stray one
    text = "\n".join(report.notes)
    for words in ("could not be read", "name no GT image", "point-only", "several answers"):
        assert words in text


def test_results_file_variants(tmp_path: Path) -> None:
    polygon = [[20, 10, 60, 10, 60, 40, 20, 40]]
    results = [
        {"image_id": 1, "category_id": 1, "segmentation": polygon, "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [100, 50, 50, 40]},
        {"image_id": 2, "category_id": 9, "bbox": [0, 0, 5, 5], "score": 0.1},
        {"image_id": 77, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.1},
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results))
    answers = _read(path)
    assert answers.kind == "results"
    assert answers.images[1].boxes.tolist() == [[20.0, 10.0, 40.0, 30.0]]  # from the mask
    assert answers.images[1].rles is not None and answers.images[2].rles is None
    assert answers.unknown_labels == {"category_id 9": 1}
    assert answers.without_gt_image == ["r.json[3]: image_id 77"]
    assert answers.scores_missing == 1 and answers.scores_given == 2  # of GT images
    report = evaluate(GT, path)
    assert report.bbox.metrics["AP"] == pytest.approx(1.0)
    assert report.segm is None  # the GT has no masks
    assert report.matching.masks_missing == 1  # image 2: the evaluated one has no mask


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"image_id": 1}, "needs image_id, category_id"),
        ({"image_id": 1, "category_id": 1}, "needs a bbox or a segmentation"),
        ({"image_id": 1, "category_id": 1, "bbox": [1, 2]}, "bbox must be 4 numbers"),
        ({"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "hi"}, "score"),
        (
            {"image_id": 1, "category_id": 1, "segmentation": {"size": [10, 10], "counts": "3"}},
            "the mask is 10x10 pixels, the GT image 200x100",
        ),
    ],
)
def test_bad_results_entries(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(EvalInputError, match=message):
        _read([entry])


def test_uncompressed_rle_results() -> None:
    mask = np.zeros((100, 200), dtype=np.uint8)
    mask[10:40, 20:60] = 1
    flat = mask.flatten(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    entry = {
        "image_id": 1,
        "category_id": 1,
        "score": 1.0,
        "segmentation": {"size": [100, 200], "counts": counts},
    }
    answers = _read([entry])
    assert answers.images[1].boxes.tolist() == [[20.0, 10.0, 40.0, 30.0]]


def test_empty_and_unmatched_answer_sets(tmp_path: Path) -> None:
    with pytest.raises(EvalInputError, match="no answers in"):
        _read(_manifest(tmp_path, []))
    with pytest.raises(EvalInputError, match="no answers in"):
        _read([])
    stray = _manifest(tmp_path, [{"image": "nope.jpg", "answer": "[]"}])
    with pytest.raises(EvalInputError, match=r"none of the 1 answers .* names a GT image"):
        evaluate(GT, stray)
    # An unusable line is reported as unreadable (as convert reports it), not an abort.
    (tmp_path / "bad.jsonl").write_text('{"image": "a.jpg"}\nnot json\n')
    read = _read(tmp_path / "bad.jsonl")
    assert [(source, "give 'answer'" in why) for source, why in read.unreadable][:1] == [
        ("bad.jsonl:1", True)
    ]
    assert [source for source, _ in read.unreadable] == ["bad.jsonl:1", "bad.jsonl:2"]
    with pytest.raises(EvalInputError, match="not found"):
        _read(tmp_path / "missing.jsonl")


def test_folder_without_images_pairs_answers_with_gt_names(tmp_path: Path) -> None:
    case = make_case(4, seed=2, masks=None)
    case.write(tmp_path, images=False)
    (tmp_path / "answers" / "notes.txt").write_text("[]")
    gt = load_ground_truth(case.gt)
    answers = read_answers(tmp_path / "answers", gt, LabelMatcher(gt.categories))
    assert len(answers.images) == 4 and answers.sized_from_gt == 4
    assert answers.without_gt_image == [str(tmp_path / "answers" / "notes.txt")]


def test_several_answer_files_are_one_set(tmp_path: Path) -> None:
    first = _manifest(tmp_path, [{"image": "a.jpg", "answer": json.dumps([CUP])}])
    second = tmp_path / "r.json"
    second.write_text(json.dumps([{"image_id": 2, "category_id": 2, "bbox": [100, 50, 50, 40]}]))
    answers = _read([first, second])
    assert answers.kind == "mixed" and answers.answers == 2
    assert evaluate(GT, answers).bbox.metrics["AP"] == pytest.approx(1.0)
