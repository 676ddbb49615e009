"""Problem records: every dropped, repaired or degraded thing is reported, never silent.

One :class:`Problem` type serves every stage of boxmask. Its ``kind`` is a member of the
enumeration of that stage, all documented here, in one place:

==========  =====================  ==========================================================
stage       kinds                  raised by
==========  =====================  ==========================================================
parse       :class:`ProblemKind`   reading a model answer (:func:`boxmask.parse`)
image       :class:`ImageKind`     reading the picture an answer describes
export      :class:`ExportKind`    COCO / YOLO / label-map exporters and their writers
overlay     :class:`OverlayKind`   drawing and saving overlays
request     :class:`RequestKind`   calling the model
batch       :class:`BatchKind`     pairing, reading and scheduling the jobs of a batch
==========  =====================  ==========================================================

``Problem.stage`` follows from the kind's enumeration; values of every kind are stable
strings. Reports serialize problems with :meth:`Problem.to_dict`; code decides from
``kind`` and ``dropped``, never from the message text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

__all__ = [
    "BatchKind",
    "ExportKind",
    "ImageKind",
    "OverlayKind",
    "Problem",
    "ProblemKind",
    "RequestKind",
    "Stage",
]


class Stage(str, Enum):
    """The part of boxmask that reported a problem."""

    PARSE = "parse"
    IMAGE = "image"
    EXPORT = "export"
    OVERLAY = "overlay"
    REQUEST = "request"
    BATCH = "batch"


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


class ImageKind(str, Enum):
    """Problems reading the picture an answer describes (stage ``image``)."""

    #: The image file does not exist.
    NOT_FOUND = "not_found"
    #: The file exists but is not an image boxmask can read (or is unsafe to decode).
    UNREADABLE = "unreadable"
    #: The size given with the answer disagrees with the image file.
    SIZE_MISMATCH = "size_mismatch"
    #: The image's file name is not UTF-8 (bytes on disk, or a lone surrogate from a
    #: manifest): it is recorded surrogate-escaped, which UTF-8 readers cannot open.
    NAME_NOT_UTF8 = "name_not_utf8"


class ExportKind(str, Enum):
    """Items an exporter did not write as they came (stage ``export``)."""

    #: The item has a point but no box: COCO and YOLO have no place for it; skipped.
    POINT_ONLY = "point_only"
    #: The answer had masks but this item has none: the box rectangle stands in.
    NO_MASK = "no_mask"
    #: The item's mask has no pixels: the box rectangle stands in.
    EMPTY_MASK = "empty_mask"
    #: Polygon mode, a mask with holes: written as RLE (``iscrowd`` 0).
    HOLES_AS_RLE = "holes_as_rle"
    #: YOLO polygons have no holes: they were filled.
    HOLES_FILLED = "holes_filled"
    #: YOLO has one polygon per line: the mask's parts were joined by zero-width bridges.
    PARTS_JOINED = "parts_joined"
    #: The label was written in normalized form (NFC, no surrounding blanks).
    LABEL_NORMALIZED = "label_normalized"
    #: Two categories differ only in case or character width; kept apart.
    LABEL_COLLISION = "label_collision"
    #: The label is not among the fixed categories; the item was skipped.
    UNKNOWN_CATEGORY = "unknown_category"
    #: An annotation without segmentation was left out of segm results.
    NO_SEGMENTATION = "no_segmentation"
    #: Label maps: some of the item's mask pixels are covered by later items.
    OVERLAP_HIDDEN = "overlap_hidden"
    #: Label maps: all of the item's mask pixels are covered by later items.
    HIDDEN = "hidden"
    #: YOLO: the picture could not be put into ``images/<split>/`` (no local file, I/O).
    IMAGE_NOT_PLACED = "image_not_placed"
    #: The image's file name is already used by another picture (COCO) or its label file
    #: by another image (YOLO).
    NAME_COLLISION = "name_collision"


class OverlayKind(str, Enum):
    """Problems drawing or saving overlays (stage ``overlay``)."""

    #: No overlay was written for this answer (no local image, unreadable image, I/O).
    NOT_WRITTEN = "not_written"
    #: Some label text needed glyphs no available font has.
    MISSING_GLYPHS = "missing_glyphs"
    #: Some label chips found no free place in a crowded picture and were not drawn.
    LABELS_HIDDEN = "labels_hidden"


class RequestKind(str, Enum):
    """Problems calling the model (stage ``request``)."""

    #: The request failed after every retry; the error says why.
    FAILED = "failed"
    #: The answer was cut at the token limit or blocked.
    INCOMPLETE = "incomplete"


class BatchKind(str, Enum):
    """Problems with the jobs of a batch (stage ``batch``)."""

    #: A manifest line cannot be used (bad JSON, not UTF-8, missing keys).
    BAD_MANIFEST_LINE = "bad_manifest_line"
    #: An answer file has no image to pair with.
    UNPAIRED = "unpaired"
    #: The answer could not be read or converted at all; the job failed.
    FAILED = "failed"
    #: The worker process running the job died (e.g. killed for memory).
    WORKER_LOST = "worker_lost"


Kind = ProblemKind | ImageKind | ExportKind | OverlayKind | RequestKind | BatchKind

_STAGES: dict[type[Enum], Stage] = {
    ProblemKind: Stage.PARSE,
    ImageKind: Stage.IMAGE,
    ExportKind: Stage.EXPORT,
    OverlayKind: Stage.OVERLAY,
    RequestKind: Stage.REQUEST,
    BatchKind: Stage.BATCH,
}
_KINDS: dict[Stage, type[Enum]] = {stage: kind for kind, stage in _STAGES.items()}


@dataclass(frozen=True)
class Problem:
    """One dropped or degraded thing, at any stage (see the module docs for the kinds).

    ``index`` is the item's position in the model's list (0-based; not in the resulting
    :class:`~boxmask.Detections`), None for answer-, image- or dataset-level problems;
    ``dropped`` tells whether the thing was removed (True) or kept in a degraded or
    changed form (False); ``image`` names the picture (its file name) when known.
    """

    index: int | None
    kind: Kind
    message: str
    dropped: bool = False
    image: str | None = None

    @property
    def stage(self) -> Stage:
        """The stage the kind belongs to."""
        return _STAGES[type(self.kind)]

    def __str__(self) -> str:
        where = "answer" if self.index is None else f"item {self.index}"
        if self.image is not None:
            where = f"{self.image} {where}" if self.index is not None else self.image
        action = " (dropped)" if self.dropped else ""
        return f"{where}: {self.kind.value}: {self.message}{action}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready ``{"stage", "kind", "image", "index", "message", "dropped"}``."""
        return {
            "stage": self.stage.value,
            "kind": self.kind.value,
            "image": self.image,
            "index": self.index,
            "message": self.message,
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Problem:
        """The inverse of :meth:`to_dict` (e.g. a problem sent from a worker process)."""
        stage = Stage(str(data.get("stage", "parse")))
        kind = _KINDS[stage](str(data["kind"]))
        index = data.get("index")
        image = data.get("image")
        return cls(
            index=int(index) if isinstance(index, int) else None,
            kind=kind,  # type: ignore[arg-type]
            message=str(data.get("message", "")),
            dropped=bool(data.get("dropped", False)),
            image=str(image) if isinstance(image, str) else None,
        )

    def at(self, image: str | None) -> Problem:
        """The same problem, naming ``image``."""
        return replace(self, image=image)
