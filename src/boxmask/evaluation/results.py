"""One entry of a COCO results file, checked against the ground truth.

An entry is ``{"image_id", "category_id", "bbox": [x, y, w, h] | "segmentation", "score"}``
(what ``COCO.loadRes`` reads). Segmentations may be compressed RLE, uncompressed RLE
(``counts`` a list) or polygons; all become compressed RLE at the GT image size (polygons
rasterized by pycocotools). Without ``bbox`` the box is the mask's (``toBbox``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from boxmask.evaluation.groundtruth import EvalInputError, GroundTruth

__all__ = ["ResultEntry", "read_result"]


@dataclass(frozen=True)
class ResultEntry:
    """A checked entry. ``image_id`` None: not a GT image; ``category_id`` 0: unknown."""

    where: str
    image_id: int | None
    category_id: int
    label: str
    box: tuple[float, float, float, float]
    score: float | None
    rle: dict[str, Any] | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def read_result(item: Any, gt: GroundTruth, where: str) -> ResultEntry:
    """Check ``item``; raises :class:`EvalInputError` for an entry that is not a result."""
    if not isinstance(item, dict) or "image_id" not in item or "category_id" not in item:
        raise EvalInputError(
            f"{where}: a COCO results entry needs image_id, category_id and bbox or segmentation"
        )
    image_id, category_id = item["image_id"], item["category_id"]
    if not isinstance(image_id, int) or image_id not in gt.images:
        return ResultEntry(
            f"{where}: image_id {image_id!r}", None, 0, "", (0.0, 0.0, 0.0, 0.0), None, None
        )
    known = isinstance(category_id, int) and category_id in gt.categories
    label = gt.categories[category_id] if known else f"category_id {category_id!r}"
    score = None
    if "score" in item:
        score = _number(item["score"])
        if score is None:
            raise EvalInputError(f"{where}: score must be a finite number, got {item['score']!r}")
    rle = None
    if item.get("segmentation"):
        rle = _rle(item["segmentation"], gt.size_of(image_id), where)
    box = _box(item, rle, where)
    return ResultEntry(where, image_id, category_id if known else 0, label, box, score, rle)


def _box(
    item: dict[str, Any], rle: dict[str, Any] | None, where: str
) -> tuple[float, float, float, float]:
    bbox = item.get("bbox")
    if bbox is not None and bbox != []:
        values = [_number(v) for v in bbox] if isinstance(bbox, list) else []
        if len(values) != 4 or any(v is None for v in values):
            raise EvalInputError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {bbox!r}")
        x, y, w, h = (float(v) for v in values if v is not None)
        return x, y, w, h
    if rle is None:
        raise EvalInputError(f"{where}: needs a bbox or a segmentation")
    from pycocotools import mask as mask_utils

    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return x, y, w, h


def _rle(segmentation: Any, size: tuple[int, int], where: str) -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    width, height = size
    if isinstance(segmentation, dict):
        declared = segmentation.get("size")
        if not isinstance(declared, list) or declared != [height, width]:
            shown = (
                f"{declared[1]}x{declared[0]}"
                if isinstance(declared, list) and len(declared) == 2
                else "unsized"
            )
            raise EvalInputError(
                f"{where}: the mask is {shown} pixels, the GT image {width}x{height}"
            )
        if isinstance(segmentation.get("counts"), str):
            return {"size": [height, width], "counts": segmentation["counts"]}
    try:
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles) if isinstance(rles, list) else rles
    except (TypeError, ValueError, KeyError, IndexError):
        raise EvalInputError(f"{where}: a segmentation pycocotools cannot read") from None
    counts = rle["counts"]
    return {
        "size": [height, width],
        "counts": counts.decode() if isinstance(counts, bytes) else counts,
    }
