"""Masks: crop-native instance masks. Memory grows with the boxes, not with the image."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Masks"]

BoolArray = npt.NDArray[np.bool_]
Crop = tuple[int, int, BoolArray]

_EMPTY_CROP: BoolArray = np.zeros((0, 0), dtype=np.bool_)
_EMPTY_CROP.setflags(write=False)


class Masks:
    """N instance masks for one ``width × height`` image, each stored at its own box.

    Item ``i`` is an origin ``(x0, y0)`` (pixel column and row of the crop's top-left
    pixel) and a 2-D bool crop; the mask is empty outside the crop. Pixel ``(c, r)``
    covers ``[c, c+1) × [r, r+1)``. Crops always lie inside the image. An item without
    a mask has an empty ``(0, 0)`` crop so indices stay aligned with its Detections.

    Nothing here allocates ``N × H × W`` except :meth:`to_dense`, which the caller asks
    for explicitly.
    """

    __slots__ = ("_areas", "_crops", "_origins", "_probabilities", "height", "width")

    def __init__(
        self,
        crops: Sequence[Crop | None],
        width: int,
        height: int,
        *,
        probabilities: Sequence[npt.NDArray[np.uint8] | None] | None = None,
    ) -> None:
        """Build from ``(x0, y0, bool_crop)`` triples (``None`` = no mask for that item).

        Crops that stick out of the image are cut to it. Arrays are kept, not copied,
        when they are already C-contiguous bool.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        origins = np.zeros((len(crops), 2), dtype=np.int64)
        kept: list[BoolArray] = []
        probs_in = list(probabilities) if probabilities is not None else None
        probs_out: list[npt.NDArray[np.uint8] | None] | None = [] if probs_in is not None else None
        for i, item in enumerate(crops):
            prob = probs_in[i] if probs_in is not None and i < len(probs_in) else None
            if item is None:
                kept.append(_EMPTY_CROP)
                if probs_out is not None:
                    probs_out.append(None)
                continue
            x0, y0, crop = item
            crop = np.asarray(crop)
            if crop.ndim != 2:
                raise ValueError(f"mask crop {i} must be 2-D, got shape {crop.shape}")
            if crop.dtype != np.bool_:
                crop = crop.astype(np.bool_)
            x0, y0, crop, prob = _cut_to_image(int(x0), int(y0), crop, prob, width, height)
            origins[i] = (x0, y0)
            kept.append(np.ascontiguousarray(crop))
            if probs_out is not None:
                probs_out.append(prob)
        self._origins = origins
        self._crops = kept
        self._probabilities = probs_out
        self._areas: npt.NDArray[np.int64] | None = None

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self._crops)

    def __repr__(self) -> str:
        return (
            f"Masks(n={len(self)}, image={self.width}x{self.height}, "
            f"stored_pixels={self.stored_pixels})"
        )

    def __iter__(self) -> Iterator[Crop]:
        for i in range(len(self)):
            yield self.crop(i)

    @property
    def origins(self) -> npt.NDArray[np.int64]:
        """``(N, 2)`` int64 ``(x0, y0)`` of every crop (read-only view)."""
        view = self._origins.view()
        view.setflags(write=False)
        return view

    @property
    def shapes(self) -> npt.NDArray[np.int64]:
        """``(N, 2)`` int64 ``(height, width)`` of every crop."""
        return np.array([c.shape for c in self._crops], dtype=np.int64).reshape(-1, 2)

    @property
    def stored_pixels(self) -> int:
        """Pixels held in crops: the memory footprint in bytes, excluding probabilities."""
        return int(sum(c.size for c in self._crops))

    @property
    def has_mask(self) -> npt.NDArray[np.bool_]:
        """``(N,)`` bool: True where the item has a non-empty crop."""
        return np.array([c.size > 0 for c in self._crops], dtype=np.bool_)

    @property
    def has_probabilities(self) -> bool:
        """Whether the probability maps were kept (``parse(..., keep_probabilities=True)``)."""
        return self._probabilities is not None

    def crop(self, i: int) -> Crop:
        """``(x0, y0, bool_array)`` of item ``i``: the mask is ``bool_array`` placed at
        column ``x0``, row ``y0``; empty (0, 0) when the item has no mask."""
        x0, y0 = self._origins[i]
        return int(x0), int(y0), self._crops[i]

    def probabilities(self, i: int) -> tuple[int, int, npt.NDArray[np.uint8]] | None:
        """The resized 0–255 probability crop of item ``i`` (same origin and shape as
        :meth:`crop`), or None when probabilities were not kept or the item has none."""
        if self._probabilities is None:
            return None
        prob = self._probabilities[i]
        if prob is None:
            return None
        x0, y0 = self._origins[i]
        return int(x0), int(y0), prob

    def crop_boxes(self) -> npt.NDArray[np.int64]:
        """``(N, 4)`` int64 ``[x0, y0, x1, y1]`` (exclusive ends) of each stored crop."""
        shapes = self.shapes
        out = np.zeros((len(self), 4), dtype=np.int64)
        out[:, :2] = self._origins
        out[:, 2] = self._origins[:, 0] + shapes[:, 1]
        out[:, 3] = self._origins[:, 1] + shapes[:, 0]
        return out

    # ------------------------------------------------------------- selection
    def __getitem__(self, index: Any) -> Masks:
        """Select items with a bool array, an index array/list or a slice (no copy)."""
        positions = _positions(index, len(self))
        out = Masks.__new__(Masks)
        out.width = self.width
        out.height = self.height
        out._origins = self._origins[positions]
        out._crops = [self._crops[p] for p in positions]
        out._probabilities = (
            [self._probabilities[p] for p in positions] if self._probabilities is not None else None
        )
        out._areas = self._areas[positions] if self._areas is not None else None
        return out

    @classmethod
    def concatenate(cls, parts: Sequence[Masks]) -> Masks:
        """Join mask sets of the same image size, in order."""
        if not parts:
            raise ValueError("nothing to concatenate")
        width, height = parts[0].width, parts[0].height
        if any((p.width, p.height) != (width, height) for p in parts):
            raise ValueError("masks of different image sizes cannot be concatenated")
        out = Masks.__new__(Masks)
        out.width, out.height = width, height
        out._origins = np.concatenate([p._origins for p in parts]).reshape(-1, 2)
        out._crops = [c for p in parts for c in p._crops]
        if all(p._probabilities is not None for p in parts):
            out._probabilities = [q for p in parts for q in (p._probabilities or [])]
        else:
            out._probabilities = None
        out._areas = None
        return out

    # ---------------------------------------------------------- measurements
    @property
    def areas(self) -> npt.NDArray[np.int64]:
        """``(N,)`` int64 pixel count of every mask (0 for items without a mask)."""
        if self._areas is None:
            self._areas = np.array(
                [cv2.countNonZero(c.view(np.uint8)) if c.size else 0 for c in self._crops],
                dtype=np.int64,
            )
        return self._areas

    def tight_boxes(self) -> npt.NDArray[np.float64]:
        """``(N, 4)`` float64 xyxy pixel-edge boxes around the set pixels.

        A mask covering columns 10..19 gives ``xmin = 10, xmax = 20``. Rows of items
        with an empty mask are NaN.
        """
        out = np.full((len(self), 4), np.nan, dtype=np.float64)
        for i, c in enumerate(self._crops):
            if not c.size:
                continue
            x, y, w, h = cv2.boundingRect(c.view(np.uint8))
            if w == 0 or h == 0:
                continue
            x0, y0 = self._origins[i]
            out[i] = (x0 + x, y0 + y, x0 + x + w, y0 + y + h)
        return out

    # ------------------------------------------------------------ full canvas
    def paste(self, i: int, canvas: npt.NDArray[Any], value: Any = True) -> None:
        """Set ``canvas[mask_i] = value`` on an ``(H, W)`` array (only the crop is touched)."""
        x0, y0, crop = self.crop(i)
        if not crop.size:
            return
        region = canvas[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
        region[crop] = value

    def to_dense(self, indices: Any = None) -> npt.NDArray[np.bool_]:
        """``(N, H, W)`` bool full-image masks. This is the only N×H×W allocation.

        ``indices`` (optional) selects items first, to build only the ones needed.
        """
        masks = self if indices is None else self[indices]
        dense = np.zeros((len(masks), self.height, self.width), dtype=np.bool_)
        for i, (x0, y0, crop) in enumerate(masks):
            if crop.size:
                dense[i, y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        return dense

    def label_map(self, dtype: npt.DTypeLike | None = None) -> npt.NDArray[np.integer[Any]]:
        """``(H, W)`` instance label image: 0 = background, ``i + 1`` for item ``i``;
        where masks overlap, later items are on top. uint16 when N < 65536, else int32."""
        if dtype is None:
            dtype = np.uint16 if len(self) < 65536 else np.int32
        out = np.zeros((self.height, self.width), dtype=dtype)
        for i in range(len(self)):
            self.paste(i, out, i + 1)
        return out

    @classmethod
    def from_dense(cls, masks: npt.ArrayLike) -> Masks:
        """Build crop-native masks from ``(N, H, W)`` (or ``(H, W)``) dense masks."""
        dense = np.asarray(masks)
        if dense.ndim == 2:
            dense = dense[None]
        if dense.ndim != 3:
            raise ValueError(f"dense masks must be (N, H, W), got shape {dense.shape}")
        _, height, width = dense.shape
        crops: list[Crop | None] = []
        for m in dense:
            m8 = np.ascontiguousarray(m, dtype=np.uint8) if m.dtype != np.uint8 else m
            x, y, w, h = cv2.boundingRect(np.ascontiguousarray(m8))
            if w == 0 or h == 0:
                crops.append(None)
                continue
            crops.append((x, y, m8[y : y + h, x : x + w].astype(np.bool_)))
        return cls(crops, width, height)

    # ---------------------------------------------------------------- exports
    def to_rle(self) -> list[Any]:
        """COCO compressed RLE per item, ``{"size": [H, W], "counts": str}``, encoded from
        the crops (no full canvas); byte-identical to ``pycocotools.mask.encode`` on the
        dense mask. Items without a mask give the all-background RLE."""
        from boxmask.export.rle import crops_to_rle

        return list(crops_to_rle(self, self.width, self.height))

    def to_polygons(self, tolerance: float = 0.0) -> list[Any]:
        """Outline per item as :class:`~boxmask.export.polygons.MaskPolygons`: exterior
        rings ``(K, 2) [x, y]`` in pixel-edge image coordinates (every part), plus hole
        rings. ``tolerance`` (pixels) simplifies; 0 keeps the outline exact, so that
        pycocotools rasterizes it back to the same pixels."""
        from boxmask.export.polygons import crops_to_polygons

        return crops_to_polygons(self, tolerance=tolerance)


def _cut_to_image(
    x0: int,
    y0: int,
    crop: BoolArray,
    prob: npt.NDArray[np.uint8] | None,
    width: int,
    height: int,
) -> tuple[int, int, BoolArray, npt.NDArray[np.uint8] | None]:
    h, w = crop.shape
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, width), min(y0 + h, height)
    if cx0 == x0 and cy0 == y0 and cx1 == x0 + w and cy1 == y0 + h:
        return x0, y0, crop, prob
    if cx1 <= cx0 or cy1 <= cy0:
        return 0, 0, _EMPTY_CROP, None
    sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    return cx0, cy0, crop[sl], (prob[sl] if prob is not None else None)


def _positions(index: Any, n: int) -> npt.NDArray[np.intp]:
    if isinstance(index, slice):
        return np.arange(n)[index]
    if isinstance(index, (int, np.integer)):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        return np.array([i % n], dtype=np.intp)
    arr = np.asarray(index)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise IndexError(f"boolean selector must have shape ({n},), got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"cannot select with an array of {arr.dtype}")
    arr = arr.astype(np.intp).ravel()
    if ((arr < -n) | (arr >= n)).any():
        raise IndexError(f"index out of range for {n} items")
    return arr % n if n else arr
