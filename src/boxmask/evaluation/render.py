"""Plain-text views of reports, for the terminal (``boxmask eval`` without ``--json``)."""

from __future__ import annotations

from collections.abc import Sequence

from boxmask.evaluation.compare import CompareReport
from boxmask.evaluation.metrics import STAT_NAMES
from boxmask.evaluation.report import EvalReport, IouResult
from boxmask.terminal import format_table

__all__ = ["format_comparison", "format_report"]

SHOWN_IMAGES = 10
SHOWN_CONFUSIONS = 15


def _metric(value: float) -> str:
    return "-" if value < 0 else f"{value:.3f}"


def _metrics_table(results: Sequence[tuple[str, IouResult]]) -> str:
    headers = ["metric", *(name for name, _ in results)]
    rows = [[m, *(_metric(r.metrics[m]) for _, r in results)] for m in STAT_NAMES]
    return format_table(headers, rows)


def _categories_table(result: IouResult) -> str:
    t = f"{result.iou_threshold:.2f}"
    headers = [
        "category",
        "GT",
        "pred",
        "AP",
        "AP50",
        "AP75",
        f"TP@{t}",
        "FP",
        "miss",
        "mislabelled",
        "not found",
        "FP on other",
        "FP on nothing",
    ]
    ordered = sorted(result.categories, key=lambda c: (c.ap if c.gt else 2.0, c.name))
    rows = [
        [
            c.name,
            c.gt,
            c.predictions,
            _metric(c.ap),
            _metric(c.ap50),
            _metric(c.ap75),
            c.true_positives,
            c.false_positives,
            c.misses,
            c.mislabelled,
            c.not_found,
            c.fp_on_other,
            c.fp_on_nothing,
        ]
        for c in ordered
    ]
    return format_table(headers, rows)


def _errors(result: IouResult) -> list[str]:
    lines: list[str] = []
    if result.confusions:
        lines.append(
            f"\nlabel confusions ({result.iou_type}, class-agnostic IoU >= "
            f"{result.iou_threshold:.2f}; GT -> predicted):"
        )
        rows = [
            [c.gt, c.predicted + ("" if c.known else "  (no such category)"), c.count]
            for c in result.confusions[:SHOWN_CONFUSIONS]
        ]
        lines.append(format_table(["GT", "predicted as", "count"], rows))
    if result.worst_images:
        lines.append(f"\nworst images ({result.iou_type}, false positives + misses):")
        rows = [
            [i.file_name, i.gt, i.predictions, i.true_positives, i.false_positives, i.misses]
            for i in result.worst_images[:SHOWN_IMAGES]
        ]
        lines.append(format_table(["image", "GT", "pred", "TP", "FP", "miss"], rows))
    return lines


def format_report(report: EvalReport) -> str:
    """The report as text: metrics, per-category table, errors, notes."""
    m = report.matching
    lines = [
        f"ground truth: {report.ground_truth} ({report.gt_images} images, "
        f"{report.gt_annotations} objects, {report.gt_categories} categories)",
        f"answers: {report.answers} ({report.answers_kind}: {m.answers} answers, "
        f"{m.images_answered} images answered, {m.evaluated_predictions} of {m.predictions} "
        f"predictions evaluated on {m.images_evaluated} images)",
        "",
        _metrics_table([(r.iou_type, r) for r in report.results]),
    ]
    if report.segm_skipped:
        lines.append(f"segm: not evaluated: {report.segm_skipped}")
    for result in report.results:
        lines.append(f"\nper category ({result.iou_type}, worst AP first):")
        lines.append(_categories_table(result))
        lines.extend(_errors(result))
    if report.notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)


def format_comparison(comparison: CompareReport, name_a: str = "A", name_b: str = "B") -> str:
    """A and B side by side: metrics, per-category AP with B - A, and each one's notes."""
    a, b = comparison.a, comparison.b
    lines = [
        f"ground truth: {a.ground_truth} ({a.gt_images} images, {a.gt_annotations} objects)",
        f"A: {a.answers} ({a.matching.evaluated_predictions} predictions evaluated)",
        f"B: {b.answers} ({b.matching.evaluated_predictions} predictions evaluated)",
    ]
    if a.matching.images_evaluated != a.gt_images:
        lines.append(f"evaluated on the {a.matching.images_evaluated} images both answered")
    for iou_type, rows in comparison.categories.items():
        ra = a.bbox if iou_type == "bbox" else a.segm
        rb = b.bbox if iou_type == "bbox" else b.segm
        assert ra is not None and rb is not None
        deltas = comparison.metric_deltas(iou_type)
        table = [
            [m, _metric(ra.metrics[m]), _metric(rb.metrics[m]), f"{deltas[m]:+.3f}"]
            for m in STAT_NAMES
        ]
        lines.append(f"\n{iou_type}:")
        lines.append(format_table(["metric", name_a, name_b, "B - A"], table))
        per = [
            [
                r.name,
                r.gt,
                _metric(r.ap_a),
                _metric(r.ap_b),
                f"{r.delta_ap:+.3f}",
                r.false_positives_a,
                r.false_positives_b,
                r.misses_a,
                r.misses_b,
            ]
            for r in rows
        ]
        headers = ["category", "GT", "AP A", "AP B", "B - A", "FP A", "FP B", "miss A", "miss B"]
        lines.append(f"\nper category ({iou_type}, largest change first):")
        lines.append(format_table(headers, per))
    for label, report in (("A", a), ("B", b)):
        if report.segm_skipped:
            lines.append(f"{label} segm: not evaluated: {report.segm_skipped}")
        lines.extend(f"{label} note: {n}" for n in report.notes)
    return "\n".join(lines)
