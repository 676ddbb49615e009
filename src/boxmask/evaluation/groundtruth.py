"""Ground truth: a COCO instances file, checked and indexed for matching answers to it.

What is checked (each fault is one :class:`EvalInputError` line naming the file and the
entry): the file is JSON holding an object with ``images``, ``annotations`` and a
non-empty ``categories`` list; every image has an ``id``, a ``file_name`` and a positive
``width``/``height``; every category an ``id`` and a ``name``; every annotation an
``image_id`` and ``category_id`` that exist and a ``bbox`` ``[x, y, w, h]`` (pixels, top
left corner). Repairs pycocotools needs and that lose nothing are made and counted in
:attr:`GroundTruth.notes`: a missing annotation ``id`` (numbered), ``iscrowd`` (0) or
``area`` (the mask's pixel count, else the box area).

Images are found by ``file_name``: the longest trailing part of an answer's image path
equal to a GT ``file_name`` (``val/a.jpg`` matches ``/data/val/a.jpg``), else the
basename when exactly one GT image has it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from boxmask.errors import BoxmaskError

__all__ = ["EvalInputError", "GroundTruth", "load_ground_truth"]


class EvalInputError(BoxmaskError, ValueError):
    """Ground truth, answers or a label map that cannot be evaluated (one line: why)."""


def require_pycocotools() -> None:
    """Raise :class:`EvalInputError` with the install hint when pycocotools is absent."""
    try:
        import pycocotools.cocoeval  # noqa: F401
    except ImportError:
        raise EvalInputError("evaluation needs pycocotools: pip install 'boxmask[eval]'") from None


@dataclass
class GroundTruth:
    """A checked COCO ground truth and its pycocotools ``COCO`` object.

    ``images`` maps image id to ``(file_name, width, height)``; ``categories`` maps
    category id to name, in file order. ``has_masks`` is True when every non-crowd
    annotation carries a ``segmentation`` (so segm can be evaluated).
    """

    coco: Any
    source: str
    images: dict[int, tuple[str, int, int]]
    categories: dict[int, str]
    annotation_count: int
    has_masks: bool
    notes: list[str] = field(default_factory=list)
    _by_name: dict[str, int] = field(default_factory=dict, repr=False)
    _by_basename: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _by_stem: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for image_id, (file_name, _, _) in self.images.items():
            key = PurePath(file_name).as_posix()
            self._by_name.setdefault(key, image_id)
            self._by_basename.setdefault(PurePath(file_name).name, []).append(image_id)
            self._by_stem.setdefault(PurePath(file_name).stem, []).append(image_id)

    def find_stem(self, answer_name: str) -> int | None:
        """The one GT image named like an answer file without its suffixes
        (``a.txt`` / ``a.seg.txt`` → ``a.png``), else None."""
        name = PurePath(answer_name).name
        for stem in dict.fromkeys((PurePath(name).stem, name.split(".")[0])):
            hits = self._by_stem.get(stem, [])
            if len(hits) == 1:
                return hits[0]
        return None

    def find_image(self, path: str) -> int | None:
        """The GT image id an answer's image path (or file name) refers to, else None."""
        parts = PurePath(path).parts
        for k in range(len(parts)):
            image_id = self._by_name.get("/".join(parts[k:]))
            if image_id is not None:
                return image_id
        candidates = self._by_basename.get(PurePath(path).name, [])
        return candidates[0] if len(candidates) == 1 else None

    def size_of(self, image_id: int) -> tuple[int, int]:
        """``(width, height)`` of a GT image in pixels."""
        _, width, height = self.images[image_id]
        return width, height

    def file_name(self, image_id: int) -> str:
        return self.images[image_id][0]


def load_ground_truth(source: str | os.PathLike[str] | dict[str, Any]) -> GroundTruth:
    """Read and check a COCO instances file (path) or dict (copied, never changed); see
    the module doc."""
    require_pycocotools()
    from pycocotools.coco import COCO

    if not isinstance(source, (str, os.PathLike)):
        name, data = "(dict)", copy.deepcopy(source)
    else:
        name = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise EvalInputError(f"ground truth {name} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise EvalInputError(f"cannot read ground truth {name}: {exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EvalInputError(f"ground truth {name} is not COCO: not JSON ({exc})") from None
    images, categories, notes = _check(data, name)
    has_masks = _check_annotations(data, name, images, categories, notes)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return GroundTruth(
        coco=coco,
        source=name,
        images=images,
        categories=categories,
        annotation_count=len(data["annotations"]),
        has_masks=has_masks,
        notes=notes,
    )


def _check(
    data: Any, name: str
) -> tuple[dict[int, tuple[str, int, int]], dict[int, str], list[str]]:
    if not isinstance(data, dict):
        kind = type(data).__name__
        hint = " (that looks like a COCO results file)" if isinstance(data, list) else ""
        raise EvalInputError(
            f"ground truth {name} is not COCO: a JSON {kind}, not an object with images, "
            f"annotations and categories{hint}"
        )
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise EvalInputError(f"ground truth {name} is not COCO: no {key!r} list")
    if not isinstance(data.get("categories"), list) or not data["categories"]:
        raise EvalInputError(
            f"ground truth {name} has no categories: COCO needs a 'categories' list of "
            "{id, name} to match labels to"
        )
    categories: dict[int, str] = {}
    for k, cat in enumerate(data["categories"]):
        try:
            cat_id, cat_name = int(cat["id"]), str(cat["name"])
        except (KeyError, TypeError, ValueError):
            raise EvalInputError(
                f"ground truth {name}: categories[{k}] needs an integer 'id' and a 'name'"
            ) from None
        if cat_id in categories:
            raise EvalInputError(f"ground truth {name}: category id {cat_id} appears twice")
        categories[cat_id] = cat_name
    images: dict[int, tuple[str, int, int]] = {}
    for k, img in enumerate(data["images"]):
        try:
            image_id, file_name = int(img["id"]), str(img["file_name"])
            width, height = int(img["width"]), int(img["height"])
        except (KeyError, TypeError, ValueError):
            raise EvalInputError(
                f"ground truth {name}: images[{k}] needs 'id', 'file_name', 'width' and 'height'"
            ) from None
        if width <= 0 or height <= 0:
            raise EvalInputError(
                f"ground truth {name}: image {file_name!r} has size {width}x{height}"
            )
        if image_id in images:
            raise EvalInputError(f"ground truth {name}: image id {image_id} appears twice")
        images[image_id] = (file_name, width, height)
    if not images:
        raise EvalInputError(f"ground truth {name} has no images")
    return images, categories, []


def _check_annotations(
    data: dict[str, Any],
    name: str,
    images: dict[int, tuple[str, int, int]],
    categories: dict[int, str],
    notes: list[str],
) -> bool:
    """Check annotations, fill ``id``/``iscrowd``/``area``; True when all have masks."""
    from pycocotools import mask as mask_utils

    anns = data["annotations"]
    used_ids = {a.get("id") for a in anns if isinstance(a, dict)}
    next_id = max((i for i in used_ids if isinstance(i, int)), default=0) + 1
    filled = {"id": 0, "iscrowd": 0, "area": 0}
    has_masks = True
    for k, ann in enumerate(anns):
        where = f"ground truth {name}: annotations[{k}]"
        if not isinstance(ann, dict):
            raise EvalInputError(f"{where} is not an object")
        try:
            image_id, cat_id = int(ann["image_id"]), int(ann["category_id"])
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            raise EvalInputError(
                f"{where} needs 'image_id', 'category_id' and a 'bbox' [x, y, w, h]"
            ) from None
        if image_id not in images:
            raise EvalInputError(f"{where} refers to image id {image_id}, not in 'images'")
        if cat_id not in categories:
            raise EvalInputError(f"{where} refers to category id {cat_id}, not in 'categories'")
        ann["bbox"] = [x, y, w, h]
        if not isinstance(ann.get("id"), int):
            ann["id"], next_id, filled["id"] = next_id, next_id + 1, filled["id"] + 1
        if "iscrowd" not in ann:
            ann["iscrowd"], filled["iscrowd"] = 0, filled["iscrowd"] + 1
        segmentation = ann.get("segmentation")
        if not segmentation and not ann["iscrowd"]:
            has_masks = False
        if "area" not in ann:
            filled["area"] += 1
            ann["area"] = _area(mask_utils, segmentation, images[image_id], w * h, where)
    for key, count in filled.items():
        if count:
            how = {"id": "numbered", "iscrowd": "set to 0", "area": "computed from mask/box"}
            notes.append(f"{count} GT annotation(s) had no {key!r}: {how[key]}")
    return has_masks and bool(anns)


def _area(
    mask_utils: Any, segmentation: Any, image: tuple[str, int, int], box_area: float, where: str
) -> float:
    if not segmentation:
        return box_area
    _, width, height = image
    try:
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles) if isinstance(rles, list) else rles
        return float(mask_utils.area(rle))
    except (TypeError, ValueError, KeyError, IndexError):
        raise EvalInputError(f"{where} has a segmentation pycocotools cannot read") from None
