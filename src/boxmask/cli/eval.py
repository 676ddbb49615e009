"""``boxmask eval``: COCO metrics and error analysis of answers against ground truth."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_UNMATCHED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="measure answers against COCO ground truth (AP, errors, confusions)",
        description=(
            "Evaluate model answers against a COCO ground truth: COCO bbox (and segm, when "
            "both sides have masks) metrics by pycocotools' COCOeval, a per-category table, "
            "false positives and misses, label confusions and the worst images. ANSWERS is a "
            "JSONL manifest or request journal, a folder of answers paired with images by "
            "name, a COCO results file, or a COCO dataset of predictions; several are "
            "combined. Images match by GT file_name (or basename); labels exactly, "
            "case-insensitively or through --labels. Exit codes: 0 done, 1 something did "
            "not match with --strict, 2 usage error or bad input."
        ),
    )
    p.add_argument("gt", type=Path, help="COCO instances JSON (the ground truth)")
    p.add_argument("answers", nargs="+", help="manifest/journal, folder, or COCO results file")
    p.add_argument("--json", action="store_true", help="print every figure as JSON")
    p.add_argument(
        "--labels",
        type=Path,
        help='synonym map JSON: {"mug": "cup"}, {"cup": ["mug", "tumbler"]}, {"logo": null}',
    )
    p.add_argument(
        "--compare", nargs="+", metavar="ANSWERS_B", help="a second answer set, side by side"
    )
    p.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="precision-recall PNGs (DIR/A, DIR/B with --compare)",
    )
    p.add_argument(
        "--only-answered",
        action="store_true",
        help="evaluate only the GT images some answer names (default: all; missing = misses)",
    )
    p.add_argument(
        "--iou",
        type=float,
        default=0.5,
        help="IoU threshold of the error counts: 0.50, 0.55, ..., 0.95 (default 0.50)",
    )
    p.add_argument("--worst", type=int, default=20, help="worst images kept in the report (20)")
    p.add_argument(
        "--workers", type=int, default=None, help="processes parsing answers (default: CPUs)"
    )
    p.add_argument("--bbox-only", action="store_true", help="skip segm even when masks exist")
    p.add_argument("--strict", action="store_true", help="exit 1 when anything did not match")
    p.set_defaults(handler=run)


def _emit(text: str) -> None:
    """Print to stdout; a reader that went away (``| head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _usage(message: str) -> int:
    print(f"boxmask eval: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from boxmask.evaluation import EvalInputError

    if args.workers is not None and args.workers < 1:
        return _usage("--workers must be at least 1")
    if args.worst < 0:
        return _usage("--worst must be 0 or more")
    if args.iou not in {round(0.5 + 0.05 * k, 2) for k in range(10)}:
        return _usage(f"--iou must be one of 0.50, 0.55, ..., 0.95, got {args.iou}")
    try:
        return _run(args)
    except EvalInputError as exc:
        return _usage(str(exc))


def _run(args: argparse.Namespace) -> int:
    from boxmask.batch.run import default_workers
    from boxmask.evaluation import (
        PlotsUnavailable,
        compare,
        evaluate,
        load_ground_truth,
        save_pr_plots,
    )
    from boxmask.evaluation.answers import read_answers
    from boxmask.evaluation.labels import LabelMatcher
    from boxmask.evaluation.render import format_comparison, format_report

    gt = load_ground_truth(args.gt)
    options: dict[str, Any] = {
        "iou_types": ("bbox",) if args.bbox_only else ("bbox", "segm"),
        "only_answered": args.only_answered,
        "iou_threshold": args.iou,
        "worst": args.worst,
    }
    matcher = LabelMatcher(gt.categories, args.labels)
    workers = args.workers or default_workers()
    answers = read_answers(args.answers, gt, matcher, workers=workers)
    if args.compare:
        answers_b = read_answers(args.compare, gt, matcher, workers=workers)
        comparison = compare(gt, answers, answers_b, labels=args.labels, **options)
        reports = [comparison.a, comparison.b]
    else:
        comparison = None
        reports = [evaluate(gt, answers, labels=args.labels, **options)]
    plot_message = None
    if args.plots is not None:
        try:
            for tag, report in zip("AB", reports, strict=False):
                folder = args.plots / tag if comparison is not None else args.plots
                report.plots.extend(str(p) for p in save_pr_plots(report, folder))
        except PlotsUnavailable as exc:
            plot_message = f"boxmask eval: no plots: {exc}"
    if args.json:
        data = comparison.to_dict() if comparison is not None else reports[0].to_dict()
        _emit(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        text = format_comparison(comparison) if comparison else format_report(reports[0])
        written = sum(len(r.plots) for r in reports)
        if written:
            text += f"\nprecision-recall plots: {written} PNG(s) in {args.plots}"
        _emit(text)
    if plot_message:
        print(plot_message, file=sys.stderr)
    unmatched = sum(r.matching.unmatched for r in reports)
    return EXIT_UNMATCHED if (args.strict and unmatched) else EXIT_OK
