"""COCO metrics by pycocotools' ``COCOeval``, and the per-category figures read off it.

Nothing here re-implements COCO matching: results lists go through ``COCO.loadRes`` and
``COCOeval`` (``evaluate``, ``accumulate``, ``summarize``); per-category AP/AR and the
true/false positive and miss counts are read from its ``eval`` arrays and ``evalImgs``
(area ``all``, 100 detections per image, at the chosen IoU threshold).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.evaluation.answers import ImagePredictions
from boxmask.evaluation.groundtruth import GroundTruth

__all__ = ["STAT_NAMES", "CocoRun", "build_results", "run_cocoeval"]

#: ``COCOeval.stats`` in order; -1 means "no ground truth in that range" (as pycocotools).
STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def build_results(
    gt: GroundTruth,
    predictions: Iterable[ImagePredictions],
    iou_type: str,
    image_ids: set[int],
) -> list[dict[str, Any]]:
    """``loadRes`` input: one entry per prediction with a GT category, in answer order.

    bbox entries carry only ``bbox``; segm entries only ``segmentation`` (RLE; the box
    rectangle for an item without a mask), so that ``loadRes`` takes the area from the
    mask, not from the box.
    """
    from pycocotools import mask as mask_utils

    out: list[dict[str, Any]] = []
    for image in predictions:
        if image.image_id not in image_ids:
            continue
        keep = np.flatnonzero(image.category_ids > 0)
        for i in keep:
            entry: dict[str, Any] = {
                "image_id": image.image_id,
                "category_id": int(image.category_ids[i]),
                "score": float(image.scores[i]),
            }
            box = [float(v) for v in image.boxes[i]]
            if iou_type == "bbox":
                entry["bbox"] = box
            else:
                rle = image.rles[i] if image.rles is not None else None
                if rle is None:
                    rle = box_rle(mask_utils, box, gt.size_of(image.image_id))
                entry["segmentation"] = rle
            out.append(entry)
    return out


def box_rle(mask_utils: Any, box: list[float], size: tuple[int, int]) -> dict[str, Any]:
    """Compressed RLE of the ``[x, y, w, h]`` box rectangle in a ``(width, height)`` image
    (pycocotools ``frPyObjects``)."""
    width, height = size
    rle = mask_utils.frPyObjects([box], height, width)[0]
    counts = rle["counts"]
    return {
        "size": [height, width],
        "counts": counts.decode() if isinstance(counts, bytes) else counts,
    }


@dataclass
class CocoRun:
    """A finished ``COCOeval`` (``evaluate`` + ``accumulate`` + ``summarize``)."""

    iou_type: str
    cocoeval: Any
    image_ids: list[int]
    summary_text: str

    @property
    def stats(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(STAT_NAMES, self.cocoeval.stats, strict=True)}

    @property
    def category_ids(self) -> list[int]:
        return [int(c) for c in self.cocoeval.params.catIds]

    @property
    def recall_thresholds(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.cocoeval.params.recThrs, dtype=np.float64)

    def iou_index(self, threshold: float) -> int:
        thresholds = np.asarray(self.cocoeval.params.iouThrs)
        hits = np.flatnonzero(np.isclose(thresholds, threshold))
        if not len(hits):
            raise ValueError(f"IoU threshold {threshold} is not one of COCO's {thresholds}")
        return int(hits[0])

    def precision_curve(self, k: int, iou: float | None) -> npt.NDArray[np.float64]:
        """Precision at each recall threshold for category index ``k`` (area all, 100
        detections); at IoU ``iou``, or averaged over the IoU thresholds for None.
        -1 where undefined (no GT)."""
        precision = self.cocoeval.eval["precision"][:, :, k, 0, -1]
        if iou is not None:
            return np.asarray(precision[self.iou_index(iou)], dtype=np.float64)
        valid = precision > -1
        total = np.where(valid, precision, 0.0).sum(axis=0)
        count = valid.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), -1.0)

    def category_ap(self, k: int, iou: float | None = None) -> float:
        """AP of category index ``k`` as COCOeval's summarize computes it (mean of the
        defined precision values; -1 when the category has no GT)."""
        precision = self.cocoeval.eval["precision"][:, :, k, 0, -1]
        if iou is not None:
            precision = precision[self.iou_index(iou)]
        defined = precision[precision > -1]
        return float(defined.mean()) if defined.size else -1.0

    def category_ar(self, k: int) -> float:
        """AR@100 of category index ``k`` (area all); -1 without GT."""
        recall = self.cocoeval.eval["recall"][:, k, 0, -1]
        defined = recall[recall > -1]
        return float(defined.mean()) if defined.size else -1.0

    def match_counts(self, threshold: float) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        """``(by category id, by image id)`` -> ``[true positives, false positives,
        misses, gt]`` at IoU ``threshold``, area all, 100 detections (COCOeval's own
        matching; crowd and ignored objects count nowhere)."""
        t = self.iou_index(threshold)
        n_images, n_areas = len(self.image_ids), len(self.cocoeval.params.areaRng)
        n_thresholds = len(self.cocoeval.params.iouThrs)
        by_category = {c: [0, 0, 0, 0] for c in self.category_ids}
        by_image = {i: [0, 0, 0, 0] for i in self.image_ids}
        for k, cat_id in enumerate(self.category_ids):
            base = k * n_areas * n_images  # area index 0 ("all")
            for i, image_id in enumerate(self.image_ids):
                entry = self.cocoeval.evalImgs[base + i]
                if entry is None:
                    continue
                counts = _entry_counts(entry, t, n_thresholds)
                for target in (by_category[cat_id], by_image[image_id]):
                    for j in range(4):
                        target[j] += counts[j]
        return by_category, by_image


def _entry_counts(entry: dict[str, Any], t: int, n_t: int) -> tuple[int, int, int, int]:
    n_dt, n_gt = len(entry["dtIds"]), len(entry["gtIds"])
    dt_matched = np.asarray(entry["dtMatches"]).reshape(n_t, n_dt)[t] > 0
    dt_ignored = np.asarray(entry["dtIgnore"]).reshape(n_t, n_dt)[t].astype(bool)
    gt_matched = np.asarray(entry["gtMatches"]).reshape(n_t, n_gt)[t] > 0
    gt_ignored = np.asarray(entry["gtIgnore"], dtype=bool).reshape(n_gt)
    tp = int((dt_matched & ~dt_ignored).sum())
    fp = int((~dt_matched & ~dt_ignored).sum())
    misses = int((~gt_matched & ~gt_ignored).sum())
    return tp, fp, misses, int((~gt_ignored).sum())


def run_cocoeval(
    gt: GroundTruth, results: list[dict[str, Any]], iou_type: str, image_ids: Iterable[int]
) -> CocoRun:
    """Load ``results`` against ``gt`` and run COCOeval on ``image_ids`` (pycocotools'
    progress prints are captured into :attr:`CocoRun.summary_text`)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = sorted(image_ids)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        if results:
            detections = gt.coco.loadRes(results)
        else:  # loadRes cannot take an empty list
            detections = COCO()
            detections.dataset = {
                "images": list(gt.coco.dataset["images"]),
                "categories": copy.deepcopy(gt.coco.dataset["categories"]),
                "annotations": [],
            }
            detections.createIndex()
        cocoeval = COCOeval(gt.coco, detections, iou_type)
        cocoeval.params.imgIds = ids
        cocoeval.evaluate()
        cocoeval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        cocoeval.summarize()
    return CocoRun(iou_type, cocoeval, ids, summary.getvalue())
