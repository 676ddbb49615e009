"""Answers to evaluate, matched to GT images: predictions per image, and what did not match.

Sources (:func:`read_answers`):

- a JSONL manifest or request journal (``{"image", "answer"|"response"}`` lines, read by
  :func:`boxmask.batch.jobs.jobs_from_manifest`);
- a folder of answers paired with images by name (:func:`boxmask.batch.jobs.jobs_from_dir`;
  an answer without an image file is matched to a GT ``file_name`` by name and parsed at
  the GT size);
- a COCO results file: a JSON list of ``{image_id, category_id, bbox | segmentation,
  score}``;
- a COCO dataset of predictions (e.g. ``boxmask convert --coco``), matched by file name;
- in Python also a list of :class:`~boxmask.batch.jobs.Job` or a mapping
  ``{file name: Detections}``.

Answers are parsed at the GT image's size; when the answer names an image file whose
upright size differs from the GT's, that is an :class:`EvalInputError` naming both sizes.
Several answers about one GT image are combined (as ``boxmask convert`` does). Boxes are
kept as COCO ``[x, y, w, h]`` pixels, masks as compressed RLE.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.batch.jobs import Job, ManifestError, jobs_from_dir, jobs_from_manifest
from boxmask.detections import Detections
from boxmask.errors import ExportError
from boxmask.evaluation.groundtruth import EvalInputError, GroundTruth
from boxmask.evaluation.labels import LabelMatcher
from boxmask.evaluation.parsing import ParsedAnswer

__all__ = ["AnswerSet", "AnswerSource", "ImagePredictions", "read_answers"]

AnswerSource = (
    str
    | os.PathLike[str]
    | Sequence[str | os.PathLike[str]]
    | Sequence[Job]
    | Sequence[dict[str, Any]]
    | Mapping[str, Detections]
)


@dataclass
class ImagePredictions:
    """The predictions for one GT image, aligned: ``boxes`` ``(N, 4)`` COCO ``[x, y, w,
    h]`` pixels, ``labels`` as the model wrote them, ``scores`` ``(N,)`` (1.0 where the
    model gave none), ``category_ids`` ``(N,)`` (0 unknown, -1 ignored), ``rles`` one
    compressed RLE or None per item (None for the whole list when no item had a mask)."""

    image_id: int
    boxes: npt.NDArray[np.float64]
    labels: list[str]
    scores: npt.NDArray[np.float64]
    category_ids: npt.NDArray[np.int64]
    rles: list[dict[str, Any] | None] | None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def without_mask(self) -> int:
        """Evaluable items (a GT category) without a mask: their box is their segm mask."""
        evaluable = self.category_ids > 0
        if self.rles is None:
            return int(evaluable.sum())
        return sum(1 for r, e in zip(self.rles, evaluable, strict=True) if e and r is None)

    def extend(self, other: ImagePredictions) -> None:
        """Append ``other``'s items (another answer about the same image)."""
        if self.rles is not None or other.rles is not None:
            self.rles = (self.rles or [None] * len(self)) + (other.rles or [None] * len(other))
        self.boxes = np.concatenate([self.boxes, other.boxes])
        self.labels = self.labels + other.labels
        self.scores = np.concatenate([self.scores, other.scores])
        self.category_ids = np.concatenate([self.category_ids, other.category_ids])


@dataclass
class AnswerSet:
    """Predictions by GT image id, plus everything that could not be used as given."""

    source: str
    kind: str
    images: dict[int, ImagePredictions] = field(default_factory=dict)
    answers: int = 0
    #: Answer sources (file, manifest line, results entry) naming no GT image.
    without_gt_image: list[str] = field(default_factory=list)
    #: ``(source, reason)`` of answers that could not be read or parsed (no predictions).
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    unknown_labels: Counter[str] = field(default_factory=Counter)
    ignored_labels: Counter[str] = field(default_factory=Counter)
    point_only: int = 0
    scores_given: int = 0
    scores_missing: int = 0
    #: GT images that got more than one answer (their predictions were combined).
    combined: int = 0
    #: Answers parsed at the GT size because no image file was given or found.
    sized_from_gt: int = 0
    #: Parse problems by kind (every dropped or degraded item of every answer).
    problems: Counter[str] = field(default_factory=Counter)

    @property
    def predictions(self) -> int:
        return sum(len(p) for p in self.images.values())

    @property
    def has_masks(self) -> bool:
        return any(p.rles is not None for p in self.images.values())

    def merge(self, other: AnswerSet) -> None:
        """Take in ``other``'s answers (another file of the same answer set)."""
        self.source = f"{self.source} + {other.source}"
        if other.kind != self.kind:
            self.kind = "mixed"
        for predictions in other.images.values():
            self.add(predictions)
        self.answers += other.answers
        self.without_gt_image += other.without_gt_image
        self.unreadable += other.unreadable
        self.unknown_labels.update(other.unknown_labels)
        self.ignored_labels.update(other.ignored_labels)
        self.problems.update(other.problems)
        for name in ("point_only", "scores_given", "scores_missing"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.combined += other.combined
        self.sized_from_gt += other.sized_from_gt

    def add(self, predictions: ImagePredictions) -> None:
        known = self.images.get(predictions.image_id)
        if known is None:
            self.images[predictions.image_id] = predictions
        else:
            if len(known) or len(predictions):
                self.combined += 1
            known.extend(predictions)


def read_answers(
    source: AnswerSource,
    gt: GroundTruth,
    matcher: LabelMatcher,
    *,
    name: str | None = None,
    workers: int = 1,
) -> AnswerSet:
    """Read ``source`` (see the module doc) and match it to ``gt``. Answers are parsed
    on ``workers`` processes (default 1: inline; below 64 answers always inline).

    Raises :class:`EvalInputError` for a source that cannot be read at all, a size
    disagreement, or an empty answer set.
    """
    if isinstance(source, (str, os.PathLike)):
        answers = _read_path(Path(source), gt, matcher, workers)
    elif isinstance(source, Mapping):
        answers = AnswerSet(name or "detections", "detections")
        for file_name, detections in source.items():
            _add_detections(answers, gt, matcher, str(file_name), detections, str(file_name))
    else:
        items: list[Any] = list(source)
        paths = [Path(p) for p in items if isinstance(p, (str, os.PathLike))]
        jobs = [j for j in items if isinstance(j, Job)]
        if items and len(paths) == len(items):
            answers = _read_path(paths[0], gt, matcher, workers)
            for path in paths[1:]:
                answers.merge(_read_path(path, gt, matcher, workers))
        elif items and len(jobs) == len(items):
            answers = AnswerSet(name or "jobs", "jobs")
            _read_jobs(answers, jobs, gt, matcher, workers)
        else:
            answers = AnswerSet(name or "results", "results")
            _read_results(answers, items, gt, matcher)
    if name is not None:
        answers.source = name
    if not answers.answers:
        raise EvalInputError(f"no answers in {answers.source}: nothing to evaluate")
    return answers


def _read_path(path: Path, gt: GroundTruth, matcher: LabelMatcher, workers: int) -> AnswerSet:
    if path.is_dir():
        answers = AnswerSet(str(path), "folder")
        jobs, unpaired = jobs_from_dir(path)
        # An answer without an image file pairs with the GT image of its name, at its size.
        fixed = {a: i for a in unpaired if (i := gt.find_stem(a)) is not None}
        jobs += [Job(source=a, answer_path=a) for a in unpaired]
        _read_jobs(answers, jobs, gt, matcher, workers, fixed)
        return answers
    if not path.is_file():
        raise EvalInputError(f"answers {path} not found")
    data = _json_document(path)
    if isinstance(data, list):
        answers = AnswerSet(str(path), "results")
        _read_results(answers, data, gt, matcher)
    elif isinstance(data, dict) and "annotations" in data and "images" in data:
        answers = AnswerSet(str(path), "coco")
        _read_coco(answers, path, gt, matcher)
    else:
        answers = AnswerSet(str(path), "manifest")
        try:
            _read_jobs(answers, jobs_from_manifest(path), gt, matcher, workers)
        except ManifestError as exc:
            raise EvalInputError(f"answers {path}: {exc}") from None
    return answers


def _json_document(path: Path) -> Any:
    """The file as one JSON document, or None for JSONL (a manifest or journal)."""
    if path.suffix.lower() == ".jsonl":
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise EvalInputError(f"answers {path} are not UTF-8 text") from None
    except ValueError:
        return None


def _read_jobs(
    answers: AnswerSet,
    jobs: Iterable[Job],
    gt: GroundTruth,
    matcher: LabelMatcher,
    workers: int = 1,
    fixed_images: Mapping[str, int] | None = None,
) -> None:
    """Match each job to a GT image (``fixed_images``: by job source), parse the matched
    ones at the GT size (:func:`~boxmask.evaluation.parsing.parse_answers`), check the
    sizes of their image files."""
    from boxmask.evaluation.parsing import parse_answers

    matched: list[tuple[int, Job]] = []
    for job in jobs:
        answers.answers += 1
        if job.error is not None:  # an unusable manifest line: reported, the rest goes on
            answers.unreadable.append((job.source, job.error))
            continue
        image_id = (fixed_images or {}).get(job.source)
        if image_id is None:
            image_id = gt.find_image(job.image or job.file_name)
        if image_id is None and job.image is not None:
            image_id = gt.find_image(job.file_name)
        if image_id is None:
            answers.without_gt_image.append(job.source)
            continue
        if job.size is not None:
            _check_size(gt, image_id, job.size, job.source)
        matched.append((image_id, job))
    tasks = [(job, gt.size_of(image_id)) for image_id, job in matched]
    for (image_id, job), parsed in zip(matched, parse_answers(tasks, workers), strict=True):
        if parsed.image_size is not None:
            _check_size(gt, image_id, parsed.image_size, job.image or job.source)
        elif job.size is None:
            answers.sized_from_gt += 1
        if parsed.error is not None:
            answers.unreadable.append((job.source, parsed.error))
        _add_parsed(answers, matcher, image_id, parsed)


def _check_size(gt: GroundTruth, image_id: int, size: tuple[int, int], where: str) -> None:
    gt_size = gt.size_of(image_id)
    if tuple(size) == gt_size:
        return
    hint = " (width and height swapped: EXIF orientation?)" if tuple(size) == gt_size[::-1] else ""
    raise EvalInputError(
        f"image {gt.file_name(image_id)!r}: ground truth says {gt_size[0]}x{gt_size[1]}, "
        f"the answer's image {where} is {size[0]}x{size[1]}{hint}"
    )


def _add_detections(
    answers: AnswerSet,
    gt: GroundTruth,
    matcher: LabelMatcher,
    file_name: str,
    detections: Detections,
    source: str,
) -> None:
    from boxmask.evaluation.parsing import from_detections

    answers.answers += 1
    image_id = gt.find_image(file_name)
    if image_id is None:
        answers.without_gt_image.append(source)
        return
    _check_size(gt, image_id, (detections.width, detections.height), source)
    _add_parsed(answers, matcher, image_id, from_detections(detections, source))


def _add_parsed(
    answers: AnswerSet, matcher: LabelMatcher, image_id: int, parsed: ParsedAnswer
) -> None:
    """Count what the answer held and add its predictions (missing scores: 1.0)."""
    answers.problems.update(parsed.problems)
    answers.point_only += parsed.point_only
    missing = np.isnan(parsed.scores)
    answers.scores_missing += int(missing.sum())
    answers.scores_given += int(len(missing) - missing.sum())
    scores = np.where(missing, 1.0, parsed.scores)
    answers.add(
        _predictions(answers, matcher, image_id, parsed.boxes, parsed.labels, scores, parsed.rles)
    )


def _predictions(
    answers: AnswerSet,
    matcher: LabelMatcher,
    image_id: int,
    boxes: npt.NDArray[np.float64],
    labels: list[str],
    scores: npt.NDArray[np.float64],
    rles: list[dict[str, Any] | None] | None,
) -> ImagePredictions:
    category_ids = np.array([matcher.match(label) for label in labels], dtype=np.int64)
    for label, cat_id in zip(labels, category_ids, strict=True):
        if cat_id == 0:
            answers.unknown_labels[label] += 1
        elif cat_id < 0:
            answers.ignored_labels[label] += 1
    return ImagePredictions(image_id, boxes, labels, scores, category_ids, rles)


def _read_coco(answers: AnswerSet, path: Path, gt: GroundTruth, matcher: LabelMatcher) -> None:
    from boxmask.export.coco import CocoDataset

    try:
        for file_name, detections in CocoDataset.load(path).iter_detections():
            _add_detections(answers, gt, matcher, file_name, detections, f"{path.name}:{file_name}")
    except ExportError as exc:
        raise EvalInputError(f"answers {path}: {exc}") from None


def _read_results(
    answers: AnswerSet, items: list[Any], gt: GroundTruth, matcher: LabelMatcher
) -> None:
    """COCO results entries: ``image_id`` and ``category_id`` are GT ids already."""
    from boxmask.evaluation.results import ResultEntry, read_result

    by_image: dict[int, list[ResultEntry]] = {}
    for k, item in enumerate(items):
        answers.answers += 1
        entry = read_result(item, gt, f"{PurePath(answers.source).name}[{k}]")
        if entry.image_id is None:
            answers.without_gt_image.append(entry.where)
            continue
        by_image.setdefault(entry.image_id, []).append(entry)
    for image_id, rows in by_image.items():
        boxes = np.array([r.box for r in rows], dtype=np.float64).reshape(-1, 4)
        given = np.array([np.nan if r.score is None else r.score for r in rows])
        missing = np.isnan(given)
        answers.scores_missing += int(missing.sum())
        answers.scores_given += int(len(rows) - missing.sum())
        masks = [r.rle for r in rows]
        rles = masks if any(m is not None for m in masks) else None
        category_ids = np.array([r.category_id for r in rows], dtype=np.int64)
        labels = [r.label for r in rows]
        answers.unknown_labels.update(r.label for r in rows if r.category_id == 0)
        scores = np.where(missing, 1.0, given)
        answers.add(ImagePredictions(image_id, boxes, labels, scores, category_ids, rles))
