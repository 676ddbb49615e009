"""CocoWriter / CocoNumbering: the one place COCO ids are assigned, streamed to disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from boxmask import Detections
from boxmask.export import CocoDataset, CocoWriter, YoloWriter
from boxmask.export.categories import Categories
from boxmask.export.fragments import Annotation, ExportOptions, ImageRecord, image_fragment
from boxmask.problems import ExportKind, Problem, Stage


def _annotation(label: str, index: int = 0) -> Annotation:
    return Annotation(index, label, (1.0, 2.0, 3.0, 4.0), 12.0)


def test_writer_numbers_images_annotations_and_categories_in_order(tmp_path: Path) -> None:
    with CocoWriter(tmp_path / "c.json") as writer:
        first = writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("y"), _annotation("x", 1)])
        second = writer.add(ImageRecord("b.jpg", 10, 10), [_annotation("x")])
        writer.finish()
    assert (first.image_id, second.image_id) == (1, 2)
    data = json.loads((tmp_path / "c.json").read_text())
    assert [(a["id"], a["image_id"], a["category_id"]) for a in data["annotations"]] == [
        (1, 1, 1),
        (2, 1, 2),
        (3, 2, 2),
    ]
    assert [c["name"] for c in data["categories"]] == ["y", "x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # no parts left
    COCO(str(tmp_path / "c.json"))


def test_same_picture_merges_other_picture_with_same_name_is_reported(tmp_path: Path) -> None:
    writer = CocoWriter(tmp_path / "c.json")
    writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("x")], key="p/a.jpg")
    merged = writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("x")], key="p/a.jpg")
    other = writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("x")], key="q/a.jpg")
    writer.finish()
    assert merged.merged and merged.image_id == 1 and not merged.problems
    assert not other.merged and other.image_id == 2
    assert [p.kind for p in other.problems] == [ExportKind.NAME_COLLISION]
    assert other.problems[0].stage is Stage.EXPORT


def test_fixed_categories_skip_and_report_once_across_shared_writers(tmp_path: Path) -> None:
    categories = Categories(["cup"])
    coco = CocoWriter(tmp_path / "c.json", categories=categories)
    yolo = YoloWriter(tmp_path / "yolo", categories=categories, images="none")
    detections = Detections(
        np.array([[0, 0, 5, 5], [1, 1, 4, 4]], dtype=np.float64),
        ["cup", "mug"],
        width=10,
        height=10,
    )
    fragment = image_fragment(detections, "a.jpg", ExportOptions(yolo="detect"))
    problems = coco.add(fragment.image, fragment.annotations).problems
    problems += yolo.add(fragment.yolo, "a.jpg")
    coco.finish()
    yolo.finish()
    assert [(p.kind, p.index, p.dropped) for p in problems] == [
        (ExportKind.UNKNOWN_CATEGORY, 1, True)
    ]
    assert (tmp_path / "yolo/labels/train/a.txt").read_text().startswith("0 ")
    assert len(json.loads((tmp_path / "c.json").read_text())["annotations"]) == 1


def test_lone_surrogate_label_still_gives_a_valid_file(tmp_path: Path) -> None:
    with CocoWriter(tmp_path / "c.json") as writer:
        writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("bad \ud800 label")])
        writer.finish()
    data = json.loads((tmp_path / "c.json").read_bytes().decode("utf-8"))
    assert data["categories"][0]["name"] == "bad \ud800 label"


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), CocoWriter(tmp_path / "c.json") as writer:
        writer.add(ImageRecord("a.jpg", 10, 10), [_annotation("x")])
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_dataset_and_writer_write_the_same_bytes(tmp_path: Path) -> None:
    detections = Detections(
        np.array([[0, 0, 5, 5], [2, 1, 9, 8]], dtype=np.float64), ["a", "b"], width=10, height=10
    )
    dataset = CocoDataset(info={}, licenses=[])
    dataset.add(detections, "a.jpg")
    dataset.save(tmp_path / "d.json")
    fragment = image_fragment(detections, "a.jpg", ExportOptions())
    with CocoWriter(tmp_path / "w.json", info={}, licenses=[]) as writer:
        writer.add(fragment.image, fragment.annotations)
        writer.finish()
    assert (tmp_path / "d.json").read_bytes() == (tmp_path / "w.json").read_bytes()


def test_problem_round_trips_through_its_dict() -> None:
    problem = Problem(3, ExportKind.HOLES_AS_RLE, "m", image="a.jpg")
    assert Problem.from_dict(problem.to_dict()) == problem


def test_dump_json_is_compact_utf8_and_takes_what_orjson_refuses() -> None:
    import json

    from boxmask.export.coco_writer import dump_json

    entry = {"id": 1, "bbox": [1163.5200000000002, 0.1, 3.0, 4.0], "label": "Kaffeetasse ☕ 杯"}
    assert dump_json(entry) == json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    # orjson refuses these; the standard library writes them (the file writer then
    # escapes the lone surrogate as \udcff).
    for value in ({"label": "caf\udcff"}, {"id": 2**70}, {1: "int key"}):
        assert dump_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
