"""The datasets boxmask writes, loaded by the libraries people load them with.

pycocotools (``annToMask``/``annToRLE`` on every annotation, ``COCOeval`` bbox and segm),
faster-coco-eval, supervision (``from_coco``/``from_yolo``) and PyYAML (``data.yaml``).
Ultralytics itself is not installed here (it pulls a multi-GB torch build); its layout
rule — the label of ``.../images/<split>/x.jpg`` is ``.../labels/<split>/x.txt`` — is
checked on the files.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from boxmask.batch import BatchOptions, Job, jobs_from_dir, run_batch
from tests.conftest import FIXTURES

MIXED_ANSWER = json.dumps(
    [
        {"box_2d": [100, 100, 400, 500], "label": "cup"},  # box only
        {
            "box_2d": [500, 520, 900, 980],
            "label": "plate",
            "mask": [[550, 520], [980, 600], [700, 890]],
        },
        {"box_2d": [50, 600, 300, 900], "label": "cup", "confidence": 0.8},
        {"point": [500, 500], "label": "handle"},  # point only: reported, not in COCO
    ]
)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled fixtures (boxes, points, PNG and polygon masks, a truncated answer) and
    an answer mixing box-only items with masks, converted in both COCO formats + YOLO."""
    root = tmp_path_factory.mktemp("consumers")
    images = root / "images"
    shutil.copytree(FIXTURES / "images", images)
    Image.new("RGB", (320, 240), (90, 120, 150)).save(images / "mixed.png")
    jobs, _ = jobs_from_dir(FIXTURES)
    jobs = [
        Job(
            source=j.source, image=str(images / Path(j.image or "").name), answer_path=j.answer_path
        )
        for j in jobs
    ]
    jobs.append(Job(source="mixed.txt", image=str(images / "mixed.png"), answer_text=MIXED_ANSWER))
    out: dict[str, Path] = {"images": images}
    for mask_format in ("rle", "polygon"):
        run_batch(
            jobs,
            BatchOptions(
                coco=root / f"{mask_format}.json",
                yolo=root / f"yolo-{mask_format}",
                mask_format=mask_format,
                workers=1,
            ),
        )
        out[mask_format] = root / f"{mask_format}.json"
        out[f"yolo-{mask_format}"] = root / f"yolo-{mask_format}"
    return out


def _quiet_coco(path: Path):  # type: ignore[no-untyped-def]
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
def test_pycocotools_reads_every_annotation(datasets: dict[str, Path], mask_format: str) -> None:
    coco = _quiet_coco(datasets[mask_format])
    assert coco.getAnnIds(), "the fixtures give annotations"
    for ann in coco.loadAnns(coco.getAnnIds()):
        image = coco.imgs[ann["image_id"]]
        mask = coco.annToMask(ann)
        assert mask.shape == (image["height"], image["width"])
        assert mask.any(), f"annotation {ann['id']} has no pixels"
        coco.annToRLE(ann)
    kinds = {type(a["segmentation"]).__name__ for a in coco.dataset["annotations"]}
    if mask_format == "rle":
        assert kinds == {"dict"}  # one representation per file
    else:
        assert "list" in kinds


def _results(path: Path) -> list[dict[str, object]]:
    data = json.loads(path.read_text())
    return [{**a, "score": 1.0} for a in data["annotations"]]


@pytest.mark.parametrize("mask_format", ["rle", "polygon"])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_cocoeval_of_the_file_against_itself_is_perfect(
    datasets: dict[str, Path], mask_format: str, iou_type: str
) -> None:
    from pycocotools.cocoeval import COCOeval

    gt = _quiet_coco(datasets[mask_format])
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(_results(datasets[mask_format]))
        evaluation = COCOeval(gt, dt, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # AP
    assert evaluation.stats[1] == pytest.approx(1.0)  # AP50


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_faster_coco_eval_agrees(datasets: dict[str, Path], iou_type: str) -> None:
    faster = pytest.importorskip("faster_coco_eval")
    gt = faster.COCO(str(datasets["rle"]))
    dt = gt.loadRes(_results(datasets["rle"]))
    evaluation = faster.COCOeval_faster(gt, dt, iou_type, print_function=lambda *a: None)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_supervision_loads_coco(datasets: dict[str, Path]) -> None:
    import supervision as sv

    data = json.loads(datasets["rle"].read_text())
    dataset = sv.DetectionDataset.from_coco(
        images_directory_path=str(datasets["images"]),
        annotations_path=str(datasets["rle"]),
        force_masks=True,
    )
    assert len(dataset) == len(data["images"])
    total = sum(len(detections) for _, _, detections in dataset)
    assert total == len(data["annotations"])


def test_yolo_dataset_is_complete_for_ultralytics_and_supervision(
    datasets: dict[str, Path],
) -> None:
    import supervision as sv

    root = datasets["yolo-polygon"]
    data = yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8"))
    images = sorted((root / data["train"]).iterdir())
    assert images, "data.yaml's train folder holds the pictures"
    for image in images:  # Ultralytics' img2label_paths rule
        label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
        assert label.is_file(), label
    dataset = sv.DetectionDataset.from_yolo(
        images_directory_path=str(root / "images" / "train"),
        annotations_directory_path=str(root / "labels" / "train"),
        data_yaml_path=str(root / "data.yaml"),
    )
    assert len(dataset) == len(images)
    assert list(dataset.classes) == [data["names"][i] for i in range(len(data["names"]))]


def test_data_yaml_takes_any_label(tmp_path: Path) -> None:
    from boxmask import Detections
    from boxmask.export import YoloDataset

    labels = [
        "del\x7f",
        "c1\x85\x9b",
        "nonchar\ufffe",
        "ls\u2028ps\u2029x",
        "tab\tnl\nx",
        'quote" and \\ back',
        "日本語 🐱",
        "a: b # c",
    ]
    boxes = np.tile(np.array([[1.0, 1.0, 5.0, 5.0]]), (len(labels), 1))
    yolo = YoloDataset("detect")
    yolo.add(Detections(boxes, labels, width=10, height=10), "a.jpg")
    yolo.save(tmp_path)
    data = yaml.safe_load((tmp_path / "data.yaml").read_text(encoding="utf-8"))
    assert [data["names"][i] for i in range(len(labels))] == labels
