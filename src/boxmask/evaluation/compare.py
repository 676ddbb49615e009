"""Two answer sets on the same ground truth, side by side (``boxmask eval --compare``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from boxmask.evaluation.answers import AnswerSet, AnswerSource, read_answers
from boxmask.evaluation.evaluator import GroundTruthSource, evaluate_answers
from boxmask.evaluation.groundtruth import GroundTruth, load_ground_truth
from boxmask.evaluation.labels import LabelMapSource, LabelMatcher
from boxmask.evaluation.metrics import STAT_NAMES
from boxmask.evaluation.report import EvalReport, IouResult

__all__ = ["CategoryDelta", "CompareReport", "compare"]


@dataclass(frozen=True)
class CategoryDelta:
    """One category in both runs; ``delta_*`` is B minus A (-1 AP values: no GT)."""

    name: str
    gt: int
    ap_a: float
    ap_b: float
    ap50_a: float
    ap50_b: float
    false_positives_a: int
    false_positives_b: int
    misses_a: int
    misses_b: int

    @property
    def delta_ap(self) -> float:
        return self.ap_b - self.ap_a

    @property
    def delta_ap50(self) -> float:
        return self.ap50_b - self.ap50_a


@dataclass(frozen=True)
class CompareReport:
    """Reports of A and B, and the per-category differences per IoU type (largest
    change first)."""

    a: EvalReport
    b: EvalReport
    categories: dict[str, list[CategoryDelta]]

    def metric_deltas(self, iou_type: str) -> dict[str, float]:
        """B minus A of every COCO metric for ``bbox`` or ``segm``."""
        a, b = _result(self.a, iou_type), _result(self.b, iou_type)
        if a is None or b is None:
            return {}
        return {name: b.metrics[name] - a.metrics[name] for name in STAT_NAMES}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": self.a.to_dict(), "b": self.b.to_dict()}
        for iou_type, rows in self.categories.items():
            out[iou_type] = {
                "metric_deltas": self.metric_deltas(iou_type),
                "per_category": [
                    asdict(r) | {"delta_ap": r.delta_ap, "delta_ap50": r.delta_ap50} for r in rows
                ],
            }
        return out


def _result(report: EvalReport, iou_type: str) -> IouResult | None:
    return report.bbox if iou_type == "bbox" else report.segm


def compare(
    ground_truth: GroundTruthSource,
    answers_a: AnswerSource | AnswerSet,
    answers_b: AnswerSource | AnswerSet,
    *,
    labels: LabelMapSource = None,
    iou_types: Sequence[str] = ("bbox", "segm"),
    only_answered: bool = False,
    iou_threshold: float = 0.5,
    worst: int = 20,
    workers: int = 1,
) -> CompareReport:
    """Evaluate A and B on the same GT images (all of them; with ``only_answered``, the
    images both answered) and line them up. segm is compared when both have it."""
    gt = ground_truth if isinstance(ground_truth, GroundTruth) else load_ground_truth(ground_truth)
    matcher = LabelMatcher(gt.categories, labels)
    sets = [
        s if isinstance(s, AnswerSet) else read_answers(s, gt, matcher, workers=workers)
        for s in (answers_a, answers_b)
    ]
    image_ids: Iterable[int] | None = None
    if only_answered:
        image_ids = set(sets[0].images) & set(sets[1].images)
    a, b = (
        evaluate_answers(
            gt,
            s,
            iou_types=iou_types,
            only_answered=only_answered,
            image_ids=image_ids,
            iou_threshold=iou_threshold,
            worst=worst,
            ambiguous=matcher.ambiguous,
        )
        for s in sets
    )
    categories: dict[str, list[CategoryDelta]] = {}
    for iou_type in ("bbox", "segm"):
        ra, rb = _result(a, iou_type), _result(b, iou_type)
        if ra is None or rb is None:
            continue
        rows = [
            CategoryDelta(
                name=x.name,
                gt=x.gt,
                ap_a=x.ap,
                ap_b=y.ap,
                ap50_a=x.ap50,
                ap50_b=y.ap50,
                false_positives_a=x.false_positives,
                false_positives_b=y.false_positives,
                misses_a=x.misses,
                misses_b=y.misses,
            )
            for x, y in zip(ra.categories, rb.categories, strict=True)
        ]
        rows.sort(key=lambda r: (-abs(r.delta_ap), r.name))
        categories[iou_type] = rows
    return CompareReport(a, b, categories)
