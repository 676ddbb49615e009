"""Label map images: instance ids, class ids and per-class masks, as arrays or PNGs.

- :func:`instance_label_map` — ``(H, W)`` image, 0 = background, ``i + 1`` for item ``i``;
  ``uint8`` for up to 255 items, ``uint16`` above (PNG holds 16 bits, so more than
  65535 items raise :class:`~boxmask.ExportError`).
- :func:`semantic_label_map` — ``(H, W)`` image, 0 = background, the category id
  (1..K, :mod:`boxmask.export.categories`) elsewhere; ``uint8``/``uint16`` by K.
- :func:`class_masks` — one ``(H, W)`` bool mask per category (union of its items).
- :func:`save_label_map_png` / :func:`save_class_mask_pngs` write them (atomically).

Each pixel holds one value, so where masks overlap the later item (draw order, or
``order="small_on_top"``) wins; every item that loses pixels this way is reported
(``overlap_hidden``, with the count), and an item whose mask loses *all* its pixels
is reported ``hidden``. Items without a mask are not drawn (``no_mask``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from boxmask.detections import Detections
from boxmask.errors import ExportError
from boxmask.export.categories import Categories
from boxmask.io import atomic_write_bytes
from boxmask.problems import ExportKind, Problem

__all__ = [
    "class_masks",
    "instance_label_map",
    "save_class_mask_pngs",
    "save_label_map_png",
    "semantic_label_map",
]

Order = Literal["given", "small_on_top"]


def _dtype_for(count: int) -> type[np.unsignedinteger[Any]]:
    if count <= 255:
        return np.uint8
    if count <= 65535:
        return np.uint16
    raise ExportError(f"{count} labels do not fit a 16-bit PNG label map (max 65535)")


def _draw_order(detections: Detections, order: Order) -> npt.NDArray[np.intp]:
    if order == "given":
        return np.arange(len(detections))
    if order == "small_on_top":
        areas = detections.masks.areas if detections.masks is not None else np.zeros(0)
        return np.argsort(-areas, kind="stable")
    raise ExportError(f"order must be 'given' or 'small_on_top', got {order!r}")


def _paint(
    detections: Detections,
    values: npt.NDArray[np.int64],
    dtype: type[np.unsignedinteger[Any]],
    order: Order,
    problems: list[Problem] | None,
    image: str | None,
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Paint ``values[i]`` under item i's mask (0 = skip), crop by crop, and report the
    pixels each item loses to later ones."""
    out = np.zeros((detections.height, detections.width), dtype=dtype)
    owner = np.zeros((detections.height, detections.width), dtype=np.int32)  # item + 1
    masks = detections.masks
    if masks is None:
        if problems is not None and len(detections):
            problems.append(Problem(None, ExportKind.NO_MASK, "answer has no masks", image=image))
        return out
    hidden = np.zeros(len(detections), dtype=np.int64)
    for i in _draw_order(detections, order).tolist():
        x0, y0, crop = masks.crop(i)
        if values[i] == 0:
            continue
        if not crop.size:
            if problems is not None:
                index = int(detections.source_index[i])
                problems.append(
                    Problem(index, ExportKind.NO_MASK, "no mask; not drawn", image=image)
                )
            continue
        sl = (slice(y0, y0 + crop.shape[0]), slice(x0, x0 + crop.shape[1]))
        covered = owner[sl][crop]
        if covered.any():
            lost = np.bincount(covered[covered > 0] - 1, minlength=len(detections))
            hidden += lost
        owner[sl][crop] = i + 1
        out[sl][crop] = values[i]
    if problems is not None:
        areas = masks.areas
        for i in np.flatnonzero(hidden).tolist():
            kind = ExportKind.HIDDEN if hidden[i] >= areas[i] else ExportKind.OVERLAP_HIDDEN
            problems.append(
                Problem(
                    int(detections.source_index[i]),
                    kind,
                    f"{int(hidden[i])} of {int(areas[i])} mask pixels covered by later items",
                    image=image,
                )
            )
    return out


def instance_label_map(
    detections: Detections,
    *,
    order: Order = "given",
    problems: list[Problem] | None = None,
    image: str | None = None,
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """``(H, W)`` instance ids: 0 background, ``i + 1`` for item ``i`` (uint8 up to 255
    items, else uint16). Overlaps and missing masks go to ``problems`` when given."""
    dtype = _dtype_for(len(detections))
    values = np.arange(1, len(detections) + 1, dtype=np.int64)
    return _paint(detections, values, dtype, order, problems, image)


def semantic_label_map(
    detections: Detections,
    categories: Categories | None = None,
    *,
    order: Order = "given",
    problems: list[Problem] | None = None,
    image: str | None = None,
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """``(H, W)`` category ids (0 background). ``categories`` shares ids across images
    (new labels are added to it unless it is fixed); a fresh first-seen map otherwise."""
    cats = categories if categories is not None else Categories(problems=problems)
    values = np.zeros(len(detections), dtype=np.int64)
    for i, label in enumerate(detections.labels):
        found = cats.id_of(label, image=image, index=int(detections.source_index[i]))
        values[i] = 0 if found is None else found
    dtype = _dtype_for(max(len(cats), int(values.max(initial=0))))
    return _paint(detections, values, dtype, order, problems, image)


def class_masks(detections: Detections) -> dict[str, npt.NDArray[np.bool_]]:
    """One ``(H, W)`` bool mask per label (normalized as categories are), the union of
    its items' masks, in first-seen label order. Overlaps are not an issue here."""
    from boxmask.export.categories import normalize_label

    out: dict[str, npt.NDArray[np.bool_]] = {}
    masks = detections.masks
    for i, label in enumerate(detections.labels):
        name = normalize_label(label)
        canvas = out.setdefault(name, np.zeros((detections.height, detections.width), np.bool_))
        if masks is not None:
            masks.paste(i, canvas, True)
    return out


def save_label_map_png(path: str | os.PathLike[str], label_map: npt.NDArray[Any]) -> Path:
    """Write a uint8/uint16 label map as a lossless grayscale PNG (atomically)."""
    arr = np.asarray(label_map)
    if arr.ndim != 2 or arr.dtype not in (np.uint8, np.uint16):
        raise ExportError(f"a label map PNG needs a 2-D uint8/uint16 array, got {arr.dtype}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr))
    if not ok:  # pragma: no cover
        raise ExportError("PNG encoding failed")
    return atomic_write_bytes(path, buf.tobytes())


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def save_class_mask_pngs(
    directory: str | os.PathLike[str],
    detections: Detections,
    categories: Categories | None = None,
) -> dict[str, Path]:
    """Write one 0/255 PNG per label to ``directory`` as ``<id>_<label>.png`` (the id
    keeps names unique; characters that file systems reject become ``_``, the rest of
    the label — any script — is kept). Returns ``{label: path}``."""
    cats = categories if categories is not None else Categories()
    written: dict[str, Path] = {}
    for name, mask in class_masks(detections).items():
        cat_id = cats.id_of(name)
        if cat_id is None:
            continue
        safe = _UNSAFE.sub("_", name).strip(" .") or "label"
        path = Path(directory) / f"{cat_id:03d}_{safe[:100]}.png"
        written[name] = save_label_map_png(path, mask.view(np.uint8) * np.uint8(255))
    return written
