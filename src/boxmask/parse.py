"""``parse``: from a model answer to :class:`~boxmask.Detections` in pixels.

Orchestrates :mod:`boxmask.answer` (text → raw items), :mod:`boxmask.fields` (one
item's values), :mod:`boxmask.coords` (which scale the numbers use),
:mod:`boxmask.boxes` (0–1000 → pixels, vectorized) and :mod:`boxmask.masks.decode`
(PNG and polygon masks → crop-native :class:`~boxmask.Masks`). Item-level faults never
raise: they become :class:`~boxmask.Problem` records and the rest of the answer is kept.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.answer import RawAnswer, read_answer
from boxmask.coords import resolve_scale
from boxmask.detections import AnswerInfo, Detections
from boxmask.items import ItemReader, box_checks, problem_order
from boxmask.masks.decode import MAX_CROP_PIXELS, MaskOptions
from boxmask.masks.png import MAX_MASK_PIXELS

__all__ = ["parse"]

_FAST_KEYS = frozenset({"box_2d", "label"})


def parse(
    answer: str | bytes | dict[str, Any] | list[Any],
    *,
    width: int,
    height: int,
    threshold: int = 127,
    keep_probabilities: bool = False,
    max_mask_pixels: int = MAX_MASK_PIXELS,
    max_crop_pixels: int = MAX_CROP_PIXELS,
    coords: str = "auto",
    model: str | None = None,
    input_size: tuple[int, int] | None = None,
    polygon_order: str = "auto",
    info: AnswerInfo | None = None,
) -> Detections:
    """Parse a model answer into :class:`~boxmask.Detections` for a ``width × height`` image.

    ``answer`` may be the model's text (bare JSON, fenced JSON with any fence spelling,
    prose around it, items split over several fences, truncated output), an
    already-decoded list/dict (also wrappers like ``{"boxes": [...]}``), or a whole API
    response (generateContent, Interactions, OpenAI-compatible, streamed chunks).

    Coordinates (Gemini, the default): ``box_2d = [ymin, xmin, ymax, xmax]``, ``point =
    [y, x]`` and ``points = [[y, x], ...]`` are 0–1000 over the image; polygon masks are
    ``[[x, y], ...]`` 0–1000 (x first); ``box_3d`` is kept as given (see
    :attr:`Detections.boxes_3d`). Qwen's ``bbox_2d = [x1, y1, x2, y2]`` and
    ``point_2d = [x, y]`` are read too. Results are pixels, ``x = v / 1000 · width``,
    ``y = v / 1000 · height``; pixel ``c`` spans ``[c, c + 1)``.

    ``coords`` ("auto", "0-1000", "0-1", "pixels") and ``model`` ("gemini", "qwen3-vl":
    0–1000; "qwen2.5-vl": pixels of the resized input, ``input_size`` or Qwen's own
    resize of ``width × height``) choose the scale; "auto" reads 0–1000 and, when every
    value lies in 0–1 or Qwen keys are used, guesses and records a ``coords_guessed``
    problem. ``polygon_order`` ("auto", "xy", "yx"): "auto" reads a polygon y-first when
    x-first it lies outside its own box_2d and y-first inside (reported).

    PNG masks (base64, optional ``data:`` prefix, or a mask object such as
    ``{"inline_data": {"data": ...}}``, or a key into a top-level ``masks`` map) follow
    Google's reference decode: resized bilinearly to the integer paste box (box corners
    scaled and truncated toward zero, ``int()`` as in the cookbook), kept where ``>
    threshold`` (0–255), cut to the image. Polygon masks fill the pixels pycocotools
    fills. ``<start_of_mask>`` token masks cannot be decoded: box and label are kept,
    and a problem is recorded. At most ``max_crop_pixels`` crop pixels are decoded per
    answer (refusals are reported).

    ``info``: when the caller has already read the API response (the client does), pass
    the model's text as ``answer`` and what the response said (finish reason, usage,
    model) as an :class:`~boxmask.AnswerInfo`: the envelope is then not read a second
    time, and the detections are the same as from the whole response.

    Never raises for item-level faults; raises :class:`~boxmask.ParseError` only when
    nothing can be read, and ``ValueError`` for a non-positive image size or an unknown
    option value.
    """
    width, height = _check_size(width, height)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
        raise TypeError("threshold must be an int in 0..255")
    if not 0 <= int(threshold) <= 255:
        raise ValueError(f"threshold must be in 0..255, got {threshold}")
    if polygon_order not in ("auto", "xy", "yx"):
        raise ValueError(f"polygon_order must be 'auto', 'xy' or 'yx'; got {polygon_order!r}")
    scale = resolve_scale(coords, model, input_size, width, height)
    raw = read_answer(answer, info=info)
    options = MaskOptions(int(threshold), keep_probabilities, max_mask_pixels, max_crop_pixels)
    fast = _fast_boxes(raw.items)
    if fast is not None:
        yxyx, labels = fast
        largest = float(np.abs(yxyx).max()) if len(yxyx) else 0.0
        if scale is not None and not scale.identity:
            yxyx = yxyx * np.array([scale.sy, scale.sx, scale.sy, scale.sx])
        if scale is not None or not 0.0 < largest <= 1.0:  # else: the 0-1 guess, reported
            return _finish_boxes(raw, yxyx, labels, width, height)
    reader = ItemReader(raw.mask_map, list(raw.problems), polygon_order)
    for index, item in enumerate(raw.items):
        reader.add(index, item)
    return reader.finish(width, height, scale, options, raw.info)


def _check_size(width: Any, height: Any) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be a positive int (pixels), got {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be a positive int (pixels), got {value}")
    return int(width), int(height)


def _fast_boxes(items: list[Any]) -> tuple[npt.NDArray[np.float64], list[str]] | None:
    """The boxes and labels of a well-formed box-only answer in one vectorized step, or
    None when any item is not exactly ``{"box_2d": [4 numbers], "label": str}`` (then
    every item is read and checked one by one, with the same problems)."""
    try:
        if not all(type(it) is dict and it.keys() == _FAST_KEYS for it in items):
            return None
        labels = [it["label"] for it in items]
        boxes = [it["box_2d"] for it in items]
        if not all(type(label) is str for label in labels):
            return None
        if bool in set(map(type, itertools.chain.from_iterable(boxes))):
            return None
        yxyx = np.array(boxes)
    except (TypeError, ValueError, OverflowError):
        return None
    if yxyx.shape != (len(items), 4) or yxyx.dtype.kind not in "if":
        return None
    yxyx = yxyx.astype(np.float64, copy=False)
    if not np.isfinite(yxyx).all():
        return None
    return yxyx, labels


def _finish_boxes(
    raw: RawAnswer,
    yxyx: npt.NDArray[np.float64],
    labels: list[str],
    width: int,
    height: int,
) -> Detections:
    """Detections of a well-formed box-only answer: the vectorized checks only."""
    problems = list(raw.problems)
    boxes, keep, _ = box_checks(yxyx, None, width, height, range(len(labels)), problems)
    if keep.all():
        return Detections(
            boxes,
            labels,
            width=width,
            height=height,
            problems=sorted(problems, key=problem_order),
            answer=raw.info,
        )
    rows = np.flatnonzero(keep)
    return Detections(
        boxes[rows],
        [labels[r] for r in rows],
        width=width,
        height=height,
        problems=sorted(problems, key=problem_order),
        source_index=rows.astype(np.int64),
        answer=raw.info,
    )
