"""Precision–recall plots, one PNG per category and IoU type (matplotlib, optional).

Curves are COCOeval's interpolated precision at its 101 recall thresholds (area all, 100
detections), at IoU 0.50 and 0.75; the legend gives the category's AP at each and the
0.50:0.95 AP. Files are ``pr_<iou type>_<category>.png``, written atomically.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from boxmask.evaluation.report import CategoryResult, EvalReport, IouResult
from boxmask.io import atomic_write_bytes

__all__ = ["PlotsUnavailable", "save_pr_plots"]


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed (``pip install 'boxmask[eval]'``)."""


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^\w.-]+", "_", name.strip(), flags=re.UNICODE).strip("._")
    return cleaned[:80] or "category"


def save_pr_plots(report: EvalReport, folder: str | os.PathLike[str]) -> list[Path]:
    """Write the plots of every category with ground truth; returns their paths.

    Raises :class:`PlotsUnavailable` when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(
            "precision-recall plots need matplotlib: pip install 'boxmask[eval]'"
        ) from None
    out: list[Path] = []
    used: set[str] = set()
    for result in report.results:
        for row in result.categories:
            if row.gt == 0:
                continue
            stem = f"pr_{result.iou_type}_{_safe(row.name)}"
            while stem in used:
                stem += f"_{row.category_id}"
            used.add(stem)
            path = Path(folder) / f"{stem}.png"
            atomic_write_bytes(path, _plot(Figure, result, row))
            out.append(path)
    return out


def _plot(figure_class: type, result: IouResult, row: CategoryResult) -> bytes:
    recall = [k / 100 for k in range(101)]
    fig = figure_class(figsize=(5.0, 4.0), dpi=100)
    ax = fig.add_subplot()
    for values, iou, ap, style in (
        (row.precision_at_50, "0.50", row.ap50, "-"),
        (row.precision_at_75, "0.75", row.ap75, "--"),
    ):
        points = [(r, p) for r, p in zip(recall, values, strict=True) if p >= 0]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, style, linewidth=2, label=f"IoU {iou}: AP {ap:.3f}")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(
        f"{row.name} ({result.iou_type}): AP {row.ap:.3f}, {row.gt} GT, "
        f"{row.predictions} predicted",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
