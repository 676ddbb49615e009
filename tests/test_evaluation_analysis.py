"""Error analysis: counts, confusions, worst images, compare and plots on a hand-made case."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from boxmask.evaluation import PlotsUnavailable, compare, evaluate, save_pr_plots
from boxmask.evaluation.render import format_comparison, format_report

GT: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "one.jpg", "width": 200, "height": 100},
        {"id": 2, "file_name": "two.jpg", "width": 200, "height": 100},
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
            "image_id": 1,
            "category_id": 2,
            "bbox": [100, 50, 50, 40],
            "area": 2000,
            "iscrowd": 0,
        },
        {
            "id": 3,
            "image_id": 2,
            "category_id": 1,
            "bbox": [20, 10, 40, 30],
            "area": 1200,
            "iscrowd": 0,
        },
    ],
    "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "plate"}],
}
ON_CUP = [100, 100, 400, 300]  # box_2d of GT 1 on a 200x100 image
ON_PLATE = [500, 500, 900, 750]
ON_NOTHING = [800, 0, 1000, 100]

ANSWERS = {
    "one.jpg": [
        {"box_2d": ON_CUP, "label": "mug", "confidence": 0.9},
        {"box_2d": ON_PLATE, "label": "cup", "confidence": 0.8},
        {"box_2d": ON_NOTHING, "label": "plate", "confidence": 0.7},
    ],
    "two.jpg": [],
}
PERFECT = {
    "one.jpg": [{"box_2d": ON_CUP, "label": "cup"}, {"box_2d": ON_PLATE, "label": "plate"}],
    "two.jpg": [{"box_2d": ON_CUP, "label": "cup"}],
}


def _manifest(path: Path, answers: dict[str, list[dict[str, Any]]]) -> Path:
    lines = [
        json.dumps({"image": name, "width": 200, "height": 100, "answer": json.dumps(items)})
        for name, items in answers.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_counts_confusions_and_worst_images(tmp_path: Path) -> None:
    report = evaluate(GT, _manifest(tmp_path / "a.jsonl", ANSWERS))
    cup, plate = report.bbox.category("cup"), report.bbox.category("plate")
    assert (cup.gt, cup.predictions, cup.true_positives, cup.false_positives, cup.misses) == (
        2,
        1,
        0,
        1,
        2,
    )
    assert (plate.gt, plate.predictions, plate.true_positives, plate.false_positives) == (
        1,
        1,
        0,
        1,
    )
    assert (cup.mislabelled, cup.not_found, cup.fp_on_other, cup.fp_on_nothing) == (1, 1, 1, 0)
    assert (plate.mislabelled, plate.not_found, plate.fp_on_other, plate.fp_on_nothing) == (
        1,
        0,
        0,
        1,
    )
    pairs = {(c.gt, c.predicted, c.known): c.count for c in report.bbox.confusions}
    assert pairs == {("cup", "mug", False): 1, ("plate", "cup", True): 1}
    worst = report.bbox.worst_images
    assert [(w.file_name, w.false_positives, w.misses) for w in worst] == [
        ("one.jpg", 2, 2),
        ("two.jpg", 0, 1),
    ]
    assert report.bbox.metrics["AP"] == 0.0
    text = format_report(report)
    assert "mug  (no such category)" in text and "one.jpg" in text
    assert "'mug' ×1" in text  # the unknown label is reported


def test_labels_map_turns_the_confusion_into_a_hit(tmp_path: Path) -> None:
    report = evaluate(GT, _manifest(tmp_path / "a.jsonl", ANSWERS), labels={"mug": "cup"})
    assert report.bbox.category("cup").true_positives == 1
    assert {c.predicted for c in report.bbox.confusions} == {"cup"}


def test_compare_lines_up_two_answer_sets(tmp_path: Path) -> None:
    a = _manifest(tmp_path / "a.jsonl", ANSWERS)
    b = _manifest(tmp_path / "b.jsonl", PERFECT)
    result = compare(GT, a, b)
    assert result.metric_deltas("bbox")["AP"] == pytest.approx(1.0)
    rows = {r.name: r for r in result.categories["bbox"]}
    assert rows["cup"].delta_ap == pytest.approx(1.0) and rows["cup"].misses_a == 2
    assert rows["cup"].misses_b == 0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["bbox"]["metric_deltas"]["AP"] == pytest.approx(1.0)
    assert data["a"]["bbox"]["AP"] == 0.0 and data["b"]["bbox"]["AP"] == pytest.approx(1.0)
    assert "largest change first" in format_comparison(result)


def test_compare_only_answered_uses_the_images_both_answered(tmp_path: Path) -> None:
    a = _manifest(tmp_path / "a.jsonl", {"one.jpg": PERFECT["one.jpg"]})
    b = _manifest(tmp_path / "b.jsonl", PERFECT)
    result = compare(GT, a, b, only_answered=True)
    assert result.a.matching.images_evaluated == result.b.matching.images_evaluated == 1
    assert result.metric_deltas("bbox")["AP"] == pytest.approx(0.0)


def test_pr_plots_one_png_per_category(tmp_path: Path) -> None:
    report = evaluate(GT, _manifest(tmp_path / "b.jsonl", PERFECT))
    paths = save_pr_plots(report, tmp_path / "plots")
    assert sorted(p.name for p in paths) == ["pr_bbox_cup.png", "pr_bbox_plate.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_pr_plots_without_matplotlib_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = evaluate(GT, _manifest(tmp_path / "b.jsonl", PERFECT))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotsUnavailable, match=r"pip install 'boxmask\[eval\]'"):
        save_pr_plots(report, tmp_path / "plots")
