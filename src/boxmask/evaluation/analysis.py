"""Label confusions: predictions matched to ground truth by IoU, ignoring the class.

Per image, predictions (every label, also labels that are no GT category; not the ones
the label map ignores) are taken highest score first, as COCOeval does, and each claims
the free non-crowd GT object it overlaps most at IoU >= the threshold (pycocotools'
``maskUtils.iou`` on boxes, or on masks for segm). A pair whose labels differ is a
confusion: GT ``cup`` found as ``mug``. Per GT category this also tells which misses were
*mislabelled* (some prediction of another label covers the object) rather than *not
found*, and which false positives sit on *another category's* object rather than on
nothing (hallucinated, misplaced or a duplicate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from boxmask.evaluation.answers import ImagePredictions
from boxmask.evaluation.groundtruth import GroundTruth
from boxmask.evaluation.labels import IGNORED, UNKNOWN
from boxmask.evaluation.metrics import box_rle

__all__ = ["ConfusionCounts", "class_agnostic_confusions"]


@dataclass
class ConfusionCounts:
    """Counts of the class-agnostic matching.

    ``pairs[(gt category id, predicted label)]``: GT objects found under another label
    (the predicted label is the category name for GT categories, the model's text for
    unknown ones). ``mislabelled[c]``: GT objects of ``c`` covered only by a prediction
    of another label; ``not_found[c]``: covered by no prediction; ``on_other[c]``:
    predictions labelled ``c`` lying on an object of another category; ``on_nothing[c]``:
    predictions labelled ``c`` that claimed no object.
    """

    pairs: Counter[tuple[int, str]] = field(default_factory=Counter)
    mislabelled: Counter[int] = field(default_factory=Counter)
    not_found: Counter[int] = field(default_factory=Counter)
    on_other: Counter[int] = field(default_factory=Counter)
    on_nothing: Counter[int] = field(default_factory=Counter)


def class_agnostic_confusions(
    gt: GroundTruth,
    predictions: dict[int, ImagePredictions],
    image_ids: Iterable[int],
    iou_type: str,
    threshold: float,
) -> ConfusionCounts:
    """Match every evaluated image (see the module doc) and count the outcomes."""
    from pycocotools import mask as mask_utils

    counts = ConfusionCounts()
    for image_id in image_ids:
        gts = [a for a in gt.coco.imgToAnns.get(image_id, []) if not a.get("iscrowd")]
        image = predictions.get(image_id)
        keep = np.zeros(0, dtype=np.intp)
        if image is not None:
            keep = np.flatnonzero(image.category_ids != IGNORED)
        gt_cats = [int(a["category_id"]) for a in gts]
        if not len(keep):
            counts.not_found.update(gt_cats)
            continue
        assert image is not None
        order = keep[np.argsort(-image.scores[keep], kind="mergesort")]
        matched_gt = _greedy(mask_utils, gt, image, order, gts, iou_type, threshold)
        for position, i in enumerate(order):
            cat_id = int(image.category_ids[i])
            g = matched_gt[position]
            if g < 0:
                if cat_id != UNKNOWN:
                    counts.on_nothing[cat_id] += 1
                continue
            if cat_id == gt_cats[g]:
                continue
            name = gt.categories[cat_id] if cat_id != UNKNOWN else image.labels[i]
            counts.pairs[(gt_cats[g], name)] += 1
            counts.mislabelled[gt_cats[g]] += 1
            if cat_id != UNKNOWN:
                counts.on_other[cat_id] += 1
        claimed = {int(g) for g in matched_gt if g >= 0}
        counts.not_found.update(c for g, c in enumerate(gt_cats) if g not in claimed)
    return counts


def _greedy(
    mask_utils: Any,
    gt: GroundTruth,
    image: ImagePredictions,
    order: np.ndarray,
    gts: list[dict[str, Any]],
    iou_type: str,
    threshold: float,
) -> list[int]:
    """For each prediction in ``order``: the GT index it claims, or -1."""
    if not gts:
        return [-1] * len(order)
    if iou_type == "bbox":
        dt_geom: list[Any] = [list(map(float, image.boxes[i])) for i in order]
        gt_geom: list[Any] = [list(map(float, a["bbox"])) for a in gts]
    else:
        size = gt.size_of(image.image_id)
        dt_geom = [_mask(mask_utils, image, i, size) for i in order]
        gt_geom = [gt.coco.annToRLE(a) for a in gts]
    ious = np.asarray(mask_utils.iou(dt_geom, gt_geom, [0] * len(gts)), dtype=np.float64)
    ious = ious.reshape(len(order), len(gts))
    free = np.ones(len(gts), dtype=bool)
    out: list[int] = []
    for row in ious:
        candidates = np.where(free & (row >= threshold), row, -1.0)
        best = int(candidates.argmax())
        if candidates[best] < 0:
            out.append(-1)
            continue
        free[best] = False
        out.append(best)
    return out


def _mask(
    mask_utils: Any, image: ImagePredictions, i: int, size: tuple[int, int]
) -> dict[str, Any]:
    rle = image.rles[i] if image.rles is not None else None
    return rle if rle is not None else box_rle(mask_utils, list(map(float, image.boxes[i])), size)
