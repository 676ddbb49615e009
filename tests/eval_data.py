"""Synthetic evaluation cases: scenes with exact ground truth, imperfect "model" answers
(misses, extra boxes, wrong and unknown labels, partial scores), and the COCO results a
test builds from those answers *without* boxmask.evaluation (pycocotools for polygons)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from boxmask.testing.answers import encode_png_mask
from boxmask.testing.reference import reference_masks
from boxmask.testing.scenes import Region, Scene, make_scene, masks_answer

CATEGORIES = ["rectangle", "ellipse", "triangle"]


@dataclass
class EvalCase:
    gt: dict[str, Any]
    scenes: dict[str, Scene]
    answers: dict[str, list[dict[str, Any]]]
    bbox_results: list[dict[str, Any]] = field(default_factory=list)
    segm_results: list[dict[str, Any]] = field(default_factory=list)

    def write(self, root: Path, *, images: bool = True) -> tuple[Path, Path]:
        """gt.json, answers/NAME.txt (+ images/NAME.png) and manifest.jsonl under root."""
        (root / "answers").mkdir(parents=True, exist_ok=True)
        gt_path = root / "gt.json"
        gt_path.write_text(json.dumps(self.gt))
        lines = []
        encoded: dict[tuple[int, str], bytes] = {}
        for name, items in self.answers.items():
            stem = Path(name).stem
            (root / "answers" / f"{stem}.txt").write_text(json.dumps(items))
            entry: dict[str, Any] = {"answer": f"answers/{stem}.txt"}
            if images:
                (root / "images").mkdir(exist_ok=True)
                fmt = "JPEG" if name.endswith(".jpg") else "PNG"
                key = (id(self.scenes[name]), fmt)
                if key not in encoded:
                    encoded[key] = self.scenes[name].encode(fmt)
                (root / "images" / name).write_bytes(encoded[key])
                entry["image"] = f"images/{name}"
            else:
                scene = self.scenes[name]
                entry |= {"image": name, "width": scene.width, "height": scene.height}
            lines.append(json.dumps(entry))
        manifest = root / "manifest.jsonl"
        manifest.write_text("\n".join(lines) + "\n")
        return gt_path, manifest


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


@dataclass
class _Truth:
    """One distinct scene, computed once: masks, tight boxes, GT RLEs, per-shape items."""

    scene: Scene
    masks: list[np.ndarray]
    boxes: np.ndarray
    rles: list[dict[str, Any]]
    items: list[dict[str, Any]]


def _truth(scene: Scene, masks: str | None) -> _Truth:
    full = scene.masks()
    items = []
    for shape, mask in zip(scene.shapes, full, strict=True):
        x0, y0, x1, y1 = shape.box
        region = Region(shape.color, shape.kind, shape.box, mask[y0:y1, x0:x1])
        items.append(_item(region, scene, masks))
    return _Truth(scene, full, scene.boxes(), [_rle(m) for m in full], items)


def _annotations(truth: _Truth, image_id: int, first_id: int) -> list[dict[str, Any]]:
    out = []
    for k, (shape, mask, box) in enumerate(
        zip(truth.scene.shapes, truth.masks, truth.boxes, strict=True)
    ):
        x0, y0, x1, y1 = (float(v) for v in box)
        out.append(
            {
                "id": first_id + k,
                "image_id": image_id,
                "category_id": CATEGORIES.index(shape.kind) + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": int(mask.sum()),
                "segmentation": truth.rles[k],
                "iscrowd": 0,
            }
        )
    return out


def make_case(
    n_images: int = 10,
    seed: int = 0,
    *,
    masks: str | None = "polygon",
    n_shapes: int = 4,
    distinct: int | None = None,
    image_format: str = "png",
) -> EvalCase:
    """Answers per image: each shape kept with a jittered box (15 % missed, 10 % another
    kind, 5 % the unknown label "blob"), 0-2 extra boxes, 80 % of items scored.
    ``distinct`` scenes are cycled through (all distinct by default); every image gets
    its own answer."""
    rng = np.random.default_rng(seed)
    truths: dict[int, _Truth] = {}
    gt: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)],
    }
    case = EvalCase(gt, {}, {})
    for i in range(n_images):
        key = i % (distinct or n_images)
        if key not in truths:
            scene = make_scene(seed * 1000 + key, width=320, height=240, n_shapes=n_shapes)
            truths[key] = _truth(scene, masks)
        truth = truths[key]
        name, image_id = f"scene_{i:05d}.{image_format}", i + 1
        case.scenes[name] = truth.scene
        gt["images"].append(
            {
                "id": image_id,
                "file_name": name,
                "width": truth.scene.width,
                "height": truth.scene.height,
            }
        )
        gt["annotations"] += _annotations(truth, image_id, len(gt["annotations"]) + 1)
        case.answers[name] = _answer(rng, truth, masks)
        _independent_results(case, image_id, truth.scene, case.answers[name])
    return case


def _answer(rng: np.random.Generator, truth: _Truth, masks: str | None) -> list[dict[str, Any]]:
    items = []
    for shape, base in zip(truth.scene.shapes, truth.items, strict=True):
        if rng.random() < 0.15:
            continue
        item = dict(base)
        roll = rng.random()
        item["label"] = (
            "blob"
            if roll < 0.05
            else CATEGORIES[(CATEGORIES.index(shape.kind) + 1) % 3]
            if roll < 0.15
            else shape.kind
        )
        item["box_2d"] = [int(np.clip(v + rng.integers(-6, 7), 0, 1000)) for v in item["box_2d"]]
        items.append(item)
    for _ in range(int(rng.integers(0, 3))):
        y0, x0 = (int(v) for v in rng.integers(0, 700, 2))
        extra = {"box_2d": [y0, x0, y0 + 150, x0 + 200], "label": str(rng.choice(CATEGORIES))}
        if masks == "png":
            extra["mask"] = encode_png_mask(np.full((64, 64), 255, dtype=np.uint8))
        elif masks == "polygon":
            extra["mask"] = [[x0, y0], [x0 + 200, y0], [x0 + 100, y0 + 150]]
        items.append(extra)
    for item in items:
        if rng.random() < 0.8:
            item["confidence"] = round(float(rng.uniform(0.2, 1.0)), 3)
    return items


def _item(region: Region, scene: Scene, masks: str | None) -> dict[str, Any]:
    if masks is None:
        item = masks_answer([region], scene.width, scene.height, mask_format="polygon")[0]
        del item["mask"]
        return item
    return masks_answer([region], scene.width, scene.height, mask_format=masks)[0]


def _independent_results(
    case: EvalCase, image_id: int, scene: Scene, items: list[dict[str, Any]]
) -> None:
    """COCO results straight from the answer numbers (x = v / 1000 * width)."""
    w, h = scene.width, scene.height
    for item in items:
        if item["label"] not in CATEGORIES:
            continue
        ymin, xmin, ymax, xmax = item["box_2d"]
        x0, y0, x1, y1 = xmin / 1000 * w, ymin / 1000 * h, xmax / 1000 * w, ymax / 1000 * h
        base = {
            "image_id": image_id,
            "category_id": CATEGORIES.index(item["label"]) + 1,
            "score": item.get("confidence", 1.0),
        }
        case.bbox_results.append(base | {"bbox": [x0, y0, x1 - x0, y1 - y0]})
        mask = item.get("mask")
        if isinstance(mask, list):
            flat = [v for x, y in mask for v in (x / 1000 * w, y / 1000 * h)]
            rle = mask_utils.merge(mask_utils.frPyObjects([flat], h, w))
            rle["counts"] = rle["counts"].decode()
            case.segm_results.append(base | {"segmentation": rle})
        elif isinstance(mask, str):  # Google's cookbook decode (Pillow), not boxmask's
            dense = reference_masks([item], w, h)[0]
            case.segm_results.append(base | {"segmentation": _rle(dense)})


def reference_stats(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    iou_type: str,
    *,
    image_ids: list[int] | None = None,
    category_ids: list[int] | None = None,
) -> np.ndarray:
    """``COCOeval.stats`` run the plain pycocotools way on a copy of the inputs."""
    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, iou_type)
        if image_ids is not None:
            ev.params.imgIds = image_ids
        if category_ids is not None:
            ev.params.catIds = category_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)
