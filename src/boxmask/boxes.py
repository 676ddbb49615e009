"""Model space ⇄ pixel space. The only module that knows the model's axis order.

Model space: ``box_2d = [ymin, xmin, ymax, xmax]`` and ``point = [y, x]``, each value
normalized to 0–1000 over the whole image (y first!).

Pixel space (everything public in boxmask): ``x`` grows right, ``y`` grows down, pixel
column ``c`` covers ``[c, c + 1)`` and row ``r`` covers ``[r, r + 1)``. Boxes are
``[xmin, ymin, xmax, ymax]`` float64 edges; points are ``(x, y)`` float64.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "boxes_xyxy_to_yxyx_1000",
    "boxes_yxyx_1000_to_xyxy",
    "paste_boxes",
    "points_yx_1000_to_xy",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _sizes(width: int, height: int) -> FloatArray:
    return np.array([width, height, width, height], dtype=np.float64)


def boxes_yxyx_1000_to_xyxy(
    boxes_yxyx_1000: npt.ArrayLike, width: int, height: int, *, clamp: bool = True
) -> FloatArray:
    """Convert model boxes ``(N, 4) [ymin, xmin, ymax, xmax]`` in 0–1000 to pixel xyxy.

    ``x = v / 1000 · width`` and ``y = v / 1000 · height``; corners are sorted so that
    ``xmin <= xmax`` and ``ymin <= ymax``; with ``clamp`` the result is clipped to
    ``[0, width] × [0, height]``. Returns float64 ``(N, 4)``. Vectorized.
    """
    yxyx = np.asarray(boxes_yxyx_1000, dtype=np.float64).reshape(-1, 4)
    # Same operation order as the reference decode (v / 1000 * size): identical floats.
    # Values near the float limit overflow to ±inf, which the clamp below handles.
    with np.errstate(over="ignore"):
        xyxy = yxyx[:, [1, 0, 3, 2]] / 1000.0 * _sizes(width, height)
    lo = np.minimum(xyxy[:, :2], xyxy[:, 2:])
    hi = np.maximum(xyxy[:, :2], xyxy[:, 2:])
    out = np.concatenate([lo, hi], axis=1)
    if clamp:
        limits = np.array([width, height, width, height], dtype=np.float64)
        np.clip(out, 0.0, limits, out=out)
    return out


def boxes_xyxy_to_yxyx_1000(boxes_xyxy: npt.ArrayLike, width: int, height: int) -> FloatArray:
    """Inverse of :func:`boxes_yxyx_1000_to_xyxy` (no rounding): pixel xyxy → 0–1000 yxyx."""
    xyxy = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return (xyxy / _sizes(width, height) * 1000.0)[:, [1, 0, 3, 2]]


def points_yx_1000_to_xy(points_yx_1000: npt.ArrayLike, width: int, height: int) -> FloatArray:
    """Convert model points ``(N, 2) [y, x]`` in 0–1000 to pixel ``(x, y)`` float64, clamped."""
    yx = np.asarray(points_yx_1000, dtype=np.float64).reshape(-1, 2)
    with np.errstate(over="ignore"):
        xy = yx[:, ::-1] / 1000.0 * np.array([width, height], dtype=np.float64)
    np.clip(xy, 0.0, np.array([width, height], dtype=np.float64), out=xy)
    return xy


def paste_boxes(boxes_yxyx_1000: npt.ArrayLike, width: int, height: int) -> IntArray:
    """Integer paste boxes ``(N, 4) [x0, y0, x1, y1]`` for box-covering PNG masks.

    This is Google's reference convention: scale the *unclamped* corners to pixels and
    truncate toward zero (``int()`` in the cookbook; it differs from ``floor`` for a
    negative corner: -3.7 → -3). The mask PNG is resized to
    ``(x1 - x0) × (y1 - y0)`` pixels and covers columns ``x0 … x1 - 1`` and rows
    ``y0 … y1 - 1``. Parts outside the image are cropped by the caller.
    """
    sorted_xyxy = boxes_yxyx_1000_to_xyxy(boxes_yxyx_1000, width, height, clamp=False)
    # Bounded first: absurd boxes (1e300, inf) would not fit int64.
    return np.trunc(np.clip(sorted_xyxy, -(2.0**53), 2.0**53)).astype(np.int64)
