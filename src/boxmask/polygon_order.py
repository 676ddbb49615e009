"""Is a polygon mask x-first, as documented, or did the model send it y-first?

Gemini's polygon masks are ``[[x, y], ...]`` while its boxes are ``[ymin, xmin, ...]``;
a model (or a pipeline) that mixes the two up sends polygons that land entirely outside
their own ``box_2d``. :func:`check_polygon_order` compares each polygon's extent with
the item's box both ways and, per ``polygon_order``, keeps it, swaps it, or reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.problems import Problem, ProblemKind

__all__ = ["check_polygon_order"]

#: Overlap (IoU of the extents) under which a polygon "lies outside" its box, and over
#: which the other reading "fits" it.
_OUTSIDE, _FITS = 0.1, 0.5


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[y0, x0, y1, x1]`` extents (0 when either is empty)."""
    iy = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ix = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iy * ix
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_polygon_order(
    masks: list[Any],
    yxyx: npt.NDArray[np.float64],
    box_given: Sequence[bool],
    source: Sequence[int],
    order: str,
    problems: list[Problem],
) -> list[Any]:
    """``masks`` (per row: PNG text, x-first rings in 0–1000, or None) with polygons read
    in the right order. ``order``: "xy" keeps them, "yx" swaps them all, "auto" swaps
    those that lie outside their given box x-first and fit it y-first (reported), and
    reports those that fit neither way."""
    out = list(masks)
    for r, mask in enumerate(masks):
        if not isinstance(mask, list):
            continue
        if order == "yx":
            out[r] = [ring[:, ::-1] for ring in mask]
            continue
        if order == "xy" or not box_given[r] or not np.isfinite(yxyx[r]).all():
            continue
        every = np.concatenate(mask)
        (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
        lo, hi = np.minimum(yxyx[r, :2], yxyx[r, 2:]), np.maximum(yxyx[r, :2], yxyx[r, 2:])
        box = [*lo.tolist(), *hi.tolist()]
        as_xy = _iou([y0, x0, y1, x1], box)
        as_yx = _iou([x0, y0, x1, y1], box)
        if as_xy >= _OUTSIDE:
            continue
        if as_yx >= _FITS:
            out[r] = [ring[:, ::-1] for ring in mask]
            message = (
                f"polygon lies outside its box_2d read x-first (IoU {as_xy:.2f}) and inside "
                f"it read y-first (IoU {as_yx:.2f}): read as [y, x]; pass polygon_order='xy' "
                "to keep x-first"
            )
        else:
            message = (
                f"polygon lies outside its box_2d either way (IoU {as_xy:.2f} x-first, "
                f"{as_yx:.2f} y-first); kept x-first as documented"
            )
        problems.append(Problem(source[r], ProblemKind.POLYGON_ORDER, message))
    return out
