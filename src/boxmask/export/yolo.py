"""YOLO (Ultralytics) detection and segmentation label files plus ``data.yaml``.

Layout written by :meth:`YoloDataset.save` under ``root``::

    data.yaml                      names {0: ..., 1: ...} and one entry per split
    labels/<split>/<stem>.txt      one line per item

Images are not copied: put them in ``images/<split>/`` with the same stem (Ultralytics
finds the labels by replacing ``/images/`` with ``/labels/``). ``data.yaml`` has no
``path`` key, so Ultralytics resolves the split folders against the yaml's own folder and
the dataset can be moved.

Lines (coordinates normalized by the image width/height to [0, 1], 6 decimals, class
ids 0-based in category order — the same order as :class:`~boxmask.CocoDataset` ids):

- ``task="detect"``: ``class x_center y_center width height`` from the model's box.
- ``task="segment"``: ``class x1 y1 x2 y2 ...``: the mask outline in pixel-edge
  coordinates (:mod:`boxmask.export.polygons`). YOLO has one polygon per line and no
  holes, so parts of a multi-part mask are joined into one ring by zero-width bridges
  (the Ultralytics convention; even-odd filling gives back every part), reported
  ``parts_joined``; holes are filled, reported ``holes_filled``; an item without a mask
  is written as its box rectangle, reported ``no_mask``.

Point-only items are skipped (``point_only``); labels follow
:mod:`boxmask.export.categories`. All reports land in :attr:`YoloDataset.problems`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Literal

import numpy as np
import numpy.typing as npt

from boxmask.detections import Detections
from boxmask.errors import ExportError
from boxmask.export.categories import Categories, ExportProblem
from boxmask.export.polygons import crops_to_polygons
from boxmask.io import atomic_write_text

__all__ = ["YoloDataset", "join_parts", "read_yolo_boxes"]

FloatArray = npt.NDArray[np.float64]
Task = Literal["detect", "segment"]


def join_parts(parts: list[FloatArray]) -> FloatArray:
    """One ring through every part: each next part is entered from the closest vertex
    of the ring built so far and left the same way (a zero-width bridge), so even-odd
    filling of the result covers exactly the union of the (disjoint) parts."""
    ring = parts[0]
    for part in parts[1:]:
        # Closest pair of vertices; chunked so memory stays small for long rings.
        best = (np.inf, 0, 0)
        for start in range(0, len(ring), 2048):
            block = ring[start : start + 2048]
            d2 = ((block[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
            k = int(np.argmin(d2))
            i, j = divmod(k, len(part))
            if d2[i, j] < best[0]:
                best = (float(d2[i, j]), start + i, j)
        _, i, j = best
        detour = np.concatenate([part[j:], part[: j + 1]])
        ring = np.concatenate([ring[: i + 1], detour, ring[i:]])
    return ring


def _fmt(values: FloatArray) -> str:
    return " ".join(f"{v:.6f}" for v in values.tolist())


class YoloDataset:
    """YOLO label files built image by image from :class:`~boxmask.Detections`.

    ``task``: ``"segment"`` (polygons) or ``"detect"`` (boxes). ``categories``: a list
    fixes the class ids (0..K-1 in order); None assigns them in first-seen order.
    ``polygon_tolerance``: simplification in pixels (0 = exact outline).
    """

    def __init__(
        self,
        task: Task = "segment",
        categories: list[str] | None = None,
        *,
        polygon_tolerance: float = 0.0,
    ) -> None:
        if task not in ("detect", "segment"):
            raise ExportError(f"task must be 'detect' or 'segment', got {task!r}")
        self.task: Task = task
        self.polygon_tolerance = float(polygon_tolerance)
        self.problems: list[ExportProblem] = []
        self.categories = Categories(categories, problems=self.problems)
        #: ``(split, stem) -> label file lines``, in the order images were added.
        self.labels: dict[tuple[str, str], list[str]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, detections: Detections, file_name: str, split: str = "train") -> list[str]:
        """Add one image's items; returns its label lines (also kept for :meth:`save`).

        ``file_name`` gives the label file's stem (``dir/a.jpg`` → ``a.txt``).
        """
        if not split or "/" in split or "\\" in split or split in (".", ".."):
            raise ExportError(f"split must be a plain folder name, got {split!r}")
        stem = PurePath(file_name).stem
        if not stem:
            raise ExportError(f"cannot name a label file after {file_name!r}")
        key = (split, stem)
        if key in self.labels:
            raise ExportError(f"labels/{split}/{stem}.txt was already added")
        lines = self._lines(detections, file_name)
        self.labels[key] = lines
        return lines

    def _lines(self, detections: Detections, file_name: str) -> list[str]:
        width, height = float(detections.width), float(detections.height)
        scale = np.array([width, height])
        masks = detections.masks
        polygons = {}
        if self.task == "segment" and masks is not None:
            rows = np.flatnonzero(masks.areas > 0)
            found = crops_to_polygons(
                [masks.crop(int(r)) for r in rows], tolerance=self.polygon_tolerance
            )
            polygons = {int(r): p for r, p in zip(rows, found, strict=True)}
        lines: list[str] = []
        for i in range(len(detections)):
            index = int(detections.source_index[i])
            if not detections.has_box[i]:
                self.problems.append(
                    ExportProblem(file_name, index, "point_only", "item has no box; skipped")
                )
                continue
            cls = self.categories.index_of(detections.labels[i], image=file_name, index=index)
            if cls is None:
                continue
            x0, y0, x1, y1 = detections.boxes[i]
            if self.task == "detect":
                box = np.array([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height])
                size = np.array([(x1 - x0) / width, (y1 - y0) / height])
                lines.append(f"{cls} {_fmt(np.concatenate([box, size]))}")
                continue
            found_polygon = polygons.get(i)
            if found_polygon is None or found_polygon.is_empty:
                self.problems.append(
                    ExportProblem(
                        file_name, index, "no_mask", "item has no mask; box rectangle written"
                    )
                )
                ring = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
            else:
                parts = found_polygon.parts
                if found_polygon.has_holes:
                    self.problems.append(
                        ExportProblem(
                            file_name,
                            index,
                            "holes_filled",
                            f"YOLO polygons have no holes; {len(found_polygon.holes)} filled",
                        )
                    )
                if len(parts) > 1:
                    self.problems.append(
                        ExportProblem(
                            file_name,
                            index,
                            "parts_joined",
                            f"{len(parts)} parts joined into one polygon by zero-width bridges",
                        )
                    )
                ring = join_parts(parts) if len(parts) > 1 else parts[0]
            normalized = np.clip(ring / scale, 0.0, 1.0)
            lines.append(f"{cls} {_fmt(normalized.ravel())}")
        return lines

    def data_yaml(self) -> str:
        """The ``data.yaml`` text: one key per split used, ``names`` as ``{id: name}``.

        Names are written as JSON strings (valid YAML, any script kept as is).
        """
        splits = list(dict.fromkeys(split for split, _ in self.labels)) or ["train"]
        lines = [
            "# Written by boxmask. No `path` key: Ultralytics resolves the folders below",
            "# against this file's folder.",
        ]
        lines += [f"{split}: images/{split}" for split in splits]
        lines.append(f"nc: {len(self.categories)}")
        lines.append("names:")
        lines += [
            f"  {i}: {json.dumps(name, ensure_ascii=False)}"
            for i, name in enumerate(self.categories.names)
        ]
        return "\n".join(lines) + "\n"

    def save(self, root: str | os.PathLike[str]) -> Path:
        """Write ``data.yaml`` and every label file under ``root`` (atomically, file by
        file; an image without items gets an empty file). Returns ``root``."""
        base = Path(root)
        for (split, stem), lines in self.labels.items():
            text = "".join(line + "\n" for line in lines)
            atomic_write_text(base / "labels" / split / f"{stem}.txt", text)
        atomic_write_text(base / "data.yaml", self.data_yaml())
        return base


def read_yolo_boxes(
    path: str | os.PathLike[str], width: int, height: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Read a YOLO label file back as ``(class ids, (N, 4) xyxy pixel boxes)``.

    Detection lines give their box; segmentation lines the box around their points.
    """
    classes: list[int] = []
    boxes: list[list[float]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read {str(path)!r}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = np.array([float(v) for v in fields[1:]], dtype=np.float64)
            cls = int(fields[0])
        except ValueError as exc:
            raise ExportError(f"{str(path)!r} line {number}: {exc}") from exc
        if len(values) == 4:
            cx, cy, w, h = values * [width, height, width, height]
            boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        elif len(values) >= 6 and len(values) % 2 == 0:
            pts = values.reshape(-1, 2) * [width, height]
            boxes.append([*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist()])
        else:
            raise ExportError(f"{str(path)!r} line {number}: {len(values)} coordinates")
        classes.append(cls)
    return np.array(classes, dtype=np.int64), np.array(boxes, dtype=np.float64).reshape(-1, 4)
