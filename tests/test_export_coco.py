"""CocoDataset: files pycocotools loads and evaluates, round trips, reports."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import boxmask
from boxmask import CocoDataset, Detections, ExportError, Masks
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT = 640, 480


def _answers(n_images: int = 3, n_items: int = 8) -> list[Detections]:
    return [
        boxmask.parse(to_answer_text(make_items(n_items, seed=k)), width=WIDTH, height=HEIGHT)
        for k in range(n_images)
    ]


def _quiet(fn, *args):  # pycocotools prints progress
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _evaluate(gt_path: Path, res_path: Path, iou_type: str) -> np.ndarray:
    gt = _quiet(COCO, str(gt_path))
    dt = _quiet(gt.loadRes, str(res_path))
    ev = COCOeval(gt, dt, iou_type)
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    return ev.stats


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_pycocotools_loads_and_ground_truth_as_results_scores_ap_1(
    tmp_path: Path, mask_format: str
) -> None:
    ds = CocoDataset(mask_format)
    for k, d in enumerate(_answers()):
        assert ds.add(d, f"img{k}.jpg") == k + 1
    gt_path = ds.save(tmp_path / "gt.json")
    gt = _quiet(COCO, str(gt_path))
    assert len(gt.getImgIds()) == 3 and len(gt.getAnnIds()) == 24
    for iou_type in ("segm", "bbox"):
        res_path = ds.save_results(tmp_path / f"{iou_type}.json", iou_type)
        stats = _evaluate(gt_path, res_path, iou_type)
        assert stats[0] == pytest.approx(1.0), iou_type
        assert stats[1] == pytest.approx(1.0), iou_type
    assert not ds.problems


def test_fields_follow_the_spec(tmp_path: Path) -> None:
    d = _answers(1)[0]
    ds = CocoDataset()
    ds.add(d, "a.jpg")
    data = json.loads(ds.save(tmp_path / "gt.json").read_text(encoding="utf-8"))
    assert set(data) == {"info", "licenses", "images", "annotations", "categories"}
    assert data["images"] == [{"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT}]
    assert [c["id"] for c in data["categories"]] == list(range(1, len(d.class_names) + 1))
    assert [c["name"] for c in data["categories"]] == d.class_names
    anns = data["annotations"]
    assert [a["id"] for a in anns] == list(range(1, len(d) + 1))
    dense = d.masks.to_dense()
    for a, box, m in zip(anns, d.boxes, dense, strict=True):
        assert a["iscrowd"] == 0
        assert a["area"] == float(m.sum())  # mask pixel count, not box area
        assert a["bbox"] == pytest.approx([box[0], box[1], box[2] - box[0], box[3] - box[1]])
        assert isinstance(a["segmentation"]["counts"], str)
        ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert a["segmentation"]["counts"].encode() == ref["counts"]
        assert "score" not in a


def test_bbox_from_mask_is_the_tight_box() -> None:
    d = _answers(1)[0]
    ds = CocoDataset(bbox_from="mask")
    ds.add(d, "a.jpg")
    dense = d.masks.to_dense()
    for a, m in zip(ds.annotations, dense, strict=True):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert a["bbox"] == pytest.approx(mask_utils.toBbox(rle).tolist())


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    for mask_format in ("rle", "polygon"):
        ds = CocoDataset(mask_format)
        answers = _answers()
        for k, d in enumerate(answers):
            ds.add(d, f"img{k}.jpg")
        back = CocoDataset.load(ds.save(tmp_path / f"{mask_format}.json"))
        assert len(back) == 3
        for k, d in enumerate(answers):
            got = back.to_detections(f"img{k}.jpg")
            assert got.labels == d.labels
            np.testing.assert_allclose(got.boxes, d.boxes, atol=1e-9)
            assert (got.masks.to_dense() == d.masks.to_dense()).all()
        assert [name for name, _ in back.iter_detections()] == ["img0.jpg", "img1.jpg", "img2.jpg"]


def _detections(labels: list[str], *, scores=None, masks=True, has_box=None) -> Detections:
    n = len(labels)
    boxes = np.array([[10 * i, 5, 10 * i + 8, 15] for i in range(n)], dtype=np.float64)
    crops = None
    if masks:
        crops = Masks(
            [(10 * i + 1, 6, np.ones((4, 5), dtype=bool)) for i in range(n)], WIDTH, HEIGHT
        )
    return Detections(
        boxes,
        labels,
        width=WIDTH,
        height=HEIGHT,
        scores=scores,
        masks=crops,
        has_box=has_box,
        source_index=np.arange(n) + 100,
    )


def test_categories_first_seen_stable_across_images() -> None:
    ds = CocoDataset()
    ds.add(_detections(["dog", "cat"]), "1.jpg")
    ds.add(_detections(["bird", "cat", "dog"]), "2.jpg")
    assert ds.categories.names == ["dog", "cat", "bird"]
    assert [a["category_id"] for a in ds.annotations] == [1, 2, 3, 2, 1]


def test_fixed_categories_skip_and_report_unknown_labels() -> None:
    ds = CocoDataset(categories=["cat", "dog"])
    ds.add(_detections(["dog", "Cat", "fish"]), "1.jpg")
    assert [a["category_id"] for a in ds.annotations] == [2]
    kinds = [(p.kind, p.index) for p in ds.problems]
    assert ("unknown_category", 101) in kinds and ("unknown_category", 102) in kinds
    assert "did you mean 'cat'" in str(ds.problems[0])


def test_labels_in_any_script_are_kept_verbatim_in_utf8(tmp_path: Path) -> None:
    labels = ["コーヒーカップ", "🐈 猫", "Ünïcödé"]
    ds = CocoDataset()
    ds.add(_detections(labels), "写真.jpg")
    path = ds.save(tmp_path / "gt.json")
    raw = path.read_bytes()
    for label in [*labels, "写真.jpg"]:
        assert label.encode("utf-8") in raw
    assert b"\\u" not in raw
    gt = _quiet(COCO, str(path))
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == labels
    assert CocoDataset.load(path).to_detections("写真.jpg").labels == labels


def test_colliding_labels_are_reported_not_merged_silently() -> None:
    ds = CocoDataset()
    ds.add(_detections(["cup", "Cup", "cup ", "ｃｕｐ"]), "1.jpg")
    # "cup " is the same category as "cup" (whitespace), reported as normalized;
    # "Cup" and full-width "ｃｕｐ" stay separate categories, reported as collisions.
    assert ds.categories.names == ["cup", "Cup", "ｃｕｐ"]
    assert [a["category_id"] for a in ds.annotations] == [1, 2, 1, 3]
    kinds = [p.kind for p in ds.problems]
    assert kinds.count("label_collision") == 2
    assert kinds.count("label_normalized") == 1


def test_point_only_items_are_skipped_and_reported() -> None:
    d = _detections(["a", "b"], has_box=[True, False])
    ds = CocoDataset()
    ds.add(d, "1.jpg")
    assert len(ds.annotations) == 1
    (problem,) = ds.problems
    assert (problem.kind, problem.index, problem.image) == ("point_only", 101, "1.jpg")


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_items_without_mask_get_their_box_as_segmentation(mask_format: str) -> None:
    from pycocotools import mask as mask_utils

    masks = Masks([(1, 6, np.ones((4, 5), bool)), None], WIDTH, HEIGHT)
    d = Detections([[0, 5, 8, 15], [10.4, 5.5, 18.6, 15]], ["a", "b"], width=WIDTH, height=HEIGHT)
    d.masks = masks
    ds = CocoDataset(mask_format)  # type: ignore[arg-type]
    ds.add(d, "1.jpg")
    second = ds.annotations[1]
    assert second["area"] == pytest.approx(8.2 * 9.5)  # pycocotools' loadRes: w * h
    rectangle = [[10.4, 5.5, 18.6, 5.5, 18.6, 15.0, 10.4, 15.0]]
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(rectangle, HEIGHT, WIDTH)))
    if mask_format == "polygon":
        assert second["segmentation"] == rectangle
    else:  # one representation per file: the same pixels as RLE
        assert isinstance(second["segmentation"]["counts"], str)
        np.testing.assert_array_equal(mask_utils.decode(second["segmentation"]), expected)
    assert [p.kind for p in ds.problems] == ["no_mask"]
    # Box-only answers: box segmentations too, nothing to report.
    boxes_only = CocoDataset(mask_format)  # type: ignore[arg-type]
    boxes_only.add(_detections(["a"], masks=False), "2.jpg")
    assert "segmentation" in boxes_only.annotations[0]
    assert not boxes_only.problems


def test_masks_with_holes_become_rle_in_polygon_mode(tmp_path: Path) -> None:
    ring = np.ones((9, 9), dtype=bool)
    ring[3:6, 3:6] = False
    d = Detections(
        [[20, 20, 29, 29], [40, 40, 45, 45]],
        ["donut", "box"],
        width=WIDTH,
        height=HEIGHT,
        masks=Masks([(20, 20, ring), (40, 40, np.ones((5, 5), bool))], WIDTH, HEIGHT),
    )
    ds = CocoDataset("polygon")
    ds.add(d, "1.jpg")
    donut, box = ds.annotations
    assert isinstance(donut["segmentation"], dict) and donut["iscrowd"] == 0
    assert donut["area"] == 72.0
    assert isinstance(box["segmentation"], list)
    assert [p.kind for p in ds.problems] == ["holes_as_rle"]
    gt_path = ds.save(tmp_path / "gt.json")
    gt = _quiet(COCO, str(gt_path))
    assert gt.annToMask(gt.loadAnns([1])[0]).sum() == 72
    stats = _evaluate(gt_path, ds.save_results(tmp_path / "res.json"), "segm")
    assert stats[0] == pytest.approx(1.0)


def test_scores_kept_and_results_default_to_one() -> None:
    ds = CocoDataset()
    ds.add(_detections(["a", "b"], scores=[0.25, np.nan]), "1.jpg")
    assert ds.annotations[0]["score"] == 0.25 and "score" not in ds.annotations[1]
    segm = ds.results("segm")
    assert [r["score"] for r in segm] == [0.25, 1.0]
    assert all("bbox" not in r for r in segm)  # loadRes quirk: bbox would win
    assert all(isinstance(r["segmentation"]["counts"], str) for r in segm)
    assert all("segmentation" not in r for r in ds.results("bbox"))


def test_polygon_results_are_rle_with_the_same_pixels() -> None:
    d = _answers(1)[0]
    ds = CocoDataset("polygon")
    ds.add(d, "1.jpg")
    for r, m in zip(ds.results("segm"), d.masks.to_dense(), strict=True):
        ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        assert r["segmentation"]["counts"].encode() == ref["counts"]


def test_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportError):
        CocoDataset("mask")  # type: ignore[arg-type]
    ds = CocoDataset()
    ds.add(_detections(["a"]), "1.jpg")
    with pytest.raises(ExportError, match="already added"):
        ds.add(_detections(["a"]), "1.jpg")
    with pytest.raises(ExportError, match="already used"):
        ds.add(_detections(["a"]), "2.jpg", image_id=1)
    with pytest.raises(ExportError):
        ds.to_detections("nope.jpg")
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ExportError):
        CocoDataset.load(tmp_path / "bad.json")
    with pytest.raises(ExportError):
        CocoDataset.load(tmp_path / "missing.json")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    ds = CocoDataset()
    ds.add(_detections(["a"]), "1.jpg")
    target = tmp_path / "out" / "gt.json"
    ds.save(target)
    ds.add(_detections(["b"]), "2.jpg")
    ds.save(target)  # replaces
    assert len(json.loads(target.read_text(encoding="utf-8"))["images"]) == 2
    assert [p.name for p in target.parent.iterdir()] == ["gt.json"]
    with pytest.raises(ExportError):
        ds.save(tmp_path)  # a directory


def test_same_input_gives_byte_identical_files(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        ds = CocoDataset("polygon")
        for j, d in enumerate(_answers(2)):
            ds.add(d, f"{j}.jpg")
        outs.append(ds.save(tmp_path / f"{k}.json").read_bytes())
    assert outs[0] == outs[1]


def test_lazy_public_name() -> None:
    assert boxmask.CocoDataset is CocoDataset


def test_loaded_dataset_keeps_category_ids_and_continues_ids(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT}],
        "annotations": [
            {
                "id": 40,
                "image_id": 7,
                "category_id": 5,
                "bbox": [1.0, 2.0, 3.0, 4.0],
                "area": 12.0,
                "iscrowd": 0,
                "segmentation": [[1, 2, 4, 2, 4, 6, 1, 6]],
            }
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 5, "name": "dog"}],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    ds = CocoDataset.load(path)
    d = ds.to_detections(7)
    assert d.labels == ["dog"] and d.scores is None
    np.testing.assert_allclose(d.boxes, [[1, 2, 4, 6]])
    assert d.masks.areas.tolist() == [12]  # polygon rasterized as pycocotools does
    assert ds.add(_detections(["cat", "dog"]), "b.jpg") == 8
    assert [a["id"] for a in ds.annotations] == [40, 41, 42]
    assert [a["category_id"] for a in ds.annotations[1:]] == [1, 5]
    _quiet(COCO, str(ds.save(tmp_path / "out.json")))
