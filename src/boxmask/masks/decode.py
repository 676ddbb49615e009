"""All the masks of one answer → crops: polygons rasterized, PNGs planned and decoded.

:func:`decode_masks` is what :func:`boxmask.parse` calls once per answer. Three stages,
each bounded: polygons are rasterized within a per-answer walk budget; every PNG's
visible paste region is planned (and refused when the answer's crops would exceed
``max_crop_pixels``); the PNGs are then decoded in parallel into one shared arena.
Faults are reported through ``report(row, kind, message)``, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.boxes import paste_boxes
from boxmask.masks.arena import take as take_arena
from boxmask.masks.png import MaskDecodeError, decode_mask_payload, resize_threshold
from boxmask.masks.polygon import MAX_WALK, rasterize_polygons, walk_length
from boxmask.masks.store import Crop
from boxmask.problems import ProblemKind
from boxmask.threads import map_ordered

__all__ = ["MAX_ANSWER_WALK", "MAX_CROP_PIXELS", "MaskOptions", "decode_masks"]

#: Largest total of crop pixels (bytes of bool crops) decoded for one answer: 256 Mi
#: pixels. 200 real-size masks on a 12 MP photo hold ~170 Mi; a 17 KB answer of 1×1
#: PNGs on full-image boxes asked for 1.2 GB before this budget.
MAX_CROP_PIXELS = 256 * 2**20
#: Largest total of boundary points walked for the polygons of one answer (2.5× the
#: per-polygon cap): a few polygons just under that cap cost seconds each.
MAX_ANSWER_WALK = 5 * MAX_WALK // 2
#: A PNG mask's paste box may be at most this many times the image on each side
#: (box_2d from -500 to 1500); larger ones are reported, not resized.
MAX_PASTE_SCALE = 2

Report = Callable[[int, ProblemKind, str], None]


@dataclass(frozen=True)
class MaskOptions:
    """How masks are decoded: ``threshold`` (0–255, kept where ``>``), whether the resized
    probabilities are kept, and the bomb guards (pixels per mask PNG, crop pixels and
    polygon boundary points per answer)."""

    threshold: int
    keep_probabilities: bool
    max_mask_pixels: int
    max_crop_pixels: int = MAX_CROP_PIXELS
    max_walk: int = MAX_ANSWER_WALK


@dataclass(frozen=True)
class _Plan:
    """One PNG mask to decode: its row, payload, paste-box size, the visible part of the
    paste box (box-local half-open ranges) and where its crop starts in the arena."""

    row: int
    payload: str
    origin: tuple[int, int]
    box_size: tuple[int, int]
    crop_x: tuple[int, int]
    crop_y: tuple[int, int]
    start: int

    @property
    def shape(self) -> tuple[int, int]:
        return (max(0, self.crop_y[1] - self.crop_y[0]), max(0, self.crop_x[1] - self.crop_x[0]))


class _Budget:
    """What is left of the answer's crop-pixel budget; refusals are reported."""

    def __init__(self, limit: int, report: Report) -> None:
        self.limit = limit
        self.used = 0
        self.report = report

    def take(self, row: int, pixels: int, what: str) -> bool:
        if self.used + pixels <= self.limit:
            self.used += pixels
            return True
        self.report(
            row,
            ProblemKind.MASK_BUDGET,
            f"{what} not decoded: its {pixels:,}-pixel crop would take the answer's masks past "
            f"max_crop_pixels={self.limit:,} ({self.used:,} used)",
        )
        return False


def decode_masks(
    masks: list[Any],
    yxyx: npt.NDArray[np.float64],
    has_box: npt.NDArray[np.bool_],
    width: int,
    height: int,
    options: MaskOptions,
    report: Report,
) -> tuple[list[Crop | None], list[npt.NDArray[np.uint8] | None]]:
    """Crops for ``masks`` (per row: PNG text, list of 0–1000 ``[x, y]`` rings, or None).

    ``yxyx`` are the rows' model boxes (0–1000), ``has_box`` which of them place a PNG.
    Returns the crops and, with ``keep_probabilities``, the resized probabilities.
    """
    n = len(masks)
    crops: list[Crop | None] = [None] * n
    probs: list[npt.NDArray[np.uint8] | None] = [None] * n
    budget = _Budget(options.max_crop_pixels, report)
    _rasterize_polygon_masks(masks, width, height, options.max_walk, budget, crops, report)
    plans = _plan_png_masks(masks, yxyx, has_box, width, height, budget, report)
    for plan, crop, prob, kind, message in _decode_png_masks(plans, options):
        if kind is not None:
            report(plan.row, ProblemKind(kind), message)
            continue
        crops[plan.row] = crop
        probs[plan.row] = prob
    return crops, probs


def _rasterize_polygon_masks(
    masks: list[Any],
    width: int,
    height: int,
    max_walk: int,
    budget: _Budget,
    crops: list[Crop | None],
    report: Report,
) -> None:
    """Rasterize every polygon mask (pycocotools-exact) into ``crops``."""
    walked = 0.0
    scale = np.array([width, height], dtype=np.float64) / 1000.0
    for row, mask in enumerate(masks):
        if mask is None or isinstance(mask, str):
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            rings = [ring * scale for ring in mask]
            lo = np.min([r.min(axis=0) for r in rings], axis=0)
            hi = np.max([r.max(axis=0) for r in rings], axis=0)
        walks = [walk_length(r) for r in rings]
        walk = sum(walks)
        # A ring over the per-polygon cap is refused by rasterize_polygons itself.
        if max(walks) <= MAX_WALK and walked + walk > max_walk:
            report(
                row,
                ProblemKind.MASK_BUDGET,
                f"polygon mask not rasterized: its {walk:,.0f} boundary points would take the "
                f"answer past {max_walk:,} ({walked:,.0f} walked)",
            )
            continue
        visible = np.clip(hi, 0, [width, height]) - np.clip(lo, 0, [width, height])
        if not budget.take(row, int(np.prod(np.maximum(visible, 0) + 1)), "polygon mask"):
            continue
        walked += walk
        try:
            x0, y0, crop = rasterize_polygons(rings, width, height)
        except ValueError as exc:
            report(row, ProblemKind.BAD_MASK, f"{exc}; mask dropped")
            continue
        crops[row] = (x0, y0, crop) if crop.size else None
        if not crop.size or not crop.any():
            report(
                row, ProblemKind.BAD_MASK, "polygon mask covers no pixel centre inside the image"
            )


def _plan_png_masks(
    masks: list[Any],
    yxyx: npt.NDArray[np.float64],
    has_box: npt.NDArray[np.bool_],
    width: int,
    height: int,
    budget: _Budget,
    report: Report,
) -> list[_Plan]:
    """The visible part of every PNG mask's paste box, each a slice of one arena.

    A single large allocation (transparent huge pages) costs far fewer page faults than
    one allocation per mask, and each mask is resized straight into its slice.
    """
    rows = [r for r, m in enumerate(masks) if isinstance(m, str) and has_box[r]]
    if not rows:
        return []
    paste = paste_boxes(yxyx[rows], width, height)
    plans: list[_Plan] = []
    offset = 0
    for r, (x0, y0, x1, y1) in zip(rows, paste.tolist(), strict=True):
        box_w, box_h = x1 - x0, y1 - y0
        if box_w > MAX_PASTE_SCALE * width + 16 or box_h > MAX_PASTE_SCALE * height + 16:
            # The PNG is resized to the whole paste box before the visible part is cut
            # out: a box far outside 0-1000 would cost memory without bound.
            report(
                r,
                ProblemKind.BAD_MASK,
                f"mask box {box_w}x{box_h} px is over {MAX_PASTE_SCALE}x the image "
                f"({width}x{height}): box_2d lies far outside 0-1000; mask not decoded",
            )
            continue
        cx = (min(max(0, -x0), max(box_w, 0)), max(0, min(box_w, width - x0)))
        cy = (min(max(0, -y0), max(box_h, 0)), max(0, min(box_h, height - y0)))
        plan = _Plan(r, masks[r], (x0, y0), (box_w, box_h), cx, cy, offset)
        size = plan.shape[0] * plan.shape[1]
        if budget.take(r, size, "PNG mask"):
            plans.append(plan)
            offset += size
    return plans


def _decode_png_masks(
    plans: list[_Plan], options: MaskOptions
) -> list[tuple[_Plan, Crop | None, Any, str | None, str]]:
    """Decode every planned PNG (in parallel) into its slice of one arena."""
    total = sum(p.shape[0] * p.shape[1] for p in plans)
    arena = take_arena(total)
    prob_arena = np.empty(total, dtype=np.uint8) if options.keep_probabilities else None

    def run(plan: _Plan) -> tuple[_Plan, Crop | None, Any, str | None, str]:
        try:
            probability = decode_mask_payload(plan.payload, max_pixels=options.max_mask_pixels)
        except MaskDecodeError as exc:
            return plan, None, None, exc.kind, str(exc)
        box_w, box_h = plan.box_size
        if box_w <= 0 or box_h <= 0:
            return plan, None, None, "bad_mask", "box is under one pixel; mask dropped"
        shape = plan.shape
        size = shape[0] * shape[1]
        out = arena[plan.start : plan.start + size].reshape(shape)
        prob_out = (
            None
            if prob_arena is None
            else prob_arena[plan.start : plan.start + size].reshape(shape)
        )
        crop, prob = resize_threshold(
            probability,
            box_w,
            box_h,
            plan.crop_x,
            plan.crop_y,
            options.threshold,
            options.keep_probabilities,
            out=out,
            probabilities_out=prob_out,
        )
        x0, y0 = plan.origin
        return plan, (x0 + plan.crop_x[0], y0 + plan.crop_y[0], crop), prob, None, ""

    return map_ordered(run, plans)
