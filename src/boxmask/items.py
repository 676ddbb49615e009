"""Reading an answer's items one by one, then converting them all at once.

:class:`ItemReader` checks each raw item (every field through :mod:`boxmask.fields`),
keeps what is usable in model order and units, and names everything else in a
:class:`~boxmask.Problem`. :meth:`ItemReader.finish` picks the coordinate scale,
converts to pixels (vectorized), decodes the masks and builds the
:class:`~boxmask.Detections`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.answer import BadItem
from boxmask.boxes import boxes_yxyx_1000_to_xyxy, points_yx_1000_to_xy
from boxmask.coords import Scale, guess_scale
from boxmask.detections import AnswerInfo, Detections
from boxmask.fields import (
    LABEL_KEYS,
    SHOW,
    mask_object_payload,
    number,
    numbers,
    pair,
    point_list,
    polygon_rings,
)
from boxmask.masks.decode import MaskOptions, decode_masks
from boxmask.masks.store import Masks
from boxmask.polygon_order import check_polygon_order
from boxmask.problems import Problem, ProblemKind

__all__ = ["ItemReader", "box_checks", "problem_order"]

_SCORE_KEYS = ("confidence", "score")
_XYXY = [1, 0, 3, 2]
#: Box keys and their axis order: Gemini's ``box_2d`` is y first, Qwen's ``bbox_2d`` x first.
_BOX_KEYS = (("box_2d", (0, 1, 2, 3)), ("bbox_2d", (1, 0, 3, 2)))
_POINT_KEYS = (("point", (0, 1)), ("point_2d", (1, 0)))
_MASK_REF_KEYS = ("mask_id", "mask_key", "mask_index")
#: ``box_3d`` values: centre (x, y, z) and size (x, y, z) in metres, then roll, pitch,
#: yaw in degrees, camera frame (Gemini cookbook's 3D prompt).
BOX_3D_VALUES = 9


class ItemReader:
    """Collects validated items in model units, then converts them all at once."""

    def __init__(
        self, mask_map: dict[str, Any] | list[Any], problems: list[Problem], polygon_order: str
    ) -> None:
        self.mask_map = mask_map
        self.problems = problems
        self.polygon_order = polygon_order
        self.source: list[int] = []
        self.boxes: list[list[float]] = []  # yxyx in the answer's units, NaN row when absent
        self.box_given: list[bool] = []  # the box came from the item, not from its polygon
        self.points: list[list[float]] = []  # yx, NaN row when absent
        self.point_lists: list[npt.NDArray[np.float64] | None] = []  # (K, 2) yx
        self.boxes_3d: list[list[float] | None] = []
        self.labels: list[str] = []
        self.scores: list[float] = []
        self.masks: list[Any] = []  # str payload | list of x-first rings | None
        self.any_score = False
        self.any_mask = False
        self.qwen_keys = False
        self.unread: Counter[str] = Counter()

    def problem(self, index: int, kind: ProblemKind, message: str, dropped: bool = False) -> None:
        self.problems.append(Problem(index, kind, message, dropped))

    def add(self, index: int, item: Any) -> None:
        """Check one raw item; keep it (maybe degraded) or report it dropped."""
        if isinstance(item, BadItem):
            self.problem(index, ProblemKind.NOT_AN_OBJECT, item.reason, dropped=True)
            return
        if not isinstance(item, dict):
            self.problem(
                index,
                ProblemKind.NOT_AN_OBJECT,
                f"item is a {type(item).__name__}, not an object",
                dropped=True,
            )
            return
        used: set[Any] = set()
        box = self._box(index, item, used)
        point = self._point(index, item, used)
        plist = self._point_list(index, item, used)
        box_3d = self._box_3d(index, item, used)
        mask, polygon_box = self._mask(index, item, used)
        given = box is not None
        if box is None and polygon_box is not None:
            box = polygon_box
        if box is None and point is None and plist is None and box_3d is None:
            keys = ", ".join(sorted(map(str, item))[:6]) or "none"
            self.problem(
                index,
                ProblemKind.NO_GEOMETRY,
                f"item has no usable box_2d, point, points, box_3d or polygon mask (keys: {keys})",
                dropped=True,
            )
            return
        if isinstance(mask, str) and box is None:
            self.problem(index, ProblemKind.MASK_WITHOUT_BOX, "PNG mask has no box to be placed in")
            mask = None
        self.source.append(index)
        self.boxes.append(box if box is not None else [math.nan] * 4)
        self.box_given.append(given)
        self.points.append(point if point is not None else [math.nan] * 2)
        self.point_lists.append(plist)
        self.boxes_3d.append(box_3d)
        self.labels.append(self._label(index, item, used))
        self.scores.append(self._score(index, item, used))
        self.masks.append(mask)
        self.unread.update(str(k) for k in item if k not in used)

    # ------------------------------------------------------------- fields
    def _box(self, index: int, item: dict[str, Any], used: set[Any]) -> list[float] | None:
        for key, order in _BOX_KEYS:
            if key not in item:
                continue
            used.add(key)
            if item[key] is None:
                continue
            self.qwen_keys |= key == "bbox_2d"
            result = numbers(item[key], 4)
            if isinstance(result, str):
                self.problem(index, ProblemKind.BAD_BOX, f"{key}: {result}")
                continue
            values, coerced = result
            if coerced:
                self.problem(index, ProblemKind.BOX_COERCED, f"{key} held numbers as strings")
            return [values[i] for i in order]
        return None

    def _point(self, index: int, item: dict[str, Any], used: set[Any]) -> list[float] | None:
        for key, order in _POINT_KEYS:
            if key not in item:
                continue
            used.add(key)
            if item[key] is None:
                continue
            self.qwen_keys |= key == "point_2d"
            first, second = ("y", "x") if order == (0, 1) else ("x", "y")
            result = pair(item[key], first, second)
            if isinstance(result, str):
                self.problem(index, ProblemKind.BAD_POINT, f"{key}: {result}")
                continue
            values = [result[0][i] for i in order]
            return values
        return None

    def _point_list(
        self, index: int, item: dict[str, Any], used: set[Any]
    ) -> npt.NDArray[np.float64] | None:
        if item.get("points") is None:
            return None
        used.add("points")
        result = point_list(item["points"])
        if isinstance(result, str):
            self.problem(index, ProblemKind.BAD_POINT, f"points: {result}")
            return None
        return result

    def _box_3d(self, index: int, item: dict[str, Any], used: set[Any]) -> list[float] | None:
        if item.get("box_3d") is None:
            return None
        used.add("box_3d")
        result = numbers(item["box_3d"], BOX_3D_VALUES)
        if isinstance(result, str):
            self.problem(index, ProblemKind.BAD_BOX, f"box_3d: {result}")
            return None
        return result[0]

    def _label(self, index: int, item: dict[str, Any], used: set[Any]) -> str:
        label = item.get("label")
        if label is None:
            for key in LABEL_KEYS[1:]:
                if isinstance(item.get(key), str):
                    used.add(key)
                    return str(item[key])
            used.add("label")
            self.problem(index, ProblemKind.BAD_LABEL, 'item has no label; using ""')
            return ""
        used.add("label")
        if not isinstance(label, str):
            self.problem(
                index, ProblemKind.BAD_LABEL, f"label {SHOW.repr(label)} is not a string; converted"
            )
            return str(label) if isinstance(label, (int, float)) else SHOW.repr(label)
        return label

    def _score(self, index: int, item: dict[str, Any], used: set[Any]) -> float:
        for key in _SCORE_KEYS:
            if key not in item or item[key] is None:
                continue
            used.add(key)
            self.any_score = True
            num = number(item[key])
            if num is None:
                self.problem(
                    index, ProblemKind.BAD_SCORE, f"{key} {SHOW.repr(item[key])} is not a number"
                )
                return math.nan
            value = num[0]
            if 0.0 <= value <= 1.0:
                return value
            if 1.0 < value <= 100.0:
                self.problem(index, ProblemKind.BAD_SCORE, f"{key} {value} read as a percentage")
                return value / 100.0
            self.problem(index, ProblemKind.BAD_SCORE, f"{key} {value} is outside [0, 1]")
            return math.nan
        return math.nan

    def _mask_value(self, index: int, item: dict[str, Any], used: set[Any]) -> Any:
        """The item's mask with references resolved: a mask object's payload, or the entry
        of the answer's top-level ``masks`` map that the item names."""
        value = item.get("mask")
        used.add("mask")
        for key in _MASK_REF_KEYS:
            if value is None and item.get(key) is not None:
                used.add(key)
                value = item[key]
        if isinstance(value, dict):
            payload = mask_object_payload(value)
            if payload is None:
                return value
            value = payload
        if self.mask_map and isinstance(value, (str, int)) and not isinstance(value, bool):
            found = _lookup(self.mask_map, value)
            if found is not None:
                return mask_object_payload(found) if isinstance(found, dict) else found
        named = isinstance(value, (int, str)) and not isinstance(value, bool)
        if self.mask_map and named and len(str(value)) < 64:
            self.problem(
                index,
                ProblemKind.UNKNOWN_MASK,
                f"mask {SHOW.repr(value)} names no entry of the answer's top-level masks map "
                f"({len(self.mask_map)} entries)",
            )
            return None
        return value

    def _mask(self, index: int, item: dict[str, Any], used: set[Any]) -> tuple[Any, Any]:
        """Returns (mask payload or x-first polygon rings or None, box from a polygon)."""
        if not any(item.get(k) is not None for k in ("mask", *_MASK_REF_KEYS)):
            used.add("mask")
            return None, None
        self.any_mask = True
        value = self._mask_value(index, item, used)
        if value is None:
            return None, None
        if isinstance(value, str):
            if "<start_of_mask>" in value or "<seg_" in value:
                self.problem(
                    index,
                    ProblemKind.MASK_TOKENS,
                    "mask is <start_of_mask><seg_N> tokens, which cannot be decoded; "
                    "box and label kept",
                )
                return None, None
            if not value.strip():
                self.problem(index, ProblemKind.BAD_MASK, "mask string is empty")
                return None, None
            return value, None
        if isinstance(value, list):
            rings = polygon_rings(value)
            if isinstance(rings, str):
                self.problem(index, ProblemKind.BAD_MASK, rings)
                return None, None
            every = np.concatenate(rings)
            x0, y0 = every.min(axis=0)
            x1, y1 = every.max(axis=0)
            return rings, [float(y0), float(x0), float(y1), float(x1)]
        what = type(value).__name__
        if isinstance(value, dict):
            what = f"dict with keys {', '.join(sorted(map(str, value))[:6]) or 'none'}"
        self.problem(
            index,
            ProblemKind.UNKNOWN_MASK,
            f"mask of type {what} is not a PNG string, a polygon or a mask object",
        )
        return None, None

    # ------------------------------------------------------------- finish
    def _scale(self, scale: Scale | None, width: int, height: int) -> Scale:
        """The caller's scale, or the guessed one (reported)."""
        if scale is not None:
            return scale
        values = [np.abs(np.asarray(self.boxes, dtype=np.float64)).ravel()]
        values.append(np.abs(np.asarray(self.points, dtype=np.float64)).ravel())
        values += [np.abs(p).ravel() for p in self.point_lists if p is not None]
        values += [np.abs(r).ravel() for m in self.masks if isinstance(m, list) for r in m]
        every = np.concatenate(values) if values else np.zeros(0)
        every = every[np.isfinite(every)]
        largest = float(every.max()) if every.size else 0.0
        chosen, message = guess_scale(largest, self.qwen_keys, width, height)
        if message:
            self.problems.append(Problem(None, ProblemKind.COORDS_GUESSED, message))
        return chosen

    def _report_unread(self) -> None:
        if self.unread:
            names = ", ".join(
                f"{k!r} ({n} item{'s' if n > 1 else ''})" for k, n in self.unread.most_common(8)
            )
            self.problems.append(
                Problem(None, ProblemKind.UNREAD_FIELDS, f"item fields not read: {names}")
            )

    def _decode_masks(
        self,
        yxyx: npt.NDArray[np.float64],
        has_box: npt.NDArray[np.bool_],
        width: int,
        height: int,
        options: MaskOptions,
    ) -> Masks | None:
        """The answer's masks (None when no item carried one)."""
        if not self.any_mask:
            return None
        crops, probs = decode_masks(
            self.masks,
            yxyx,
            has_box,
            width,
            height,
            options,
            lambda r, kind, message: self.problem(self.source[r], kind, message),
        )
        keep = probs if options.keep_probabilities else None
        return Masks(crops, width, height, probabilities=keep)

    def finish(
        self, width: int, height: int, scale: Scale | None, options: MaskOptions, info: AnswerInfo
    ) -> Detections:
        """Convert every kept item to pixels and decode the masks."""
        n = len(self.source)
        used_scale = self._scale(scale, width, height)
        self._report_unread()
        sx, sy = used_scale.sx, used_scale.sy
        yxyx = np.array(self.boxes, dtype=np.float64).reshape(n, 4)
        points_yx = np.array(self.points, dtype=np.float64).reshape(n, 2)
        if not used_scale.identity:
            yxyx *= np.array([sy, sx, sy, sx])
            points_yx *= np.array([sy, sx])
            self.point_lists = [None if p is None else p * [sy, sx] for p in self.point_lists]
            self.masks = [
                [r * [sx, sy] for r in m] if isinstance(m, list) else m for m in self.masks
            ]
        self.masks = check_polygon_order(
            self.masks, yxyx, self.box_given, self.source, self.polygon_order, self.problems
        )
        points = points_yx_1000_to_xy(points_yx, width, height)
        points[~np.isfinite(points_yx).all(axis=1)] = np.nan
        for r in np.flatnonzero(((points_yx < 0) | (points_yx > 1000)).any(axis=1)):
            self.problem(
                self.source[r], ProblemKind.BOX_CLAMPED, "point outside 0-1000 was clamped"
            )
        has_box: npt.NDArray[np.bool_] = np.asarray(np.isfinite(yxyx).all(axis=1), dtype=np.bool_)
        keep = np.ones(n, dtype=np.bool_)
        boxes = np.zeros((n, 4), dtype=np.float64)
        if has_box.any():
            rows = np.flatnonzero(has_box)
            boxes[rows], keep[rows], empty = box_checks(
                yxyx[rows],
                points[rows],
                width,
                height,
                [self.source[r] for r in rows],
                self.problems,
            )
            has_box[rows[empty]] = False
        point_sets = [
            None if p is None else points_yx_1000_to_xy(p, width, height) for p in self.point_lists
        ]
        _place_unboxed(boxes, has_box, points, point_sets)
        masks = self._decode_masks(yxyx, has_box, width, height, options)
        rows = np.flatnonzero(keep)
        any_3d = any(b is not None for b in self.boxes_3d)
        return Detections(
            boxes[rows],
            [self.labels[r] for r in rows],
            width=width,
            height=height,
            scores=np.array(self.scores, dtype=np.float64)[rows] if self.any_score else None,
            points=points[rows] if np.isfinite(points).any() else None,
            masks=None if masks is None else masks[rows],
            problems=sorted(self.problems, key=problem_order),
            source_index=np.array(self.source, dtype=np.int64)[rows],
            has_box=has_box[rows],
            answer=info,
            boxes_3d=_boxes_3d([self.boxes_3d[r] for r in rows]) if any_3d else None,
            point_lists=(
                [point_sets[r] for r in rows] if any(p is not None for p in point_sets) else None
            ),
        )


def _place_unboxed(
    boxes: npt.NDArray[np.float64],
    has_box: npt.NDArray[np.bool_],
    points: npt.NDArray[np.float64],
    point_sets: list[npt.NDArray[np.float64] | None],
) -> None:
    """Boxes for items without one: a zero-size box at the point, or the bounds of the
    item's points list (``has_box`` stays False); 3D-only items keep a zero box."""
    for r in np.flatnonzero(~has_box):
        if np.isfinite(points[r]).all():
            boxes[r] = [*points[r], *points[r]]
        elif (point_set := point_sets[r]) is not None:
            boxes[r] = [*point_set.min(axis=0), *point_set.max(axis=0)]


def _boxes_3d(rows: list[list[float] | None]) -> npt.NDArray[np.float64]:
    out = np.full((len(rows), BOX_3D_VALUES), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out


def _lookup(mask_map: dict[str, Any] | list[Any], key: str | int) -> Any:
    if isinstance(mask_map, dict):
        return mask_map.get(str(key))
    if isinstance(key, int) and 0 <= key < len(mask_map):
        return mask_map[key]
    return None


def box_checks(
    yxyx: npt.NDArray[np.float64],
    points: npt.NDArray[np.float64] | None,
    width: int,
    height: int,
    source: Sequence[int],
    problems: list[Problem],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Pixel boxes for finite 0–1000 ``yxyx`` rows, which rows to keep and which are
    empty, reporting boxes clamped, swapped or empty (an empty box whose row has a pixel
    point in ``points`` keeps the item as a point)."""
    keep = np.ones(len(yxyx), dtype=np.bool_)
    # The common case in a few array operations: every box inside 0-1000 with its
    # corners in order needs neither sorting nor clamping (v / 1000 * size <= size).
    if len(yxyx) and yxyx.min() >= 0 and yxyx.max() <= 1000:
        boxes = yxyx[:, _XYXY] / 1000.0 * np.array([width, height, width, height], np.float64)
        if (boxes[:, 2:] - boxes[:, :2]).min() > 0:
            return boxes, keep, np.zeros(len(yxyx), dtype=np.bool_)
    boxes = boxes_yxyx_1000_to_xyxy(yxyx, width, height)
    out_of_range = ((yxyx < 0) | (yxyx > 1000)).any(axis=1)
    swapped = (yxyx[:, 0] > yxyx[:, 2]) | (yxyx[:, 1] > yxyx[:, 3])
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if not (out_of_range.any() or swapped.any() or empty.any()):
        return boxes, keep, empty
    for r in np.flatnonzero(out_of_range).tolist():
        message = f"box_2d {_fmt(yxyx[r])} leaves 0-1000; clamped to the image"
        problems.append(Problem(source[r], ProblemKind.BOX_CLAMPED, message))
    for r in np.flatnonzero(swapped).tolist():
        message = f"box_2d {_fmt(yxyx[r])} has min > max; corners sorted"
        problems.append(Problem(source[r], ProblemKind.BOX_SWAPPED, message))
    for r in np.flatnonzero(empty).tolist():
        has_point = points is not None and bool(np.isfinite(points[r]).all())
        message = f"box_2d {_fmt(yxyx[r])} has no area inside the image" + (
            "; kept as a point" if has_point else ""
        )
        problems.append(Problem(source[r], ProblemKind.EMPTY_BOX, message, not has_point))
        keep[r] = has_point
    return boxes, keep, empty


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def problem_order(problem: Problem) -> int:
    """Answer-level problems first, then by item index (a stable sort keeps the rest)."""
    return -1 if problem.index is None else problem.index
