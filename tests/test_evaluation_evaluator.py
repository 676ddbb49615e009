"""evaluate(): metrics equal pycocotools' COCOeval on independently built results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import boxmask
from boxmask.evaluation import STAT_NAMES, EvalInputError, evaluate
from tests.eval_data import CATEGORIES, make_case, reference_stats


def _stats(result: object) -> np.ndarray:
    metrics = result.metrics  # type: ignore[attr-defined]
    return np.array([metrics[name] for name in STAT_NAMES])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bbox_and_segm_equal_cocoeval_on_polygon_answers(tmp_path: Path, seed: int) -> None:
    case = make_case(15, seed=seed, masks="polygon")
    gt_path, manifest = case.write(tmp_path)
    report = evaluate(gt_path, manifest)
    assert report.segm is not None
    np.testing.assert_allclose(
        _stats(report.bbox), reference_stats(case.gt, case.bbox_results, "bbox"), atol=1e-3
    )
    np.testing.assert_allclose(
        _stats(report.segm), reference_stats(case.gt, case.segm_results, "segm"), atol=0.01
    )
    assert 0.05 < report.bbox.metrics["AP"] < 0.95  # a case with real errors


def test_png_masks_segm_within_001_of_the_cookbook_decode(tmp_path: Path) -> None:
    case = make_case(12, seed=5, masks="png")
    gt_path, manifest = case.write(tmp_path)
    report = evaluate(gt_path, manifest)
    assert report.segm is not None
    np.testing.assert_allclose(
        _stats(report.segm), reference_stats(case.gt, case.segm_results, "segm"), atol=0.01
    )


def test_per_category_ap_equals_cocoeval_restricted_to_that_category(tmp_path: Path) -> None:
    case = make_case(15, seed=3, masks=None)
    gt_path, manifest = case.write(tmp_path)
    report = evaluate(gt_path, manifest)
    assert report.segm is None and report.segm_skipped == "the answers carry no masks"
    for k, name in enumerate(CATEGORIES, start=1):
        row = report.bbox.category(name)
        ref = reference_stats(case.gt, case.bbox_results, "bbox", category_ids=[k])
        assert row.ap == pytest.approx(ref[0], abs=1e-9)
        assert row.ap50 == pytest.approx(ref[1], abs=1e-9)
        assert row.ap75 == pytest.approx(ref[2], abs=1e-9)
        assert row.ar100 == pytest.approx(ref[8], abs=1e-9)
        assert row.true_positives + row.misses == row.gt
        assert row.true_positives + row.false_positives == row.predictions


def test_images_without_answers_count_as_misses_unless_only_answered(tmp_path: Path) -> None:
    case = make_case(10, seed=4, masks=None)
    dropped = list(case.answers)[:3]
    for name in dropped:
        del case.answers[name]
    gt_path, manifest = case.write(tmp_path)
    kept_ids = [i["id"] for i in case.gt["images"] if i["file_name"] not in dropped]
    results = [r for r in case.bbox_results if r["image_id"] in kept_ids]
    everything = evaluate(gt_path, manifest)
    np.testing.assert_allclose(
        _stats(everything.bbox), reference_stats(case.gt, results, "bbox"), atol=1e-9
    )
    assert sorted(everything.matching.images_without_answers) == sorted(dropped)
    assert any("3 GT images have no answer" in n for n in everything.notes)
    answered = evaluate(gt_path, manifest, only_answered=True)
    np.testing.assert_allclose(
        _stats(answered.bbox),
        reference_stats(case.gt, results, "bbox", image_ids=kept_ids),
        atol=1e-9,
    )
    assert answered.matching.images_evaluated == 7


def test_folder_results_file_coco_dataset_and_detections_give_the_same_ap(
    tmp_path: Path,
) -> None:
    case = make_case(8, seed=6, masks="polygon")
    gt_path, manifest = case.write(tmp_path)
    expected = evaluate(gt_path, manifest)
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps(case.segm_results))
    from_folder = evaluate(gt_path, tmp_path)
    from_results = evaluate(gt_path, results_path)
    detections = {
        name: boxmask.parse(items, width=320, height=240) for name, items in case.answers.items()
    }
    from_mapping = evaluate(gt_path, detections)
    coco = boxmask.CocoDataset()
    for name, d in detections.items():
        coco.add(d, name)
    coco.save(tmp_path / "pred_coco.json")
    from_coco = evaluate(gt_path, tmp_path / "pred_coco.json")
    assert from_results.answers_kind == "results" and from_coco.answers_kind == "coco"
    for other in (from_folder, from_mapping, from_coco):
        assert other.bbox.metrics == pytest.approx(expected.bbox.metrics, abs=1e-9)
        assert other.segm is not None and expected.segm is not None
        assert other.segm.metrics == pytest.approx(expected.segm.metrics, abs=1e-9)
    # the results file has segmentations only: boxes come from the masks (toBbox)
    assert from_results.segm is not None and expected.segm is not None
    assert from_results.segm.metrics == pytest.approx(expected.segm.metrics, abs=1e-9)


def test_scores_are_stated(tmp_path: Path) -> None:
    case = make_case(4, seed=7, masks=None)
    for items in case.answers.values():
        for item in items:
            item.pop("confidence", None)
    gt_path, manifest = case.write(tmp_path)
    report = evaluate(gt_path, manifest)
    assert report.matching.scores_given == 0
    assert report.notes[0].startswith("scores: the answers carry no confidence")
    assert report.to_dict()["matching"]["scores_missing"] == report.matching.predictions


def test_to_dict_is_json_and_holds_every_figure(tmp_path: Path) -> None:
    case = make_case(5, seed=8, masks="polygon")
    gt_path, manifest = case.write(tmp_path)
    data = json.loads(json.dumps(evaluate(gt_path, manifest).to_dict()))
    for iou_type in ("bbox", "segm"):
        block = data[iou_type]
        assert set(STAT_NAMES) <= set(block)
        assert len(block["per_category"]) == 3
        row = block["per_category"][0]
        assert len(row["precision_at_50"]) == len(block["recall_thresholds"]) == 101
        assert {"confusions", "worst_images", "iou_threshold"} <= set(block)
    assert set(data["matching"]["unknown_labels"]) <= {"blob"}
    assert data["ground_truth"]["images"] == 5


def test_perfect_answers_score_one_and_empty_answers_zero(tmp_path: Path) -> None:
    case = make_case(3, seed=9, masks=None)
    gt_path, _ = case.write(tmp_path)
    perfect = evaluate(gt_path, [r | {"score": 1.0} for r in _exact_results(case.gt)])
    assert perfect.bbox.metrics["AP"] == pytest.approx(1.0)
    assert all(c.misses == 0 and c.false_positives == 0 for c in perfect.bbox.categories)
    nothing = {i["file_name"]: boxmask.Detections.empty(320, 240) for i in case.gt["images"]}
    empty = evaluate(gt_path, nothing)
    assert empty.bbox.metrics["AP"] == 0.0
    assert sum(c.misses for c in empty.bbox.categories) == len(case.gt["annotations"])


def _exact_results(gt: dict[str, object]) -> list[dict[str, object]]:
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"]}
        for a in gt["annotations"]  # type: ignore[attr-defined]
    ]


def test_bad_iou_types_and_threshold(tmp_path: Path) -> None:
    case = make_case(2, seed=1, masks=None)
    gt_path, manifest = case.write(tmp_path)
    with pytest.raises(EvalInputError, match="iou_types"):
        evaluate(gt_path, manifest, iou_types=("segm",))
    with pytest.raises(ValueError, match="IoU threshold"):
        evaluate(gt_path, manifest, iou_threshold=0.4)


def test_worker_processes_give_the_same_report(tmp_path: Path) -> None:
    case = make_case(70, seed=12, masks="polygon", distinct=10)
    case.answers["scene_00003.png"] = "no JSON here"  # type: ignore[assignment]
    gt_path, manifest = case.write(tmp_path)
    inline = evaluate(gt_path, manifest, workers=1).to_dict()
    pooled = evaluate(gt_path, manifest, workers=2).to_dict()
    assert pooled == inline
    unreadable = inline["matching"]["unreadable"]
    assert [Path(u["source"]).name for u in unreadable] == ["scene_00003.txt"]
