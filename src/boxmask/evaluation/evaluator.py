"""``evaluate(gt, answers) -> EvalReport``: the orchestration behind ``boxmask eval``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from boxmask.evaluation.analysis import ConfusionCounts, class_agnostic_confusions
from boxmask.evaluation.answers import AnswerSet, AnswerSource, read_answers
from boxmask.evaluation.groundtruth import EvalInputError, GroundTruth, load_ground_truth
from boxmask.evaluation.labels import LabelMapSource, LabelMatcher
from boxmask.evaluation.metrics import CocoRun, build_results, run_cocoeval
from boxmask.evaluation.notes import matching_notes
from boxmask.evaluation.report import (
    CategoryResult,
    Confusion,
    EvalReport,
    ImageErrors,
    IouResult,
    Matching,
)

__all__ = ["evaluate", "evaluate_answers"]

GroundTruthSource = GroundTruth | str | os.PathLike[str] | dict[str, Any]


def evaluate(
    ground_truth: GroundTruthSource,
    answers: AnswerSource | AnswerSet,
    *,
    labels: LabelMapSource = None,
    iou_types: Sequence[str] = ("bbox", "segm"),
    only_answered: bool = False,
    image_ids: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    worst: int = 20,
    name: str | None = None,
    workers: int = 1,
) -> EvalReport:
    """Evaluate model answers against COCO ground truth.

    ``ground_truth``: a COCO instances file, dict or :class:`GroundTruth`. ``answers``: a
    manifest/journal, a folder of answers + images, a COCO results file or predictions
    dataset (paths), a list of jobs or results entries, or ``{file name: Detections}``
    (see :mod:`boxmask.evaluation.answers`). ``labels``: synonym map (path or dict, see
    :mod:`boxmask.evaluation.labels`).

    Every GT image is evaluated (an image without an answer counts its objects as misses)
    unless ``only_answered`` (just the images some answer names) or ``image_ids``.
    ``segm`` runs when both the ground truth and the answers carry masks; otherwise
    :attr:`EvalReport.segm_skipped` says why. ``iou_threshold`` (one of COCO's 0.50, 0.55,
    …, 0.95) sets the error counts; ``worst`` how many images the worst list keeps;
    ``workers`` how many processes parse answers (default 1; the report does not depend
    on it; more than 1 needs the ``if __name__ == "__main__":`` guard in scripts).

    Raises :class:`EvalInputError` for bad ground truth, unreadable or empty answers,
    a size disagreement, or a bad label map.
    """
    gt = ground_truth if isinstance(ground_truth, GroundTruth) else load_ground_truth(ground_truth)
    matcher = LabelMatcher(gt.categories, labels)
    if isinstance(answers, AnswerSet):
        answer_set = answers
    else:
        answer_set = read_answers(answers, gt, matcher, name=name, workers=workers)
    return evaluate_answers(
        gt,
        answer_set,
        iou_types=iou_types,
        only_answered=only_answered,
        image_ids=image_ids,
        iou_threshold=iou_threshold,
        worst=worst,
        ambiguous=matcher.ambiguous,
    )


def evaluate_answers(
    gt: GroundTruth,
    answers: AnswerSet,
    *,
    iou_types: Sequence[str] = ("bbox", "segm"),
    only_answered: bool = False,
    image_ids: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    worst: int = 20,
    ambiguous: Sequence[str] = (),
) -> EvalReport:
    """:func:`evaluate` for answers already read and matched."""
    unknown_types = set(iou_types) - {"bbox", "segm"}
    if unknown_types or "bbox" not in iou_types:
        raise EvalInputError(f"iou_types must include 'bbox' and may add 'segm', got {iou_types}")
    if not answers.images:
        examples = ", ".join(answers.without_gt_image[:3])
        raise EvalInputError(
            f"none of the {answers.answers} answers in {answers.source} names a GT image "
            f"(by file_name or basename), e.g. {examples}"
        )
    if image_ids is not None:
        evaluated = {int(i) for i in image_ids} & set(gt.images)
    elif only_answered:
        evaluated = set(answers.images)
    else:
        evaluated = set(gt.images)
    bbox = _iou_result(gt, answers, "bbox", evaluated, iou_threshold, worst)
    segm, segm_skipped = None, None
    if "segm" in iou_types:
        if not gt.has_masks:
            segm_skipped = "the ground truth has no masks (segmentation) on every object"
        elif not answers.has_masks:
            segm_skipped = "the answers carry no masks"
        else:
            segm = _iou_result(gt, answers, "segm", evaluated, iou_threshold, worst)
    matching = _matching(gt, answers, evaluated, only_answered and image_ids is None)
    notes = matching_notes(gt, answers, matching, segm is not None, ambiguous)
    return EvalReport(
        ground_truth=gt.source,
        answers=answers.source,
        answers_kind=answers.kind,
        gt_images=len(gt.images),
        gt_annotations=gt.annotation_count,
        gt_categories=len(gt.categories),
        bbox=bbox,
        segm=segm,
        segm_skipped=segm_skipped,
        matching=matching,
        notes=notes,
    )


def _matching(
    gt: GroundTruth, answers: AnswerSet, evaluated: set[int], only_answered: bool
) -> Matching:
    evaluated_predictions = sum(
        int((p.category_ids > 0).sum()) for i, p in answers.images.items() if i in evaluated
    )
    return Matching(
        answers=answers.answers,
        images_answered=len(answers.images),
        images_evaluated=len(evaluated),
        only_answered=only_answered,
        predictions=answers.predictions,
        evaluated_predictions=evaluated_predictions,
        images_without_answers=[gt.file_name(i) for i in gt.images if i not in answers.images],
        answers_without_gt_image=list(answers.without_gt_image),
        unreadable=[{"source": s, "reason": r} for s, r in answers.unreadable],
        unknown_labels=dict(answers.unknown_labels.most_common()),
        ignored_labels=dict(answers.ignored_labels.most_common()),
        point_only=answers.point_only,
        scores_given=answers.scores_given,
        scores_missing=answers.scores_missing,
        masks_missing=sum(p.without_mask for i, p in answers.images.items() if i in evaluated),
        combined=answers.combined,
        sized_from_gt=answers.sized_from_gt,
        problems=dict(answers.problems.most_common()),
    )


def _iou_result(
    gt: GroundTruth,
    answers: AnswerSet,
    iou_type: str,
    evaluated: set[int],
    threshold: float,
    worst: int,
) -> IouResult:
    results = build_results(gt, answers.images.values(), iou_type, evaluated)
    run = run_cocoeval(gt, results, iou_type, evaluated)
    run.iou_index(threshold)  # a clear error for a threshold COCOeval does not use
    by_category, by_image = run.match_counts(threshold)
    confusions = class_agnostic_confusions(gt, answers.images, run.image_ids, iou_type, threshold)
    predicted = Counter(int(r["category_id"]) for r in results)
    categories = [
        _category_row(run, k, cat_id, gt, by_category[cat_id], predicted[cat_id], confusions)
        for k, cat_id in enumerate(run.category_ids)
    ]
    images = [
        ImageErrors(
            image_id=i,
            file_name=gt.file_name(i),
            gt=c[3],
            predictions=_image_predictions(answers, i),
            true_positives=c[0],
            false_positives=c[1],
            misses=c[2],
        )
        for i, c in by_image.items()
        if c[1] + c[2] > 0
    ]
    images.sort(key=lambda e: (-e.errors, -e.misses, e.file_name))
    pairs = [
        Confusion(gt.categories[cat_id], label, count, label in gt.categories.values())
        for (cat_id, label), count in confusions.pairs.most_common()
    ]
    return IouResult(
        iou_type=iou_type,
        metrics=run.stats,
        categories=categories,
        confusions=pairs,
        worst_images=images[: max(0, worst)],
        iou_threshold=threshold,
        summary_text=run.summary_text,
    )


def _image_predictions(answers: AnswerSet, image_id: int) -> int:
    image = answers.images.get(image_id)
    return 0 if image is None else int((image.category_ids > 0).sum())


def _category_row(
    run: CocoRun,
    k: int,
    cat_id: int,
    gt: GroundTruth,
    counts: list[int],
    predicted: int,
    confusions: ConfusionCounts,
) -> CategoryResult:
    tp, fp, misses, n_gt = counts
    return CategoryResult(
        category_id=cat_id,
        name=gt.categories[cat_id],
        gt=n_gt,
        predictions=predicted,
        ap=run.category_ap(k),
        ap50=run.category_ap(k, 0.5),
        ap75=run.category_ap(k, 0.75),
        ar100=run.category_ar(k),
        true_positives=tp,
        false_positives=fp,
        misses=misses,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / n_gt if n_gt else 0.0,
        mislabelled=confusions.mislabelled[cat_id],
        not_found=confusions.not_found[cat_id],
        fp_on_other=confusions.on_other[cat_id],
        fp_on_nothing=confusions.on_nothing[cat_id],
        precision_at_50=[round(float(v), 4) for v in run.precision_curve(k, 0.5)],
        precision_at_75=[round(float(v), 4) for v in run.precision_curve(k, 0.75)],
    )
