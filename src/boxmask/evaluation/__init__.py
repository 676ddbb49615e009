"""How good are the model's answers? COCO metrics and error analysis against ground truth.

Example (not run: it needs your files)::

    from boxmask.evaluation import evaluate
    report = evaluate("gt.json", "answers.jsonl", labels={"mug": "cup"})
    report.bbox.metrics["AP"], report.bbox.category("cup").misses
    report.to_dict()          # every figure, JSON-ready (``boxmask eval --json``)

Metrics come from pycocotools' ``COCOeval`` (``pip install 'boxmask[eval]'``); boxmask
reads the answers, matches images and labels to the ground truth, reports everything
that did not match, and analyses the errors (:mod:`boxmask.evaluation.analysis`).
"""

from __future__ import annotations

from boxmask.evaluation.answers import AnswerSet, ImagePredictions, read_answers
from boxmask.evaluation.compare import CategoryDelta, CompareReport, compare
from boxmask.evaluation.evaluator import evaluate, evaluate_answers
from boxmask.evaluation.groundtruth import EvalInputError, GroundTruth, load_ground_truth
from boxmask.evaluation.labels import LabelMatcher
from boxmask.evaluation.metrics import STAT_NAMES
from boxmask.evaluation.plots import PlotsUnavailable, save_pr_plots
from boxmask.evaluation.report import (
    CategoryResult,
    Confusion,
    EvalReport,
    ImageErrors,
    IouResult,
    Matching,
)

__all__ = [
    "STAT_NAMES",
    "AnswerSet",
    "CategoryDelta",
    "CategoryResult",
    "CompareReport",
    "Confusion",
    "EvalInputError",
    "EvalReport",
    "GroundTruth",
    "ImageErrors",
    "ImagePredictions",
    "IouResult",
    "LabelMatcher",
    "Matching",
    "PlotsUnavailable",
    "compare",
    "evaluate",
    "evaluate_answers",
    "load_ground_truth",
    "read_answers",
    "save_pr_plots",
]
