"""What an evaluation found, as typed records with ``to_dict()`` (the ``--json`` output).

Metric values are COCOeval's: fractions in [0, 1], -1 where a range has no ground truth
(e.g. ``AP_small`` without small objects). Counts at ``iou_threshold`` (0.5 unless asked)
use COCOeval's own matching (area all, 100 detections per image).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CategoryResult",
    "Confusion",
    "EvalReport",
    "ImageErrors",
    "IouResult",
    "Matching",
]


@dataclass(frozen=True)
class CategoryResult:
    """One GT category. ``gt``: non-crowd objects in the evaluated images;
    ``predictions``: predictions given this category; ``ap``/``ap50``/``ap75``/``ar100``
    as COCOeval; ``true_positives``/``false_positives``/``misses``, ``precision`` and
    ``recall`` at the report's IoU threshold; ``mislabelled``/``not_found`` split the
    misses (found under another label / by nothing), ``fp_on_other``/``fp_on_nothing``
    the false positives (on another category's object / on no object), from the
    class-agnostic matching."""

    category_id: int
    name: str
    gt: int
    predictions: int
    ap: float
    ap50: float
    ap75: float
    ar100: float
    true_positives: int
    false_positives: int
    misses: int
    precision: float
    recall: float
    mislabelled: int
    not_found: int
    fp_on_other: int
    fp_on_nothing: int
    #: Precision at each of COCOeval's 101 recall thresholds, IoU 0.50 and 0.75 (-1 = none).
    precision_at_50: list[float] = field(repr=False, default_factory=list)
    precision_at_75: list[float] = field(repr=False, default_factory=list)


@dataclass(frozen=True)
class Confusion:
    """``count`` GT objects of category ``gt`` found as ``predicted``; ``known`` tells
    whether ``predicted`` is a GT category (else a label no category matched: a
    candidate for ``--labels``)."""

    gt: str
    predicted: str
    count: int
    known: bool


@dataclass(frozen=True)
class ImageErrors:
    """Errors in one image at the IoU threshold (class-aware)."""

    image_id: int
    file_name: str
    gt: int
    predictions: int
    true_positives: int
    false_positives: int
    misses: int

    @property
    def errors(self) -> int:
        return self.false_positives + self.misses


@dataclass(frozen=True)
class IouResult:
    """Results for one IoU type (``bbox`` or ``segm``)."""

    iou_type: str
    metrics: dict[str, float]
    categories: list[CategoryResult]
    confusions: list[Confusion]
    worst_images: list[ImageErrors]
    iou_threshold: float
    summary_text: str = field(repr=False, default="")

    def category(self, name: str) -> CategoryResult:
        """The row of category ``name``; KeyError when there is none."""
        for row in self.categories:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.metrics)
        out["iou_threshold"] = self.iou_threshold
        out["per_category"] = [asdict(c) for c in self.categories]
        out["confusions"] = [asdict(c) for c in self.confusions]
        out["worst_images"] = [asdict(i) | {"errors": i.errors} for i in self.worst_images]
        out["recall_thresholds"] = [round(k / 100, 2) for k in range(101)]
        return out


@dataclass(frozen=True)
class Matching:
    """How answers met the ground truth; nothing left out is left unsaid.

    ``images_without_answers``/``answers_without_gt_image``/``unreadable`` list names
    (and reasons); ``unknown_labels``/``ignored_labels`` count predictions by label text.
    ``scores_given``/``scores_missing`` count evaluated-or-not predictions with and
    without a model score (missing scores are 1.0); ``masks_missing`` evaluated
    predictions without a mask (in segm their box rectangle is their mask).
    """

    answers: int
    images_answered: int
    images_evaluated: int
    only_answered: bool
    predictions: int
    evaluated_predictions: int
    images_without_answers: list[str]
    answers_without_gt_image: list[str]
    unreadable: list[dict[str, str]]
    unknown_labels: dict[str, int]
    ignored_labels: dict[str, int]
    point_only: int
    scores_given: int
    scores_missing: int
    masks_missing: int
    combined: int
    sized_from_gt: int
    problems: dict[str, int]

    @property
    def unmatched(self) -> int:
        """Things that did not match: missing answers, stray answers, unreadable
        answers and predictions with unknown labels (what ``--strict`` fails on)."""
        return (
            len(self.images_without_answers)
            + len(self.answers_without_gt_image)
            + len(self.unreadable)
            + sum(self.unknown_labels.values())
        )


@dataclass(frozen=True)
class EvalReport:
    """The whole evaluation of one answer set against one ground truth."""

    ground_truth: str
    answers: str
    answers_kind: str
    gt_images: int
    gt_annotations: int
    gt_categories: int
    bbox: IouResult
    segm: IouResult | None
    segm_skipped: str | None
    matching: Matching
    notes: list[str]
    plots: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[IouResult]:
        return [r for r in (self.bbox, self.segm) if r is not None]

    def to_dict(self) -> dict[str, Any]:
        """Every figure of the report, JSON-ready."""
        return {
            "ground_truth": {
                "path": self.ground_truth,
                "images": self.gt_images,
                "annotations": self.gt_annotations,
                "categories": self.gt_categories,
            },
            "answers": {"path": self.answers, "kind": self.answers_kind},
            "bbox": self.bbox.to_dict(),
            "segm": None if self.segm is None else self.segm.to_dict(),
            "segm_skipped": self.segm_skipped,
            "matching": asdict(self.matching) | {"unmatched": self.matching.unmatched},
            "notes": list(self.notes),
            "plots": list(self.plots),
        }
