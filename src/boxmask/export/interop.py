"""Hand detections to supervision and FiftyOne, and take them back from supervision.

No hard dependency: supervision is imported only inside these functions
(:class:`~boxmask.ExportError` says how to install it when missing), and FiftyOne-style
output is plain dicts, so FiftyOne itself is never needed.

supervision (``sv.Detections``): ``xyxy`` is boxmask's pixel-edge ``[xmin, ymin, xmax,
ymax]`` as is; ``confidence`` the scores (NaN where an item had none; None when no item
had one); ``class_id`` 0-based in sorted label order, as supervision's own ``from_vlm``
numbers them (or the order of the ``class_names``/``classes`` given);
``data["class_name"]`` the labels. Masks become supervision's
crop-scoped ``CompactMask`` when the installed supervision has it (no ``N × H × W``
array), else a dense ``(N, H, W)`` bool array. Items without a mask get an all-False
mask. Point-only items keep their zero-size box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the type only: no import-time dependency on the core's class
    from boxmask.detections import Detections

from boxmask.errors import ExportError
from boxmask.export.categories import normalize_label
from boxmask.export.rle import crop_counts
from boxmask.masks.store import Crop, Masks

__all__ = ["supervision_fields", "to_fiftyone", "to_supervision"]


def _supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        raise ExportError(
            "supervision is not installed; `pip install supervision` to use this"
        ) from exc
    return supervision


def _compact_mask(sv: Any, masks: Masks) -> Any:
    """supervision ``CompactMask`` from our crops: its RLE is the crop's own column-major
    COCO counts, which :func:`~boxmask.export.rle.crop_counts` computes directly."""
    rles: list[npt.NDArray[np.int32]] = []
    shapes = np.zeros((len(masks), 2), dtype=np.int32)
    offsets = np.zeros((len(masks), 2), dtype=np.int32)
    for i, (x0, y0, crop) in enumerate(masks):
        if not crop.size:
            crop = np.zeros((1, 1), dtype=np.bool_)
            x0 = y0 = 0
        h, w = crop.shape
        rles.append(crop_counts(0, 0, crop, w, h).astype(np.int32))
        shapes[i] = (h, w)
        offsets[i] = (x0, y0)
    return sv.CompactMask(rles, shapes, offsets, (masks.height, masks.width))


def to_supervision(
    detections: Detections,
    *,
    classes: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    compact: bool = True,
) -> Any:
    """An ``sv.Detections`` with the same items (see the module docs for the mapping).

    ``classes`` works as supervision's ``from_vlm(..., classes=)``: only items whose
    label is in it are kept, numbered by their position in it. ``class_names`` fixes
    ``class_id`` the same way but keeps every item (a label not in it raises
    :class:`~boxmask.ExportError`). Without either, ids follow the sorted labels, as
    supervision does. ``compact=False`` forces dense masks.
    """
    sv = _supervision()
    if classes is not None and class_names is not None:
        raise ExportError("pass classes= (a filter) or class_names= (all items), not both")
    if classes is not None:
        wanted = {normalize_label(c) for c in classes}
        keep = [i for i, label in enumerate(detections.labels) if normalize_label(label) in wanted]
        detections = detections[np.array(keep, dtype=np.int64)]
        class_names = classes
    labels = [normalize_label(label) for label in detections.labels]
    names = (
        [normalize_label(n) for n in class_names]
        if class_names is not None
        else sorted(set(labels))
    )
    order: dict[str, int] = {}
    for i, name in enumerate(names):
        order.setdefault(name, i)
    class_id = np.zeros(len(detections), dtype=np.int64)
    for i, name in enumerate(labels):
        if name not in order:
            raise ExportError(f"label {name!r} is not in class_names")
        class_id[i] = order[name]
    mask: Any = None
    if detections.masks is not None:
        if compact and hasattr(sv, "CompactMask"):
            mask = _compact_mask(sv, detections.masks)
        else:
            mask = detections.masks.to_dense()
    return sv.Detections(
        xyxy=detections.boxes.copy(),
        mask=mask,
        confidence=None if detections.scores is None else detections.scores.copy(),
        class_id=class_id,
        data={"class_name": np.array(detections.labels, dtype=object)},
        metadata={"image_wh": (detections.width, detections.height)},
    )


def supervision_fields(
    sv_detections: Any,
    *,
    width: int | None = None,
    height: int | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The :class:`~boxmask.Detections` constructor arguments for an ``sv.Detections``
    (``Detections.from_supervision`` builds it; this module never imports the class, so
    the core does not depend on the exporters at import time).

    The image size comes from ``width``/``height``, else the masks' shape, else
    ``metadata["image_wh"]`` (set by :func:`to_supervision`); without any of them
    :class:`~boxmask.ExportError` is raised. Labels come from ``data["class_name"]``,
    else ``class_names[class_id]``, else ``str(class_id)``. Masks (dense or
    ``CompactMask``) are cut to crops without building more than one dense mask at a time.
    """
    xyxy = np.asarray(sv_detections.xyxy, dtype=np.float64).reshape(-1, 4)
    n = len(xyxy)
    mask = getattr(sv_detections, "mask", None)
    if width is None or height is None:
        if mask is not None:
            shape = getattr(mask, "image_shape", None) or np.shape(mask)[-2:]
            height, width = int(shape[0]), int(shape[1])
        else:
            wh = (getattr(sv_detections, "metadata", None) or {}).get("image_wh")
            if wh is None:
                raise ExportError("pass width= and height=: the detections carry no image size")
            width, height = int(wh[0]), int(wh[1])
    data = getattr(sv_detections, "data", None) or {}
    class_id = getattr(sv_detections, "class_id", None)
    if "class_name" in data:
        labels = [str(v) for v in data["class_name"]]
    elif class_id is not None:
        ids = [int(v) for v in class_id]
        if class_names is not None:
            try:
                labels = [str(class_names[k]) for k in ids]
            except IndexError as exc:
                raise ExportError("a class_id is outside class_names") from exc
        else:
            labels = [str(k) for k in ids]
    else:
        labels = [""] * n
    confidence = getattr(sv_detections, "confidence", None)
    masks = None
    if mask is not None:
        crops: list[Crop | None] = []
        if hasattr(mask, "crop") and hasattr(mask, "offsets"):
            offsets = np.asarray(mask.offsets)
            crops = [
                _tight(int(offsets[i, 0]), int(offsets[i, 1]), np.asarray(mask.crop(i), bool))
                for i in range(n)
            ]
            masks = Masks(crops, width, height)
        elif n:
            dense = np.asarray(mask, dtype=np.bool_)
            if dense.shape[1:] != (height, width):
                raise ExportError(
                    f"masks are {dense.shape[2]}x{dense.shape[1]}, not {width}x{height}"
                )
            masks = Masks.from_dense(dense)
    return {
        "boxes": xyxy,
        "labels": labels,
        "width": width,
        "height": height,
        "scores": None if confidence is None else np.asarray(confidence, dtype=np.float64),
        "masks": masks,
    }


def _tight(x0: int, y0: int, crop: npt.NDArray[np.bool_]) -> Crop | None:
    """A crop cut to its set pixels (CompactMask crops span whole boxes); None if empty."""
    if not crop.size or not crop.any():
        return None
    rows = np.flatnonzero(crop.any(axis=1))
    cols = np.flatnonzero(crop.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return x0 + c0, y0 + r0, np.ascontiguousarray(crop[r0:r1, c0:c1])


def to_fiftyone(detections: Detections) -> list[dict[str, Any]]:
    """FiftyOne-style detections as plain dicts, one per item with a box.

    ``{"label", "bounding_box": [x, y, w, h] relative to the image (0–1, top-left
    corner), "confidence" (None when absent), "mask" (bool array covering the whole
    pixels the box touches, rows ``floor(y)..ceil(y + h)``, columns likewise; None
    without a mask), "mask_pixels_cut" (mask pixels outside that window, normally 0),
    "index" (the item's position in the model's answer)}``. Pass each to
    ``fo.Detection(**d)``; the last two become custom attributes (or drop them).
    Point-only items are left out.
    """
    out: list[dict[str, Any]] = []
    w_img, h_img = float(detections.width), float(detections.height)
    masks = detections.masks
    for i in range(len(detections)):
        if not detections.has_box[i]:
            continue
        x0, y0, x1, y1 = (float(v) for v in detections.boxes[i])
        score = None
        if detections.scores is not None and np.isfinite(detections.scores[i]):
            score = float(detections.scores[i])
        box_mask = None
        cut = 0
        if masks is not None:
            mx0, my0, crop = masks.crop(i)
            if crop.size:
                bx0, by0 = math.floor(x0), math.floor(y0)
                bx1, by1 = max(math.ceil(x1), bx0 + 1), max(math.ceil(y1), by0 + 1)
                box_mask = np.zeros((by1 - by0, bx1 - bx0), dtype=np.bool_)
                # Paste the part of the crop that falls inside the rounded box.
                cx0, cy0 = max(mx0, bx0), max(my0, by0)
                cx1 = min(mx0 + crop.shape[1], bx1)
                cy1 = min(my0 + crop.shape[0], by1)
                if cx1 > cx0 and cy1 > cy0:
                    box_mask[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0] = crop[
                        cy0 - my0 : cy1 - my0, cx0 - mx0 : cx1 - mx0
                    ]
                cut = int(masks.areas[i]) - int(box_mask.sum())
        out.append(
            {
                "label": detections.labels[i],
                "bounding_box": [x0 / w_img, y0 / h_img, (x1 - x0) / w_img, (y1 - y0) / h_img],
                "confidence": score,
                "mask": box_mask,
                "mask_pixels_cut": cut,
                "index": int(detections.source_index[i]),
            }
        )
    return out
