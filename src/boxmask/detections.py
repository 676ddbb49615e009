"""Detections: the aligned result of parsing one model answer for one image."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.masks.store import Crop, Masks, _positions
from boxmask.problems import Problem

__all__ = ["AnswerInfo", "Detection", "Detections"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AnswerInfo:
    """Where the detections came from: the model text and, for API responses, the
    finish reason, token usage and model version (None when not known)."""

    text: str
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """One item, as yielded by iterating over :class:`Detections`.

    ``box`` is pixel ``[xmin, ymin, xmax, ymax]`` (None for a point-only item),
    ``point`` pixel ``(x, y)`` or None, ``mask`` the ``(x0, y0, bool_crop)`` or None.
    """

    box: tuple[float, float, float, float] | None
    label: str
    score: float | None
    point: tuple[float, float] | None
    mask: Crop | None
    source_index: int


class Detections:
    """The items of one answer, in pixel space, with every field aligned.

    - ``boxes``: ``(N, 4)`` float64 ``[xmin, ymin, xmax, ymax]`` pixel edges, clamped to
      the image. Items that only have a point get a zero-size box at the point
      (``has_box`` is False for them).
    - ``labels``: ``list[str]``; ``scores``: ``(N,)`` float64 (NaN where an item has
      none) or None when no item carried a confidence.
    - ``points``: ``(N, 2)`` float64 pixel ``(x, y)`` (NaN rows where absent) or None.
    - ``masks``: :class:`~boxmask.Masks` or None when no item carried a mask.
    - ``problems``: every dropped or degraded item (see :class:`~boxmask.Problem`).
    - ``source_index``: ``(N,)`` int64 position of each item in the model's list.
    - ``width``, ``height``: the image size in pixels the coordinates refer to.
    - ``boxes_3d``: ``(N, 9)`` float64 as the model gave them (NaN rows where absent) or
      None: ``[x_center, y_center, z_center, x_size, y_size, z_size, roll, pitch, yaw]``,
      centre and size in metres in the camera frame, angles in degrees (Gemini's 3D
      prompt). Not projected to 2D: the answer gives no camera intrinsics. An item with
      only a ``box_3d`` has ``has_box`` False.
    - ``point_lists``: per item a ``(K, 2)`` float64 array of pixel ``(x, y)`` points (an
      item-level ``points`` list: a trajectory, several points of one object) or None; the
      attribute is None when no item had one.
    """

    __slots__ = (
        "answer",
        "boxes",
        "boxes_3d",
        "has_box",
        "height",
        "labels",
        "masks",
        "point_lists",
        "points",
        "problems",
        "scores",
        "source_index",
        "width",
    )

    def __init__(
        self,
        boxes: npt.ArrayLike,
        labels: Sequence[str],
        *,
        width: int,
        height: int,
        scores: npt.ArrayLike | None = None,
        points: npt.ArrayLike | None = None,
        masks: Masks | None = None,
        problems: Sequence[Problem] = (),
        source_index: npt.ArrayLike | None = None,
        has_box: npt.ArrayLike | None = None,
        answer: AnswerInfo | None = None,
        boxes_3d: npt.ArrayLike | None = None,
        point_lists: Sequence[npt.ArrayLike | None] | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self.boxes: FloatArray = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(self.boxes)
        self.labels: list[str] = [str(label) for label in labels]
        if len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} labels for {n} boxes")
        self.scores: FloatArray | None = (
            None if scores is None else np.asarray(scores, dtype=np.float64).reshape(n)
        )
        self.points: FloatArray | None = (
            None if points is None else np.asarray(points, dtype=np.float64).reshape(n, 2)
        )
        if masks is not None and len(masks) != n:
            raise ValueError(f"{len(masks)} masks for {n} boxes")
        if masks is not None and (masks.width, masks.height) != (self.width, self.height):
            raise ValueError("masks were decoded for another image size")
        self.masks: Masks | None = masks
        self.problems: list[Problem] = list(problems)
        self.source_index: npt.NDArray[np.int64] = (
            np.arange(n, dtype=np.int64)
            if source_index is None
            else np.asarray(source_index, dtype=np.int64).reshape(n)
        )
        self.has_box: npt.NDArray[np.bool_] = (
            np.ones(n, dtype=np.bool_)
            if has_box is None
            else np.asarray(has_box, dtype=np.bool_).reshape(n)
        )
        self.answer = answer
        self.boxes_3d: FloatArray | None = (
            None if boxes_3d is None else np.asarray(boxes_3d, dtype=np.float64).reshape(n, 9)
        )
        self.point_lists: list[FloatArray | None] | None = None
        if point_lists is not None:
            if len(point_lists) != n:
                raise ValueError(f"{len(point_lists)} point lists for {n} boxes")
            self.point_lists = [
                None if p is None else np.asarray(p, dtype=np.float64).reshape(-1, 2)
                for p in point_lists
            ]

    @classmethod
    def empty(cls, width: int, height: int, *, problems: Sequence[Problem] = ()) -> Detections:
        """No items, for an image of ``width × height`` pixels."""
        return cls(np.zeros((0, 4)), [], width=width, height=height, problems=problems)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        parts = [f"n={len(self)}", f"image={self.width}x{self.height}"]
        if self.masks is not None:
            parts.append(f"masks={int(self.masks.has_mask.sum())}")
        if self.points is not None:
            parts.append(f"points={int(np.isfinite(self.points[:, 0]).sum())}")
        if self.problems:
            parts.append(f"problems={len(self.problems)}")
        return f"Detections({', '.join(parts)})"

    def __iter__(self) -> Iterator[Detection]:
        for i in range(len(self)):
            yield self._item(i)

    def _item(self, i: int) -> Detection:
        box = tuple(float(v) for v in self.boxes[i]) if self.has_box[i] else None
        score = None
        if self.scores is not None and np.isfinite(self.scores[i]):
            score = float(self.scores[i])
        point = None
        if self.points is not None and np.isfinite(self.points[i]).all():
            point = (float(self.points[i, 0]), float(self.points[i, 1]))
        mask = None
        if self.masks is not None:
            crop = self.masks.crop(i)
            mask = crop if crop[2].size else None
        return Detection(
            box=box,  # type: ignore[arg-type]
            label=self.labels[i],
            score=score,
            point=point,
            mask=mask,
            source_index=int(self.source_index[i]),
        )

    def __getitem__(self, index: Any) -> Any:
        """``d[i]`` → :class:`Detection`; ``d[bool_array]``, ``d[indices]``, ``d[a:b]`` →
        :class:`Detections` with every field kept aligned (problems are kept whole)."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= int(index) < n:
                raise IndexError(f"index {int(index)} out of range for {n} items")
            return self._item(int(index) % n)
        positions = _positions(index, len(self))
        return Detections(
            self.boxes[positions],
            [self.labels[p] for p in positions],
            width=self.width,
            height=self.height,
            scores=None if self.scores is None else self.scores[positions],
            points=None if self.points is None else self.points[positions],
            masks=None if self.masks is None else self.masks[positions],
            problems=self.problems,
            source_index=self.source_index[positions],
            has_box=self.has_box[positions],
            answer=self.answer,
            boxes_3d=None if self.boxes_3d is None else self.boxes_3d[positions],
            point_lists=(
                None if self.point_lists is None else [self.point_lists[p] for p in positions]
            ),
        )

    # ---------------------------------------------------------------- helpers
    @property
    def class_names(self) -> list[str]:
        """Distinct labels in first-seen order."""
        return list(dict.fromkeys(self.labels))

    @property
    def areas(self) -> FloatArray:
        """``(N,)`` float64: mask pixel count where an item has a mask, else box area."""
        box_areas = (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        if self.masks is None:
            return box_areas
        return np.where(self.masks.has_mask, self.masks.areas.astype(np.float64), box_areas)

    def summary(self) -> dict[str, Any]:
        """Counts for reports: items, boxes, masks, points, problems by kind."""
        kinds: dict[str, int] = {}
        for p in self.problems:
            kinds[p.kind.value] = kinds.get(p.kind.value, 0) + 1
        return {
            "items": len(self),
            "boxes": int(self.has_box.sum()),
            "masks": 0 if self.masks is None else int(self.masks.has_mask.sum()),
            "points": 0 if self.points is None else int(np.isfinite(self.points[:, 0]).sum()),
            "problems": len(self.problems),
            "problem_kinds": kinds,
            "truncated": bool(self.answer.truncated) if self.answer else False,
        }

    # ---------------------------------------------------------------- interop
    def to_supervision(self, **options: Any) -> Any:
        """An ``sv.Detections`` (needs ``supervision``); see
        :func:`boxmask.export.interop.to_supervision` for the mapping and options."""
        from boxmask.export.interop import to_supervision

        return to_supervision(self, **options)

    @classmethod
    def from_supervision(cls, sv_detections: Any, **options: Any) -> Detections:
        """Detections from an ``sv.Detections``; see
        :func:`boxmask.export.interop.supervision_fields` (``width``, ``height``, ...)."""
        from boxmask.export.interop import supervision_fields

        fields = supervision_fields(sv_detections, **options)
        boxes, labels = fields.pop("boxes"), fields.pop("labels")
        return cls(boxes, labels, **fields)

    def to_fiftyone(self) -> list[dict[str, Any]]:
        """FiftyOne-style detection dicts (relative ``[x, y, w, h]`` boxes, box-cropped
        masks); see :func:`boxmask.export.interop.to_fiftyone`."""
        from boxmask.export.interop import to_fiftyone

        return to_fiftyone(self)
