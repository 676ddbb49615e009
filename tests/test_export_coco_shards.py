"""COCO shards (``boxmask.export.coco_shards``): every shard loads alone in the consumers,
the union is the unsharded dataset, categories agree, the index tells what is there."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from boxmask.batch import BatchOptions, Job, jobs_from_dir, run_batch
from boxmask.export.coco_shards import (
    INDEX_FORMAT,
    ShardedCocoWriter,
    is_shard_name,
    replace_categories,
    shard_path,
)
from boxmask.export.fragments import Annotation, ImageRecord
from boxmask.testing.answers import make_items, to_answer_text
from tests.conftest import FIXTURES
from tests.test_export_consumers import MIXED_ANSWER, _quiet_coco

SHARD_SIZE = 3


def _jobs(images: Path) -> list[Job]:
    """The bundled fixtures (boxes, points, PNG and polygon masks), box-only items mixed
    with masks, generated answers whose labels first appear late, and a second answer
    about the first picture at the end (it joins that picture's image entry)."""
    shutil.copytree(FIXTURES / "images", images)
    Image.new("RGB", (320, 240), (90, 120, 150)).save(images / "mixed.png")
    jobs = [
        Job(
            source=j.source, image=str(images / Path(j.image or "").name), answer_path=j.answer_path
        )
        for j in jobs_from_dir(FIXTURES)[0]
    ]
    jobs.append(Job(source="mixed.txt", image=str(images / "mixed.png"), answer_text=MIXED_ANSWER))
    for i in range(5):
        Image.new("RGB", (160, 120), (i * 40, 60, 90)).save(images / f"gen{i}.png")
        # new categories in every later shard
        items = [replace(item, label=f"{item.label}-{i}") for item in make_items(3, seed=i)]
        jobs.append(
            Job(
                source=f"gen{i}",
                image=str(images / f"gen{i}.png"),
                answer_text=to_answer_text(items),
            )
        )
    first = jobs[0]
    jobs.append(Job(source="again", image=first.image, answer_path=first.answer_path))
    return jobs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    jobs = _jobs(root / "images")
    out = {"images": root / "images"}
    for mask_format in ("rle", "polygon"):
        for name, size in (("one", None), ("sharded", SHARD_SIZE)):
            path = root / f"{mask_format}-{name}" / "coco.json"
            run_batch(jobs, BatchOptions(coco=path, mask_format=mask_format, shard_size=size))
            out[f"{mask_format}-{name}"] = path
    return out


def _shards(index: Path) -> list[Path]:
    data = json.loads(index.read_text())
    return [index.with_name(s["file"]) for s in data["shards"]]


def _union(index: Path) -> dict[str, Any]:
    images: dict[int, dict[str, Any]] = {}
    annotations: list[dict[str, Any]] = []
    categories = None
    for shard in _shards(index):
        data = json.loads(shard.read_text())
        for image in data["images"]:
            assert images.setdefault(image["id"], image) == image  # a repeat is the same entry
        annotations += data["annotations"]
        assert categories in (None, data["categories"])
        categories = data["categories"]
    return {"images": list(images.values()), "annotations": annotations, "categories": categories}


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_index_lists_every_shard_with_its_counts(runs: dict[str, Path], mask_format: str) -> None:
    index = runs[f"{mask_format}-sharded"]
    data = json.loads(index.read_text())
    one = json.loads(runs[f"{mask_format}-one"].read_text())
    assert data["format"] == INDEX_FORMAT and data["shard_size"] == SHARD_SIZE
    assert data["version"] and data["categories"] == one["categories"]
    assert data["images"] == len(one["images"])
    assert data["annotations"] == len(one["annotations"])
    assert [s["file"] for s in data["shards"]] == [
        f"coco-{n:05d}.json" for n in range(len(data["shards"]))
    ]
    assert sorted(p.name for p in index.parent.iterdir()) == sorted(
        [".boxmask-run.json", "coco.json", *(s["file"] for s in data["shards"])]
    )
    for entry, shard in zip(data["shards"], _shards(index), strict=True):
        coco = json.loads(shard.read_text())
        assert 1 <= entry["images"] == len(coco["images"]) <= SHARD_SIZE
        assert entry["annotations"] == len(coco["annotations"])
        assert coco["categories"] == data["categories"]  # every shard: the run's categories


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_union_of_the_shards_is_the_unsharded_dataset(
    runs: dict[str, Path], mask_format: str
) -> None:
    one = json.loads(runs[f"{mask_format}-one"].read_text())
    union = _union(runs[f"{mask_format}-sharded"])
    assert union["annotations"] == one["annotations"]  # same ids, boxes, segmentations
    assert sorted(union["images"], key=lambda i: i["id"]) == one["images"]
    ids = [a["id"] for a in union["annotations"]]
    assert len(ids) == len(set(ids))
    # the last answer joined the first picture, whose entry is in shard 0: repeated
    last = json.loads(_shards(runs[f"{mask_format}-sharded"])[-1].read_text())
    assert 1 in {image["id"] for image in last["images"]}


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_every_shard_loads_in_pycocotools_faster_coco_eval_and_supervision(
    runs: dict[str, Path], mask_format: str
) -> None:
    import supervision as sv

    faster = pytest.importorskip("faster_coco_eval")
    for shard in _shards(runs[f"{mask_format}-sharded"]):
        coco = _quiet_coco(shard)
        for ann in coco.loadAnns(coco.getAnnIds()):
            image = coco.imgs[ann["image_id"]]
            assert coco.annToMask(ann).shape == (image["height"], image["width"])
        assert len(faster.COCO(str(shard)).getAnnIds()) == len(coco.getAnnIds())
        dataset = sv.DetectionDataset.from_coco(
            images_directory_path=str(runs["images"]),
            annotations_path=str(shard),
            force_masks=True,
        )
        assert sum(len(d) for _, _, d in dataset) == len(coco.getAnnIds())


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_cocoeval_of_the_union_against_itself_is_perfect(
    runs: dict[str, Path], iou_type: str, tmp_path: Path
) -> None:
    from pycocotools.cocoeval import COCOeval

    union = tmp_path / "union.json"
    union.write_text(json.dumps(_union(runs["rle-sharded"])))
    gt = _quiet_coco(union)
    results = [{**a, "score": 1.0} for a in json.loads(union.read_text())["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def _fragment(n: int, label: str) -> tuple[ImageRecord, list[Annotation]]:
    polygon = [[1.0, 1.0, 5.0, 1.0, 5.0, 5.0, 1.0, 5.0]]
    return ImageRecord(f"{n}.jpg", 8, 8), [Annotation(0, label, (1, 1, 4, 4), 16.0, polygon)]


def test_a_full_shard_is_on_disk_before_the_end(tmp_path: Path) -> None:
    writer = ShardedCocoWriter(tmp_path / "out.json", 2, categories=["a", "b"])
    for n in range(3):
        writer.add(*_fragment(n, "a"))
    assert shard_path(tmp_path / "out.json", 0).is_file()  # streamed: final already
    assert not shard_path(tmp_path / "out.json", 1).exists()
    assert not (tmp_path / "out.json").exists()  # the index comes last
    writer.finish()
    assert json.loads((tmp_path / "out.json").read_text())["shards"][1]["images"] == 1


def test_abort_leaves_no_shard(tmp_path: Path) -> None:
    writer = ShardedCocoWriter(tmp_path / "out.json", 1)
    for n in range(3):
        writer.add(*_fragment(n, "a"))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_categories_tail_is_replaced_even_with_tricky_labels(tmp_path: Path) -> None:
    tricky = 'x\n"categories":[]}'  # escaped in JSON: never a raw line of the layout
    writer = ShardedCocoWriter(tmp_path / "out.json", 1)
    writer.add(*_fragment(0, tricky))
    writer.add(*_fragment(1, "late"))
    writer.finish()
    for shard in _shards(tmp_path / "out.json"):
        names = [c["name"] for c in json.loads(shard.read_text())["categories"]]
        assert names == [tricky, "late"]
    path = shard_path(tmp_path / "out.json", 0)
    replace_categories(path, [{"id": 1, "name": "only", "supercategory": ""}])
    assert json.loads(path.read_text())["categories"][0]["name"] == "only"


def test_shard_names() -> None:
    assert shard_path(Path("d/out.json"), 12) == Path("d/out-00012.json")
    assert shard_path(Path("d/out.json"), 123456) == Path("d/out-123456.json")
    assert is_shard_name(Path("d/out.json"), "out-00000.json")
    assert not is_shard_name(Path("d/out.json"), "out-0000.json")
    assert not is_shard_name(Path("d/out.json"), "other-00000.json")
    with pytest.raises(ValueError, match="at least 1"):
        ShardedCocoWriter("x.json", 0)
