"""All the masks of one answer → crops: polygons rasterized, PNGs planned and decoded.

:func:`decode_masks` is what :func:`boxmask.parse` calls once per answer. Three stages,
each bounded: polygons are rasterized within a per-answer walk budget; every PNG's
visible paste region is planned (and refused when the answer's crops would exceed
``max_crop_pixels``); the PNGs are then decoded in parallel into one shared arena.
Faults are reported through ``report(row, kind, message)``, never raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.boxes import paste_boxes
from boxmask.masks.arena import take as take_arena
from boxmask.masks.png import MaskDecodeError, decode_mask_payload, resize_threshold
from boxmask.masks.polygon import MAX_WALK, outline_refusal, outline_walks, rasterize_masks
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
    """What is left of one per-answer budget (crop pixels, or polygon boundary points
    walked): ``option`` names the setting, ``unit`` formats an amount."""

    def __init__(self, option: str, limit: int, unit: Callable[[float], str]) -> None:
        self.option = option
        self.limit = limit
        self.unit = unit
        self.used = 0.0


def _admit(row: int, what: str, claims: Sequence[tuple[_Budget, float]], report: Report) -> bool:
    """Take ``amount`` from every budget of ``claims``, or from none: the first budget
    it would overrun is reported (``mask_budget``) and False returned."""
    for budget, amount in claims:
        if budget.used + amount > budget.limit:
            report(
                row,
                ProblemKind.MASK_BUDGET,
                f"{what}: its {budget.unit(amount)} would take the answer's masks past "
                f"{budget.option}={budget.limit:,} ({budget.used:,.0f} used)",
            )
            return False
    for budget, amount in claims:
        budget.used += amount
    return True


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
    budget = _Budget("max_crop_pixels", options.max_crop_pixels, lambda n: f"{n:,.0f}-pixel crop")
    walk = _Budget("MAX_ANSWER_WALK", options.max_walk, lambda n: f"{n:,.0f} boundary points")
    _rasterize_polygon_masks(masks, width, height, walk, budget, crops, report)
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
    walk: _Budget,
    budget: _Budget,
    crops: list[Crop | None],
    report: Report,
) -> None:
    """Rasterize every polygon mask (pycocotools-exact) into ``crops``, all in one pass.

    Each mask is admitted first: every ring's outline within the cap, then the answer's
    walk and crop-pixel budgets (its crop estimated from its bounds in the image).
    """
    rows = [r for r, m in enumerate(masks) if isinstance(m, list) and m]
    if not rows:
        return
    scale = np.array([width, height], dtype=np.float64) / 1000.0
    with np.errstate(over="ignore", invalid="ignore"):
        rings = [ring * scale for r in rows for ring in masks[r]]
        walks, ok = outline_walks(rings)
        ring_counts = np.array([len(masks[r]) for r in rows], dtype=np.int64)
        first = np.cumsum(ring_counts) - ring_counts
        lengths = np.array([len(ring) for ring in rings], dtype=np.int64)
        every = np.concatenate(rings)
        vertex_first = (np.cumsum(lengths) - lengths)[first]
        lo = np.minimum.reduceat(every, vertex_first)
        hi = np.maximum.reduceat(every, vertex_first)
        image = np.array([width, height], dtype=np.float64)
        visible = np.maximum(np.clip(hi, 0, image) - np.clip(lo, 0, image), 0) + 1
    row_walks = np.add.reduceat(walks, first)
    row_ok = np.logical_and.reduceat(ok, first)
    pixels = np.nan_to_num(visible[:, 0] * visible[:, 1])
    admitted: list[int] = []
    for k, row in enumerate(rows):
        if not row_ok[k]:
            longest = float(walks[first[k] : first[k] + ring_counts[k]].max())
            report(row, ProblemKind.BAD_MASK, f"{outline_refusal(longest)}; mask dropped")
            continue
        claims = [(walk, float(row_walks[k])), (budget, float(pixels[k]))]
        if _admit(row, "polygon mask not rasterized", claims, report):
            admitted.append(k)
    parts = [rings[first[k] : first[k] + ring_counts[k]] for k in admitted]
    for k, (x0, y0, crop) in zip(admitted, rasterize_masks(parts, width, height), strict=True):
        row = rows[k]
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
        if _admit(r, "PNG mask not decoded", [(budget, size)], report):
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
