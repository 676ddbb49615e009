"""Synthetic ground truth and the fake model's answers (the README demo)."""

from __future__ import annotations

import pytest

from boxmask.evaluation import evaluate, load_ground_truth
from boxmask.evaluation.synthetic import fake_model_answers, scene_ground_truth
from boxmask.testing.scenes import make_scene


def test_fake_model_on_lossless_scenes_is_near_perfect() -> None:
    scenes = {f"s{i}.png": make_scene(i, n_shapes=4) for i in range(6)}
    gt = scene_ground_truth(scenes)
    assert len(gt["annotations"]) == 24
    assert load_ground_truth(gt).has_masks
    report = evaluate(gt, fake_model_answers(scenes, mask_format="polygon"))
    assert report.bbox.metrics["AP"] == pytest.approx(1.0)
    assert report.segm is not None and report.segm.metrics["AP50"] == pytest.approx(1.0)
    assert report.matching.unknown_labels == {}


def test_categories_by_kind_and_jpeg_degrades() -> None:
    scenes = {f"s{i}.png": make_scene(i, n_shapes=5, min_side=14) for i in range(12)}
    by_kind = scene_ground_truth(scenes, by="kind")
    assert {c["name"] for c in by_kind["categories"]} <= {"rectangle", "ellipse", "triangle"}
    gt = scene_ground_truth(scenes)
    sharp = evaluate(gt, fake_model_answers(scenes))
    blurry = evaluate(gt, fake_model_answers(scenes, jpeg_quality=20))
    assert blurry.segm is not None and sharp.segm is not None
    assert blurry.segm.metrics["AP"] < sharp.segm.metrics["AP"]
    with pytest.raises(ValueError, match="by must be"):
        scene_ground_truth(scenes, by="colour")
