"""COCO instance-segmentation datasets and results files, straight from mask crops.

What :class:`CocoDataset` writes (``reference/formats.md`` §1):

- ``info`` and ``licenses`` always (older pycocotools ``loadRes`` fails without ``info``);
  ``images`` with ``id``, ``file_name``, ``width``, ``height``; ``categories`` with ids
  ``1..K`` (see :mod:`boxmask.export.categories` for ids and label normalization).
- One annotation per item with a box: ``id`` (unique, from 1), ``image_id``,
  ``category_id``, ``bbox = [x, y, w, h]`` float pixels (top-left corner, pixel edges;
  from the model's box, or the tight mask box with ``bbox_from="mask"``), ``area`` (the
  mask's pixel count; the box area for items without a mask), ``iscrowd = 0``,
  ``segmentation`` and, when the model gave one, ``score``.
- ``segmentation``: compressed RLE (``mask_format="rle"``, ``counts`` a str, lossless,
  byte-identical to pycocotools) or polygons (``mask_format="polygon"``: one exterior
  ring per part, pixel-edge coordinates that pycocotools rasterizes back to the same
  pixels). A mask with holes cannot be a COCO polygon: in polygon mode it is written as
  RLE with ``iscrowd = 0`` (never as crowd) and reported ``holes_as_rle``.
- **Every annotation has a segmentation**, so ``annToMask``, ``annToRLE``, ``showAnns``
  and ``COCOeval(..., "segm")`` work on any file. An item without a mask (a box-only
  answer, or an item whose mask is missing or empty) follows pycocotools' own convention
  for box results (``COCO.loadRes``): its segmentation is the box polygon
  ``[[x0, y0, x1, y0, x1, y1, x0, y1]]`` and its ``area`` the box area ``w * h`` (not
  the pixel count of the box). In an RLE file the same box pixels are written as RLE
  (the pixels ``annToMask`` gives for that polygon), so one file holds one representation.

Items that are not written as they came are reported in :attr:`CocoDataset.problems`
(:class:`~boxmask.Problem`, stage ``export``), with these kinds:

- ``point_only`` — the item has a point but no box: COCO has no place for it; skipped.
- ``no_mask`` / ``empty_mask`` — the answer had masks but this item's is missing or has
  no pixels: its segmentation is its box (see above). A box-only answer (no masks at
  all) gets box segmentations too, and nothing is reported.
- ``holes_as_rle`` — polygon mode, mask with holes written as RLE (``iscrowd = 0``).
- ``label_normalized``, ``label_collision``, ``unknown_category`` — see categories.

Results files (:meth:`CocoDataset.results`) are what ``COCO.loadRes`` and ``COCOeval``
read: a list of ``{image_id, category_id, segmentation | bbox, score}``. Segm results
carry no ``bbox`` key (``loadRes`` would take the bbox branch and use the box area, a
pycocotools quirk) and their segmentation is always compressed RLE (``loadRes`` accepts
nothing else). An item without a confidence gets ``score = 1.0``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from boxmask.detections import Detections
from boxmask.errors import ExportError
from boxmask.export.categories import Categories
from boxmask.export.coco_writer import CocoNumbering, joined, write_coco
from boxmask.export.fragments import ExportOptions, ImageRecord, MaskFormat, coco_annotations
from boxmask.export.rle import crop_to_rle, rle_to_crop
from boxmask.io import atomic_write_json, atomic_writer
from boxmask.masks.polygon import rasterize_polygons
from boxmask.masks.store import Crop, Masks
from boxmask.problems import ExportKind, Problem

__all__ = ["CocoDataset"]

IouType = Literal["segm", "bbox"]

_DEFAULT_INFO: dict[str, Any] = {
    "description": "Exported by boxmask",
    "version": "1.0",
    "contributor": "",
    "url": "",
}


class CocoDataset:
    """A COCO dataset built image by image from :class:`~boxmask.Detections`.

    ``mask_format``: ``"rle"`` (default, lossless) or ``"polygon"``.
    ``categories``: a list of names fixes the ids (1..K in order; other labels are
    skipped and reported); None assigns 1..K in first-seen order, stable across images.
    ``bbox_from``: ``"model"`` (the box the model gave) or ``"mask"`` (tight box around
    the mask pixels, for items with a mask). ``polygon_tolerance``: simplification in
    pixels for polygon mode (0 = exact). ``info``/``licenses`` replace the defaults.
    """

    def __init__(
        self,
        mask_format: MaskFormat = "rle",
        categories: Sequence[str] | None = None,
        *,
        bbox_from: Literal["model", "mask"] = "model",
        polygon_tolerance: float = 0.0,
        info: dict[str, Any] | None = None,
        licenses: list[dict[str, Any]] | None = None,
    ) -> None:
        self.options = ExportOptions(
            mask_format=mask_format,
            bbox_from=bbox_from,
            polygon_tolerance=float(polygon_tolerance),
        )
        self.info: dict[str, Any] = dict(_DEFAULT_INFO if info is None else info)
        self.licenses: list[dict[str, Any]] = list(licenses or [])
        self.problems: list[Problem] = []
        self._numbering = CocoNumbering(Categories(categories, problems=self.problems))
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._file_names: set[str] = set()
        self._by_image: dict[int, list[int]] | None = None
        self._left_out: set[int] = set()  # annotation ids reported missing from results

    @property
    def mask_format(self) -> MaskFormat:
        """``"rle"`` or ``"polygon"``: how masks are written."""
        return self.options.mask_format

    @property
    def categories(self) -> Categories:
        """The dataset's categories (label → id)."""
        return self._numbering.categories

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (
            f"CocoDataset(images={len(self.images)}, annotations={len(self.annotations)}, "
            f"categories={len(self.categories)}, mask_format={self.mask_format!r}, "
            f"problems={len(self.problems)})"
        )

    # ------------------------------------------------------------------ building
    def add(self, detections: Detections, file_name: str, image_id: int | None = None) -> int:
        """Add one image and its items; returns the image id.

        ``file_name`` is stored as given (relative to the images folder, by convention);
        ``image_id`` defaults to one more than the largest id so far (first image: 1).
        Raises :class:`~boxmask.ExportError` for a repeated file name or image id.
        """
        if not isinstance(file_name, str) or not file_name:
            raise ExportError("file_name must be a non-empty string")
        if file_name in self._file_names:
            raise ExportError(f"image {file_name!r} was already added")
        if image_id is not None and (
            isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer))
        ):
            raise ExportError(f"image_id must be an int, got {image_id!r}")
        annotations, problems = coco_annotations(detections, file_name, self.options)
        self.problems.extend(problems)
        record = ImageRecord(file_name, int(detections.width), int(detections.height))
        added = self._numbering.add(
            record, annotations, image_id=None if image_id is None else int(image_id)
        )
        self._file_names.add(file_name)
        self._by_image = None
        assert added.entry is not None  # file names are unique here
        self.images.append(added.entry)
        self.annotations.extend(added.annotations)
        return added.image_id

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """The dataset as a COCO dict (shares the lists; copy before changing it)."""
        return {
            "info": self.info,
            "licenses": self.licenses,
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories.coco(),
        }

    def save(self, path: str | os.PathLike[str], *, indent: int | None = None) -> Path:
        """Write the dataset as UTF-8 JSON (labels as written, not ``\\u`` escaped),
        atomically, in the layout of :func:`~boxmask.export.coco_writer.write_coco` (the
        batch engines write the same bytes), or indented by ``indent``. Returns the path."""
        if indent is not None:
            return atomic_write_json(path, self.to_dict(), indent=indent)
        with atomic_writer(path) as out:
            write_coco(
                out,
                self.info,
                self.licenses,
                joined(self.images),
                joined(self.annotations),
                self.categories.coco(),
            )
        return Path(path)

    def results(self, iou_type: IouType = "segm") -> list[dict[str, Any]]:
        """The annotations as a COCO *results* list for ``COCO.loadRes`` / ``COCOeval``.

        ``"segm"``: ``{image_id, category_id, segmentation (compressed RLE), score}``,
        without ``bbox`` (see the module docs); items without segmentation are left out
        and reported ``no_segmentation``. ``"bbox"``: ``{image_id, category_id, bbox,
        score}``. ``score`` is the model's confidence, 1.0 when it gave none. Note that
        ``loadRes`` raises on an empty list (pycocotools issue #450).
        """
        if iou_type not in ("segm", "bbox"):
            raise ExportError(f"iou_type must be 'segm' or 'bbox', got {iou_type!r}")
        sizes = {img["id"]: (int(img["width"]), int(img["height"])) for img in self.images}
        names = {img["id"]: img["file_name"] for img in self.images}
        out: list[dict[str, Any]] = []
        for ann in self.annotations:
            entry: dict[str, Any] = {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
            }
            if iou_type == "bbox":
                entry["bbox"] = list(ann["bbox"])
            else:
                segmentation = ann.get("segmentation")
                if segmentation is None:
                    if ann["id"] in self._left_out:
                        continue
                    self._left_out.add(ann["id"])
                    self.problems.append(
                        Problem(
                            None,
                            ExportKind.NO_SEGMENTATION,
                            f"annotation {ann['id']} has no segmentation; left out of segm results",
                            dropped=True,
                            image=names.get(ann["image_id"]),
                        )
                    )
                    continue
                width, height = sizes[ann["image_id"]]
                entry["segmentation"] = _as_rle(segmentation, width, height)
            entry["score"] = float(ann.get("score", 1.0))
            out.append(entry)
        return out

    def save_results(
        self,
        path: str | os.PathLike[str],
        iou_type: IouType = "segm",
        *,
        indent: int | None = None,
    ) -> Path:
        """Write :meth:`results` as UTF-8 JSON, atomically. Returns the path."""
        return atomic_write_json(path, self.results(iou_type), indent=indent)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CocoDataset:
        """A dataset from a COCO dict (categories keep their ids and become fixed)."""
        if not isinstance(data, dict):
            raise ExportError("a COCO dataset is a JSON object with images and annotations")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise ExportError(f"COCO data has no {key!r} list")
        polygons = any(isinstance(a.get("segmentation"), list) for a in data["annotations"][:1])
        out = cls("polygon" if polygons else "rle")
        try:
            numbering = CocoNumbering(
                Categories.from_ids(
                    ((int(c["id"]), str(c["name"])) for c in data["categories"]),
                    problems=out.problems,
                )
            )
            for img in data["images"]:
                record = ImageRecord(str(img["file_name"]), int(img["width"]), int(img["height"]))
                numbering.add(record, (), key=f"#{img['id']}", image_id=int(img["id"]))
                out._file_names.add(record.file_name)
            numbering.annotations = max((int(a["id"]) for a in data["annotations"]), default=0)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"malformed COCO entry: {exc!r}") from exc
        except ExportError as exc:
            raise ExportError(f"malformed COCO data: {exc}") from exc
        out._numbering = numbering
        out.info = dict(data.get("info") or {})
        out.licenses = list(data.get("licenses") or [])
        out.images = list(data["images"])
        out.annotations = list(data["annotations"])
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CocoDataset:
        """Read a COCO JSON file (UTF-8). Raises :class:`~boxmask.ExportError` when the
        file is missing or not a COCO dataset."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ExportError(f"cannot read COCO file {str(path)!r}: {exc}") from exc
        return cls.from_dict(data)

    def _image(self, image: int | str) -> dict[str, Any]:
        for img in self.images:
            if img["id"] == image or img["file_name"] == image:
                return img
        raise ExportError(f"no image {image!r} in this dataset")

    def to_detections(self, image: int | str) -> Detections:
        """The items of one image (by id or file name) as :class:`~boxmask.Detections`.

        Boxes come from ``bbox``; labels from the category names; scores from ``score``
        when any annotation has one; masks from RLE (compressed or not) or polygons
        (rasterized as pycocotools does), None when no annotation has a segmentation.
        """
        img = self._image(image)
        width, height = int(img["width"]), int(img["height"])
        if self._by_image is None:
            self._by_image = {}
            for k, ann in enumerate(self.annotations):
                self._by_image.setdefault(ann["image_id"], []).append(k)
        anns = [self.annotations[k] for k in self._by_image.get(img["id"], [])]
        boxes = np.zeros((len(anns), 4), dtype=np.float64)
        labels: list[str] = []
        scores = np.full(len(anns), np.nan)
        crops: list[Crop | None] = []
        try:
            for k, ann in enumerate(anns):
                x, y, w, h = (float(v) for v in ann["bbox"])
                boxes[k] = (x, y, x + w, y + h)
                labels.append(self.categories.name_of(int(ann["category_id"])))
                if "score" in ann:
                    scores[k] = float(ann["score"])
                crops.append(_to_crop(ann.get("segmentation"), width, height))
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"malformed annotation in image {img['id']}: {exc!r}") from exc
        any_mask = any(c is not None for c in crops)
        return Detections(
            boxes,
            labels,
            width=width,
            height=height,
            scores=scores if np.isfinite(scores).any() else None,
            masks=Masks(crops, width, height) if any_mask else None,
        )

    def iter_detections(self) -> Iterator[tuple[str, Detections]]:
        """``(file_name, Detections)`` for every image, in dataset order."""
        for img in self.images:
            yield str(img["file_name"]), self.to_detections(img["id"])


def _as_rle(segmentation: Any, width: int, height: int) -> dict[str, Any]:
    """Compressed RLE for any COCO segmentation (RLE passes through; polygons are
    rasterized the way pycocotools does, then encoded from the crop)."""
    if isinstance(segmentation, dict):
        if isinstance(segmentation.get("counts"), str):
            return segmentation
        x0, y0, crop = rle_to_crop(segmentation)
        return dict(crop_to_rle(x0, y0, crop, width, height))
    found = _to_crop(segmentation, width, height)
    x0, y0, crop = found if found is not None else (0, 0, np.zeros((0, 0), dtype=np.bool_))
    return dict(crop_to_rle(x0, y0, crop, width, height))


def _to_crop(segmentation: Any, width: int, height: int) -> Crop | None:
    if segmentation is None:
        return None
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        if size is not None and [int(v) for v in size] != [height, width]:
            raise ExportError(f"RLE size {size} does not match the image {height}x{width}")
        return rle_to_crop(segmentation)
    if isinstance(segmentation, list):
        rings = [
            np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in segmentation if len(p) >= 6
        ]
        return rasterize_polygons(rings, width, height)
    raise ExportError(f"unknown segmentation of type {type(segmentation).__name__}")
