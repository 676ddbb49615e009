"""YOLO (Ultralytics) detection and segmentation label files plus ``data.yaml``.

Layout written by :meth:`YoloDataset.save` / :class:`YoloWriter` under ``root``::

    data.yaml                      names {0: ..., 1: ...} and one entry per split
    images/<split>/<stem>.<ext>    the pictures (hard-linked, else copied; or left out)
    labels/<split>/<stem>.txt      one line per item

Ultralytics finds each label file by replacing the last ``/images/`` of the image path
with ``/labels/`` and the suffix with ``.txt``, so the images are placed in the dataset:
``images="link"`` (default) hard-links them where the file system allows and copies them
elsewhere, ``"copy"`` always copies, ``"none"`` leaves them out (then put them there
yourself). ``data.yaml`` has no ``path`` key, so Ultralytics resolves the split folders
against the yaml's own folder and the dataset can be moved.

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

:class:`YoloDataset` keeps the labels in memory; :class:`YoloWriter` writes each image's
label file as its fragment arrives (the batch and Ray engines), sharing its
:class:`~boxmask.export.categories.Categories` with a COCO writer so class ``k`` is COCO
category ``k + 1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Literal

import numpy as np
import numpy.typing as npt

from boxmask.detections import Detections
from boxmask.errors import ExportError
from boxmask.export.categories import Categories
from boxmask.export.fragments import ExportOptions, YoloLabel, YoloTask, join_parts, yolo_labels
from boxmask.io import atomic_file, atomic_write_text
from boxmask.problems import ExportKind, Problem

__all__ = ["YoloDataset", "YoloWriter", "data_yaml", "join_parts", "read_yolo_boxes"]

FloatArray = npt.NDArray[np.float64]
Task = YoloTask
ImagePlacement = Literal["link", "copy", "none"]


def place_image(source: str | os.PathLike[str], target: Path, how: ImagePlacement) -> None:
    """Put the picture ``source`` at ``target`` (atomically): a hard link when ``how`` is
    ``"link"`` and the file system allows it, else a copy. Raises ``OSError``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if how == "link":
        temporary = target.with_name(f".{target.name}.link")
        try:
            if temporary.exists():
                temporary.unlink()
            os.link(source, temporary)
            os.replace(temporary, target)
            return
        except OSError:  # another file system, or links not allowed: copy
            with contextlib.suppress(OSError):
                temporary.unlink()
    with open(source, "rb") as src, atomic_file(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


#: Characters YAML does not allow in a document (outside YAML's printable set), written
#: as escapes inside the double-quoted names so PyYAML's ``safe_load`` reads them back.
_NOT_YAML_PRINTABLE = re.compile(
    # YAML's printable set, less what it reads as line breaks inside a quoted string
    # (NEL, U+2028, U+2029), which it would fold into spaces.
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _yaml_string(name: str) -> str:
    """``name`` as a double-quoted YAML (and JSON) string that any YAML reader accepts."""
    text = json.dumps(name, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def data_yaml(names: Sequence[str], splits: Sequence[str] = ("train",)) -> str:
    """The ``data.yaml`` text: one key per split, ``names`` as ``{id: name}``.

    Names are double-quoted strings (any script kept as is; characters YAML forbids,
    such as DEL, C1 controls or U+FFFE, as escapes).
    """
    lines = [
        "# Written by boxmask. No `path` key: Ultralytics resolves the folders below",
        "# against this file's folder.",
    ]
    lines += [f"{split}: images/{split}" for split in (list(splits) or ["train"])]
    lines.append(f"nc: {len(names)}")
    lines.append("names:")
    lines += [f"  {i}: {_yaml_string(name)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def _check_split(split: str) -> None:
    if not split or "/" in split or "\\" in split or split in (".", ".."):
        raise ExportError(f"split must be a plain folder name, got {split!r}")


def _stem(file_name: str) -> str:
    stem = PurePath(file_name).stem
    if not stem:
        raise ExportError(f"cannot name a label file after {file_name!r}")
    return stem


def _lines(labels: Iterable[YoloLabel], categories: Categories, file_name: str) -> list[str]:
    """Label lines with their class ids (labels outside fixed categories are skipped)."""
    lines = []
    for label in labels:
        cls = categories.index_of(label.label, image=file_name, index=label.index)
        if cls is not None:
            lines.append(f"{cls} {label.coordinates}")
    return lines


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
        self.options = ExportOptions(coco=False, yolo=task, polygon_tolerance=polygon_tolerance)
        self.problems: list[Problem] = []
        self.categories = Categories(categories, problems=self.problems)
        #: ``(split, stem) -> label file lines``, in the order images were added.
        self.labels: dict[tuple[str, str], list[str]] = {}
        #: ``(split, stem) -> the picture's path`` for images added with ``image=``.
        self.pictures: dict[tuple[str, str], str] = {}

    @property
    def task(self) -> Task:
        """``"detect"`` or ``"segment"``."""
        return self.options.yolo or "segment"

    def __len__(self) -> int:
        return len(self.labels)

    def add(
        self,
        detections: Detections,
        file_name: str,
        split: str = "train",
        *,
        image: str | os.PathLike[str] | None = None,
    ) -> list[str]:
        """Add one image's items; returns its label lines (also kept for :meth:`save`).

        ``file_name`` gives the label file's stem (``dir/a.jpg`` → ``a.txt``); ``image``
        is the picture's path, placed into ``images/<split>/`` by :meth:`save`.
        """
        _check_split(split)
        key = (split, _stem(file_name))
        if key in self.labels:
            raise ExportError(f"labels/{split}/{key[1]}.txt was already added")
        labels, problems = yolo_labels(detections, file_name, self.options)
        self.problems.extend(problems)
        lines = _lines(labels, self.categories, file_name)
        self.labels[key] = lines
        if image is not None:
            self.pictures[key] = os.fspath(image)
        return lines

    def data_yaml(self) -> str:
        """The ``data.yaml`` text (see :func:`data_yaml`)."""
        splits = list(dict.fromkeys(split for split, _ in self.labels))
        return data_yaml(self.categories.names, splits)

    def save(self, root: str | os.PathLike[str], *, images: ImagePlacement = "link") -> Path:
        """Write ``data.yaml`` and every label file under ``root`` (atomically, file by
        file; an image without items gets an empty file), and place the pictures given to
        :meth:`add` as ``images`` says (module docs). Returns ``root``."""
        base = Path(root)
        for (split, stem), lines in self.labels.items():
            text = "".join(line + "\n" for line in lines)
            atomic_write_text(base / "labels" / split / f"{stem}.txt", text)
            picture = self.pictures.get((split, stem))
            if picture is not None and images != "none":
                target = base / "images" / split / f"{stem}{Path(picture).suffix}"
                try:
                    place_image(picture, target, images)
                except OSError as exc:
                    raise ExportError(
                        f"cannot place {picture!r} at {str(target)!r}: {exc}"
                    ) from exc
        atomic_write_text(base / "data.yaml", self.data_yaml())
        return base


class YoloWriter:
    """YOLO label files written as fragments arrive, then ``data.yaml`` (:meth:`finish`).

    ``categories``: shared with a COCO writer (same ids), a list (fixed), or None
    (first-seen). A second answer about the same picture adds its lines to that
    picture's label file; another picture with the same stem in the same split is
    reported (``name_collision``) and its labels skipped: YOLO pairs label files with
    images by name. ``images`` says how pictures get into ``images/<split>/`` (module
    docs); a picture that cannot be placed is reported (``image_not_placed``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        categories: Categories | Sequence[str] | None = None,
        images: ImagePlacement = "link",
    ) -> None:
        if images not in ("link", "copy", "none"):
            raise ExportError(f"images must be 'link', 'copy' or 'none', got {images!r}")
        self.images = images
        self.root = Path(root)
        self.categories = (
            categories if isinstance(categories, Categories) else Categories(categories)
        )
        self.problems: list[Problem] = []
        #: Every file written so far (label files, placed pictures, ``data.yaml``).
        self.written: list[Path] = []
        self._owners: dict[tuple[str, str], str] = {}  # (split, stem) -> picture key
        self._splits: dict[str, None] = {}

    def add(
        self,
        labels: Iterable[YoloLabel],
        file_name: str,
        *,
        key: str | None = None,
        split: str = "train",
        image: str | os.PathLike[str] | None = None,
    ) -> list[Problem]:
        """Write (or extend) the label file of one image and place its picture ``image``
        (a local file; None when the answer came with a size only); returns the problems."""
        _check_split(split)
        stem = _stem(file_name)
        picture = key if key is not None else file_name
        before = len(self.categories.problems)
        owner = self._owners.get((split, stem))
        if owner is not None and owner != picture:
            message = (
                f"YOLO labels/{split}/{stem}.txt already holds the labels of {owner}; "
                "YOLO pairs label files with images by name, so these labels were skipped"
            )
            problem = Problem(None, ExportKind.NAME_COLLISION, message, dropped=True, image=picture)
            self.problems.append(problem)
            return [problem]
        path = self.root / "labels" / split / f"{stem}.txt"
        text = "".join(line + "\n" for line in _lines(labels, self.categories, file_name))
        if owner is not None:  # a second answer about the same image: add its lines
            text = path.read_text(encoding="utf-8") + text
        self._owners[(split, stem)] = picture
        self._splits.setdefault(split)
        atomic_write_text(path, text)
        if owner is None:
            self.written.append(path)
        problems = list(self.categories.problems[before:])
        if owner is None and self.images != "none":
            problems.extend(self._place(image, file_name, split, stem, picture))
        self.problems.extend(problems)
        return problems

    def _place(
        self, image: str | os.PathLike[str] | None, file_name: str, split: str, stem: str, key: str
    ) -> list[Problem]:
        if image is None:
            why = "the answer came with a size, not an image file"
        else:
            suffix = Path(image).suffix or Path(file_name).suffix
            target = self.root / "images" / split / f"{stem}{suffix}"
            try:
                place_image(image, target, self.images)
                self.written.append(target)
                return []
            except OSError as exc:
                why = f"{exc.strerror or exc}"
        message = f"picture not placed in images/{split}/ ({why}); YOLO cannot train on it"
        return [Problem(None, ExportKind.IMAGE_NOT_PLACED, message, image=key)]

    def finish(self) -> Path:
        """Write ``data.yaml`` for the classes seen; returns its path."""
        path = atomic_write_text(
            self.root / "data.yaml", data_yaml(self.categories.names, list(self._splits))
        )
        self.written.append(path)
        return path


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
