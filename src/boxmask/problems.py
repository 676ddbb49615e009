"""Problem records: every dropped, repaired or degraded item is reported, never silent."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Problem", "ProblemKind"]


class ProblemKind(str, Enum):
    """What went wrong. A small, documented enumeration; values are stable strings."""

    #: The answer stopped mid-way (token limit); complete items were kept.
    TRUNCATED = "truncated"
    #: The JSON was not valid but was repaired (trailing commas, unquoted tokens, Python repr).
    REPAIRED_JSON = "repaired_json"
    #: An element of the item list is not an object; it was dropped.
    NOT_AN_OBJECT = "not_an_object"
    #: The item had neither a box, a point nor a usable polygon mask; it was dropped.
    NO_GEOMETRY = "no_geometry"
    #: ``box_2d`` is malformed (wrong length, not numbers, NaN/inf); the box was dropped.
    BAD_BOX = "bad_box"
    #: Box values were outside 0-1000 and were clamped to the image.
    BOX_CLAMPED = "box_clamped"
    #: Box corners were inverted (min > max) and were sorted.
    BOX_SWAPPED = "box_swapped"
    #: The box has no area inside the image; the item was dropped.
    EMPTY_BOX = "empty_box"
    #: Box values were strings holding numbers and were converted.
    BOX_COERCED = "box_coerced"
    #: ``point`` is malformed; the point was dropped.
    BAD_POINT = "bad_point"
    #: The label was missing (set to "") or not a string (converted with ``str``).
    BAD_LABEL = "bad_label"
    #: ``confidence``/``score`` is not a number in [0, 1]; dropped or rescaled.
    BAD_SCORE = "bad_score"
    #: The mask is ``<start_of_mask><seg_N>...`` tokens, which cannot be decoded.
    MASK_TOKENS = "mask_tokens"
    #: The mask could not be decoded (bad base64, not a PNG, corrupt PNG, bad polygon).
    BAD_MASK = "bad_mask"
    #: The mask PNG declares more pixels than the safety cap (decompression bomb).
    MASK_TOO_LARGE = "mask_too_large"
    #: The mask has a type boxmask does not know (not a string, not a polygon list).
    UNKNOWN_MASK = "unknown_mask"
    #: A PNG mask came without a usable box to place it in.
    MASK_WITHOUT_BOX = "mask_without_box"
    #: The API reported a non-normal finish (SAFETY, RECITATION, ...).
    FINISH_REASON = "finish_reason"
    #: A mask was not decoded because the answer's masks would exceed the per-answer
    #: budget (``max_crop_pixels`` crop pixels, or polygon boundary points walked).
    MASK_BUDGET = "mask_budget"
    #: A part of the answer text that looked like JSON (a code block holding an example
    #: or a template, a repeated block) held no detection items and was skipped.
    SKIPPED_TEXT = "skipped_text"
    #: Items came from several lists or JSON values (split over code blocks, or several
    #: wrapper keys); all were read and item indices run on across them.
    MERGED_LISTS = "merged_lists"
    #: Fields of the items (or of the wrapper object) that boxmask does not read; they
    #: are named so that nothing is lost silently.
    UNREAD_FIELDS = "unread_fields"
    #: The coordinate scale was guessed (0-1 values, Qwen keys) because the caller chose
    #: none; the message says what was seen and which ``coords=``/``model=`` to pass.
    COORDS_GUESSED = "coords_guessed"
    #: A polygon mask lies outside its own box as given x-first: read y-first when that
    #: fits the box (``polygon_order="auto"``), else kept and reported.
    POLYGON_ORDER = "polygon_order"
    #: A mask PNG's pixel data inflates past the size its header declares; decoding
    #: stopped at the declared size.
    MASK_OVERFLOW = "mask_overflow"


@dataclass(frozen=True)
class Problem:
    """One dropped or degraded item (or an answer-level issue when ``index`` is None).

    ``index`` is the item's position in the model's list (0-based), not in the
    resulting :class:`~boxmask.Detections`; ``dropped`` tells whether the item
    was removed (True) or kept in a degraded form (False).
    """

    index: int | None
    kind: ProblemKind
    message: str
    dropped: bool = False

    def __str__(self) -> str:
        where = "answer" if self.index is None else f"item {self.index}"
        action = " (dropped)" if self.dropped else ""
        return f"{where}: {self.kind.value}: {self.message}{action}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict: ``{"index", "kind", "message", "dropped"}``."""
        return {
            "index": self.index,
            "kind": self.kind.value,
            "message": self.message,
            "dropped": self.dropped,
        }
