"""One sentence per thing the evaluation left out, degraded or assumed (never silent)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from boxmask.evaluation.answers import AnswerSet
from boxmask.evaluation.groundtruth import GroundTruth
from boxmask.evaluation.report import Matching

__all__ = ["matching_notes"]

LISTED = 5


def _examples(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f", … ({len(names) - LISTED} more)" if len(names) > LISTED else "")


def _counted(counts: Mapping[str, int]) -> str:
    return _examples([f"{label!r} ×{n}" for label, n in counts.items()])


def score_note(matching: Matching) -> str:
    """How the predictions were ranked."""
    given, missing = matching.scores_given, matching.scores_missing
    if not missing:
        return f"scores: the model's confidence, given for all {given} predictions"
    if not given:
        return (
            f"scores: the answers carry no confidence/score: all {missing} predictions scored "
            "1.0 (ties keep answer order), so AP measures the labels, not a ranking"
        )
    return (
        f"scores: {given} predictions had the model's confidence, {missing} had none and scored 1.0"
    )


def matching_notes(
    gt: GroundTruth,
    answers: AnswerSet,
    matching: Matching,
    segm_ran: bool,
    ambiguous: Sequence[str] = (),
) -> list[str]:
    """The notes of a report, most consequential first."""
    notes = [score_note(matching)]
    missing = matching.images_without_answers
    if missing:
        objects = sum(
            len(gt.coco.imgToAnns.get(i, [])) for i in gt.images if i not in answers.images
        )
        if matching.only_answered:
            notes.append(f"{len(missing)} GT images have no answer: not evaluated (only answered)")
        elif matching.images_evaluated == len(gt.images):
            notes.append(
                f"{len(missing)} GT images have no answer: their {objects} objects count as "
                f"misses (--only-answered leaves them out): {_examples(missing)}"
            )
    if matching.answers_without_gt_image:
        stray = matching.answers_without_gt_image
        notes.append(f"{len(stray)} answers name no GT image, not evaluated: {_examples(stray)}")
    if matching.unreadable:
        shown = [f"{u['source']} ({u['reason']})" for u in matching.unreadable]
        notes.append(
            f"{len(shown)} answers could not be read: their images count as answered with no "
            f"predictions: {_examples(shown)}"
        )
    if matching.unknown_labels:
        n = sum(matching.unknown_labels.values())
        notes.append(
            f"{n} predictions have labels matching no GT category, not evaluated (map them "
            f"with --labels): {_counted(matching.unknown_labels)}"
        )
    if matching.ignored_labels:
        n = sum(matching.ignored_labels.values())
        notes.append(
            f"{n} predictions ignored by the label map: {_counted(matching.ignored_labels)}"
        )
    if matching.point_only:
        notes.append(f"{matching.point_only} point-only items have no box: not evaluated")
    if segm_ran and matching.masks_missing:
        notes.append(
            f"{matching.masks_missing} predictions had no mask: their box is their segm mask"
        )
    if matching.combined:
        notes.append(f"{matching.combined} GT images got several answers: predictions combined")
    if matching.sized_from_gt:
        notes.append(
            f"{matching.sized_from_gt} answers had no image file to check: parsed at the GT size"
        )
    if matching.problems:
        notes.append(
            "parse problems (items dropped or repaired; boxmask parse shows them): "
            + _counted(matching.problems)
        )
    notes.extend(gt.notes)
    if ambiguous:
        notes.append(
            "GT category names differing only in case match exact labels only: "
            + _examples(list(ambiguous))
        )
    return notes
