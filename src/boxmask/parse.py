"""``parse``: from a model answer to :class:`~boxmask.Detections` in pixels.

Orchestrates :mod:`boxmask.answer` (text → raw items), :mod:`boxmask.boxes`
(0–1000 → pixels, vectorized) and :mod:`boxmask.masks` (PNG and polygon masks →
crop-native :class:`~boxmask.Masks`). Item-level faults never raise: they become
:class:`~boxmask.Problem` records and the rest of the answer is kept.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.answer import BadItem, read_answer
from boxmask.boxes import boxes_yxyx_1000_to_xyxy, paste_boxes, points_yx_1000_to_xy
from boxmask.detections import Detections
from boxmask.masks.arena import take as take_arena
from boxmask.masks.png import (
    MAX_MASK_PIXELS,
    MaskDecodeError,
    decode_mask_payload,
    resize_threshold,
)
from boxmask.masks.polygon import rasterize_polygons
from boxmask.masks.store import Crop, Masks
from boxmask.problems import Problem, ProblemKind
from boxmask.threads import map_ordered

__all__ = ["parse"]

_LABEL_FALLBACKS = ("name", "class", "class_name", "category", "text")
#: Short, bounded reprs of model values in problem messages and converted labels: a
#: label nested 5,000 levels deep or a 10 MB "number" must neither overflow the stack
#: nor be copied into every message.
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 3, 60, 60, 40
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 8
#: A PNG mask's paste box may be at most this many times the image on each side
#: (box_2d from -500 to 1500); larger ones are reported, not resized.
_MAX_PASTE_SCALE = 2
_SCORE_KEYS = ("confidence", "score")


def _number(value: Any) -> tuple[float, bool] | None:
    """A finite float from a JSON number or numeric string; (value, was_string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
        return (f, False) if math.isfinite(f) else None
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return (f, True) if math.isfinite(f) else None
    return None


def _numbers(value: Any, count: int) -> tuple[list[float], bool] | str:
    """``count`` finite numbers, or a reason string."""
    if not isinstance(value, (list, tuple)):
        return f"expected a list of {count} numbers, got {type(value).__name__}"
    if len(value) != count:
        return f"expected {count} numbers, got {len(value)}"
    out: list[float] = []
    coerced = False
    for v in value:
        num = _number(v)
        if num is None:
            return f"value {_SHOW.repr(v)} is not a finite number"
        out.append(num[0])
        coerced |= num[1]
    return out, coerced


def _polygon_parts(value: list[Any]) -> list[npt.NDArray[np.float64]] | str:
    """Polygon mask in 0–1000 ``[x, y]`` pairs (one ring, several rings, or flat)."""
    if not value:
        return "polygon mask is empty"
    first = value[0]
    rings: list[Any]
    if isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)):
        rings = value
    elif isinstance(first, (list, tuple)):
        rings = [value]
    else:
        if len(value) % 2:
            return "flat polygon has an odd number of coordinates"
        rings = [[value[i : i + 2] for i in range(0, len(value), 2)]]
    parts = []
    for ring in rings:
        if not isinstance(ring, (list, tuple)):
            return "polygon ring is not a list of points"
        try:
            arr = np.array([[_coord(p, 0), _coord(p, 1)] for p in ring], dtype=np.float64).reshape(
                -1, 2
            )
        except (TypeError, ValueError, IndexError):
            return "polygon points must be [x, y] pairs of numbers"
        if not np.isfinite(arr).all():
            return "polygon has NaN or infinite coordinates"
        if len(arr) < 3:
            return f"polygon ring has {len(arr)} point(s); at least 3 are needed"
        parts.append(arr)
    return parts


def _coord(point: Any, axis: int) -> float:
    if not isinstance(point, (list, tuple)) or len(point) != 2:
        raise ValueError("not a pair")
    num = _number(point[axis])
    if num is None:
        raise ValueError("not a number")
    return num[0]


def parse(
    answer: str | bytes | dict[str, Any] | list[Any],
    *,
    width: int,
    height: int,
    threshold: int = 127,
    keep_probabilities: bool = False,
    max_mask_pixels: int = MAX_MASK_PIXELS,
) -> Detections:
    """Parse a model answer into :class:`~boxmask.Detections` for a ``width × height`` image.

    ``answer`` may be the model's text (bare JSON, fenced JSON with any fence spelling,
    prose around it, truncated output), an already-decoded list/dict (also wrappers like
    ``{"boxes": [...]}``), or a whole API response (generateContent, Interactions,
    OpenAI-compatible, a list of streamed chunks).

    Coordinates: model ``box_2d = [ymin, xmin, ymax, xmax]`` and ``point = [y, x]`` are
    0–1000 over the image; polygon masks are ``[[x, y], ...]`` 0–1000 (x first).
    Results are pixels, ``x = v / 1000 · width``, ``y = v / 1000 · height``; pixel ``c``
    spans ``[c, c + 1)``.

    PNG masks (base64, optional ``data:`` prefix) follow Google's reference decode: the
    PNG is resized bilinearly to the integer paste box (box corners scaled and
    truncated, ``int()`` as in the cookbook) and kept where ``> threshold`` (0–255);
    the part outside the image is cropped away. Masks holding only 0 and 255 (what
    Gemini sends) take an equivalent faster path: the 0/1 map is resized and rounded,
    which cuts at the same 0.5 level (measured against Pillow: 0.05 % of pixels differ,
    all on the boundary; IoU >= 0.99). Polygon masks fill the pixels
    pycocotools fills (pixel centres inside the polygon). ``<start_of_mask>`` token
    masks cannot be decoded: the item keeps its box and label, and a problem is
    recorded.

    Never raises for item-level faults; raises :class:`~boxmask.ParseError` only when
    nothing can be read, and ``ValueError`` for a non-positive image size.
    """
    width, height = _check_size(width, height)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
        raise TypeError("threshold must be an int in 0..255")
    if not 0 <= int(threshold) <= 255:
        raise ValueError(f"threshold must be in 0..255, got {threshold}")
    raw = read_answer(answer)
    problems: list[Problem] = list(raw.problems)
    builder = _Builder(width, height, problems)
    for index, item in enumerate(raw.items):
        builder.add(index, item)
    return builder.finish(int(threshold), keep_probabilities, max_mask_pixels, raw.info)


def _check_size(width: Any, height: Any) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be a positive int (pixels), got {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be a positive int (pixels), got {value}")
    return int(width), int(height)


class _Builder:
    """Collects validated items, then converts them all at once (vectorized)."""

    def __init__(self, width: int, height: int, problems: list[Problem]) -> None:
        self.width = width
        self.height = height
        self.problems = problems
        self.source: list[int] = []
        self.boxes: list[list[float]] = []  # yxyx 0-1000, NaN row when absent
        self.points: list[list[float]] = []  # yx 0-1000, NaN row when absent
        self.labels: list[str] = []
        self.scores: list[float] = []
        self.masks: list[Any] = []  # str payload | list of polygon rings | None
        self.any_score = False
        self.any_point = False
        self.any_mask = False

    def problem(self, index: int, kind: ProblemKind, message: str, dropped: bool = False) -> None:
        self.problems.append(Problem(index, kind, message, dropped))

    def add(self, index: int, item: Any) -> None:
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
        box = self._box(index, item)
        point = self._point(index, item)
        mask, polygon_box = self._mask(index, item)
        if box is None and polygon_box is not None:
            box = polygon_box
        if box is None and point is None:
            keys = ", ".join(sorted(map(str, item))[:6]) or "none"
            self.problem(
                index,
                ProblemKind.NO_GEOMETRY,
                f"item has no usable box_2d, point or polygon mask (keys: {keys})",
                dropped=True,
            )
            return
        if isinstance(mask, str) and box is None:
            self.problem(index, ProblemKind.MASK_WITHOUT_BOX, "PNG mask has no box to be placed in")
            mask = None
        self.source.append(index)
        self.boxes.append(box if box is not None else [math.nan] * 4)
        self.points.append(point if point is not None else [math.nan] * 2)
        self.labels.append(self._label(index, item))
        self.scores.append(self._score(index, item))
        self.masks.append(mask)

    # ------------------------------------------------------------- fields
    def _box(self, index: int, item: dict[str, Any]) -> list[float] | None:
        if "box_2d" not in item or item["box_2d"] is None:
            return None
        result = _numbers(item["box_2d"], 4)
        if isinstance(result, str):
            self.problem(index, ProblemKind.BAD_BOX, f"box_2d: {result}")
            return None
        values, coerced = result
        if coerced:
            self.problem(index, ProblemKind.BOX_COERCED, "box_2d held numbers as strings")
        return values

    def _point(self, index: int, item: dict[str, Any]) -> list[float] | None:
        if "point" not in item or item["point"] is None:
            return None
        result = _numbers(item["point"], 2)
        if isinstance(result, str):
            self.problem(index, ProblemKind.BAD_POINT, f"point: {result}")
            return None
        values, _ = result
        self.any_point = True
        if any(v < 0 or v > 1000 for v in values):
            self.problem(index, ProblemKind.BOX_CLAMPED, "point outside 0-1000 was clamped")
        return values

    def _label(self, index: int, item: dict[str, Any]) -> str:
        label = item.get("label")
        if label is None:
            for key in _LABEL_FALLBACKS:
                if isinstance(item.get(key), str):
                    return str(item[key])
            self.problem(index, ProblemKind.BAD_LABEL, 'item has no label; using ""')
            return ""
        if not isinstance(label, str):
            self.problem(
                index,
                ProblemKind.BAD_LABEL,
                f"label {_SHOW.repr(label)} is not a string; converted",
            )
            return str(label) if isinstance(label, (int, float)) else _SHOW.repr(label)
        return label

    def _score(self, index: int, item: dict[str, Any]) -> float:
        for key in _SCORE_KEYS:
            if key in item and item[key] is not None:
                self.any_score = True
                num = _number(item[key])
                if num is None:
                    self.problem(
                        index,
                        ProblemKind.BAD_SCORE,
                        f"{key} {_SHOW.repr(item[key])} is not a number",
                    )
                    return math.nan
                value = num[0]
                if 0.0 <= value <= 1.0:
                    return value
                if 1.0 < value <= 100.0:
                    self.problem(
                        index, ProblemKind.BAD_SCORE, f"{key} {value} read as a percentage"
                    )
                    return value / 100.0
                self.problem(index, ProblemKind.BAD_SCORE, f"{key} {value} is outside [0, 1]")
                return math.nan
        return math.nan

    def _mask(self, index: int, item: dict[str, Any]) -> tuple[Any, list[float] | None]:
        """Returns (mask payload or polygon rings or None, box derived from a polygon)."""
        if "mask" not in item or item["mask"] is None:
            return None, None
        value = item["mask"]
        self.any_mask = True
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
            parts = _polygon_parts(value)
            if isinstance(parts, str):
                self.problem(index, ProblemKind.BAD_MASK, parts)
                return None, None
            allpts = np.concatenate(parts)
            x0, y0 = allpts.min(axis=0)
            x1, y1 = allpts.max(axis=0)
            return parts, [float(y0), float(x0), float(y1), float(x1)]
        self.problem(
            index,
            ProblemKind.UNKNOWN_MASK,
            f"mask of type {type(value).__name__} is not a PNG string or a polygon",
        )
        return None, None

    # ------------------------------------------------------------- finish
    def finish(
        self,
        threshold: int,
        keep_probabilities: bool,
        max_mask_pixels: int,
        info: Any,
    ) -> Detections:
        width, height = self.width, self.height
        n = len(self.source)
        yxyx = np.array(self.boxes, dtype=np.float64).reshape(n, 4)
        has_box: npt.NDArray[np.bool_] = np.asarray(np.isfinite(yxyx).all(axis=1), dtype=np.bool_)
        keep = np.ones(n, dtype=np.bool_)
        boxes = np.zeros((n, 4), dtype=np.float64)
        points_yx = np.array(self.points, dtype=np.float64).reshape(n, 2)
        points = points_yx_1000_to_xy(points_yx, width, height)
        points[~np.isfinite(points_yx).all(axis=1)] = np.nan

        if has_box.any():
            valid = yxyx[has_box]
            boxes[has_box] = boxes_yxyx_1000_to_xyxy(valid, width, height)
            out_of_range = ((valid < 0) | (valid > 1000)).any(axis=1)
            swapped = (valid[:, 0] > valid[:, 2]) | (valid[:, 1] > valid[:, 3])
            rows = np.flatnonzero(has_box)
            for r in rows[out_of_range]:
                self.problem(
                    self.source[r],
                    ProblemKind.BOX_CLAMPED,
                    f"box_2d {_fmt(yxyx[r])} leaves 0-1000; clamped to the image",
                )
            for r in rows[swapped]:
                self.problem(
                    self.source[r],
                    ProblemKind.BOX_SWAPPED,
                    f"box_2d {_fmt(yxyx[r])} has min > max; corners sorted",
                )
            empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
            for r in np.flatnonzero(has_box & empty):
                has_point = bool(np.isfinite(points[r]).all())
                self.problem(
                    self.source[r],
                    ProblemKind.EMPTY_BOX,
                    f"box_2d {_fmt(yxyx[r])} has no area inside the image"
                    + ("; kept as a point" if has_point else ""),
                    dropped=not has_point,
                )
                has_box[r] = False
                keep[r] = has_point
        # Point-only items: a zero-size box at the point.
        point_only = ~has_box & np.isfinite(points).all(axis=1)
        boxes[point_only] = np.concatenate([points[point_only], points[point_only]], axis=1)

        masks: Masks | None = None
        if self.any_mask:
            crops, probs = self._decode_masks(
                yxyx, has_box, threshold, keep_probabilities, max_mask_pixels
            )
            masks = Masks(crops, width, height, probabilities=probs if keep_probabilities else None)
        rows = np.flatnonzero(keep)
        scores = np.array(self.scores, dtype=np.float64) if self.any_score else None
        detections = Detections(
            boxes[rows],
            [self.labels[r] for r in rows],
            width=width,
            height=height,
            scores=None if scores is None else scores[rows],
            points=points[rows] if self.any_point else None,
            masks=None if masks is None else masks[rows],
            problems=sorted(self.problems, key=_problem_order),
            source_index=np.array(self.source, dtype=np.int64)[rows],
            has_box=has_box[rows],
            answer=info,
        )
        return detections

    def _decode_masks(
        self,
        yxyx: npt.NDArray[np.float64],
        has_box: npt.NDArray[np.bool_],
        threshold: int,
        keep_probabilities: bool,
        max_mask_pixels: int,
    ) -> tuple[list[Crop | None], list[npt.NDArray[np.uint8] | None]]:
        width, height = self.width, self.height
        n = len(self.source)
        crops: list[Crop | None] = [None] * n
        probs: list[npt.NDArray[np.uint8] | None] = [None] * n
        paste = np.zeros((n, 4), dtype=np.int64)
        if has_box.any():
            paste[has_box] = paste_boxes(yxyx[has_box], width, height)
        tasks: list[tuple[int, str]] = []
        for r, mask in enumerate(self.masks):
            if mask is None:
                continue
            if isinstance(mask, str):
                if not has_box[r]:
                    continue  # box dropped as empty: reported there
                tasks.append((r, mask))
            else:
                with np.errstate(over="ignore"):
                    rings = [
                        ring * np.array([width, height], dtype=np.float64) / 1000.0 for ring in mask
                    ]
                try:
                    x0, y0, crop = rasterize_polygons(rings, width, height)
                except ValueError as exc:
                    self.problem(self.source[r], ProblemKind.BAD_MASK, f"{exc}; mask dropped")
                    continue
                crops[r] = (x0, y0, crop) if crop.size else None
                if not crop.size or not crop.any():
                    self.problem(
                        self.source[r],
                        ProblemKind.BAD_MASK,
                        "polygon mask covers no pixel centre inside the image",
                    )

        # Visible part of every paste box, then one arena for all crops: a single large
        # allocation (transparent huge pages) costs far fewer page faults than one
        # allocation per mask, and each mask is resized straight into its slice.
        plans: list[tuple[int, str, int, int, tuple[int, int], tuple[int, int], int]] = []
        offset = 0
        for r, payload in tasks:
            x0, y0, x1, y1 = (int(v) for v in paste[r])
            box_w, box_h = x1 - x0, y1 - y0
            if box_w > _MAX_PASTE_SCALE * width + 16 or box_h > _MAX_PASTE_SCALE * height + 16:
                # The PNG is resized to the whole paste box before the visible part is
                # cut out: a box far outside 0-1000 would cost memory without bound.
                self.problem(
                    self.source[r],
                    ProblemKind.BAD_MASK,
                    f"mask box {box_w}x{box_h} px is over {_MAX_PASTE_SCALE}x the image "
                    f"({width}x{height}): box_2d lies far outside 0-1000; mask not decoded",
                )
                continue
            cx = (min(max(0, -x0), max(box_w, 0)), max(0, min(box_w, width - x0)))
            cy = (min(max(0, -y0), max(box_h, 0)), max(0, min(box_h, height - y0)))
            plans.append((r, payload, box_w, box_h, cx, cy, offset))
            offset += max(0, cx[1] - cx[0]) * max(0, cy[1] - cy[0])
        arena = take_arena(offset)
        prob_arena = np.empty(offset, dtype=np.uint8) if keep_probabilities else None

        def run(
            plan: tuple[int, str, int, int, tuple[int, int], tuple[int, int], int],
        ) -> tuple[int, Crop | None, Any, str | None, str]:
            r, payload, box_w, box_h, cx, cy, start = plan
            try:
                probability = decode_mask_payload(payload, max_pixels=max_mask_pixels)
            except MaskDecodeError as exc:
                return r, None, None, exc.kind, str(exc)
            if box_w <= 0 or box_h <= 0:
                return r, None, None, "bad_mask", "box is under one pixel; mask dropped"
            shape = (max(0, cy[1] - cy[0]), max(0, cx[1] - cx[0]))
            size = shape[0] * shape[1]
            out = arena[start : start + size].reshape(shape)
            prob_out = (
                None if prob_arena is None else prob_arena[start : start + size].reshape(shape)
            )
            crop, prob = resize_threshold(
                probability,
                box_w,
                box_h,
                cx,
                cy,
                threshold,
                keep_probabilities,
                out=out,
                probabilities_out=prob_out,
            )
            x0, y0 = int(paste[r][0]), int(paste[r][1])
            return r, (x0 + cx[0], y0 + cy[0], crop), prob, None, ""

        results = map_ordered(run, plans)
        for r, result_crop, prob, kind, message in results:
            if kind is not None:
                self.problem(self.source[r], ProblemKind(kind), message)
                continue
            crops[r] = result_crop
            probs[r] = prob
        return crops, probs


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _problem_order(problem: Problem) -> int:
    """Answer-level problems first, then by item index (a stable sort keeps the rest)."""
    return -1 if problem.index is None else problem.index
