"""Numbering COCO fragments, and writing a COCO file as fragments arrive.

:class:`CocoNumbering` is the one place COCO ids are assigned: images ``1..N`` in the
order they are added, annotations ``1..M`` likewise, categories through
:class:`~boxmask.export.categories.Categories` (given, or ``1..K`` first-seen). It serves
the in-memory :class:`~boxmask.CocoDataset` and the streaming :class:`CocoWriter`, which
the batch and Ray engines use: same input order, same bytes, whatever the engine.

Answers about the same picture (same ``key``: its path) share one image entry. The same
``file_name`` with another key, or of another size, gets its own entry and a reported
``name_collision``: COCO tools look images up by name.

The file layout (:func:`write_coco`) is compact JSON, one image or annotation per line::

    {"info":{...},
    "licenses":[...],
    "images":[
    {"id":1,"file_name":"a.jpg","width":640,"height":480},
    ...
    ],
    "annotations":[
    {"id":1,"image_id":1,"category_id":1,"segmentation":{...},"area":...,...},
    ...
    ],
    "categories":[...]}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from boxmask.errors import ExportError
from boxmask.export.categories import Categories
from boxmask.export.fragments import Annotation, ImageRecord
from boxmask.io import atomic_writer
from boxmask.problems import ExportKind, Problem

__all__ = [
    "AddedImage",
    "CocoNumbering",
    "CocoWriter",
    "coco_annotation",
    "coco_image",
    "dump_json",
    "joined",
    "write_coco",
]


# The standard library's encoder, for what orjson refuses; one instance for every entry.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(value: Any) -> str:
    """Compact UTF-8 JSON (labels as written, not ``\\u`` escaped).

    orjson writes it: the 10 annotations of a box-only answer (5 floats each, an RLE
    string) in 5.6 µs against 61 µs for ``json``'s C encoder, the largest cost of a
    box-only batch's parent process. What orjson refuses (lone surrogates in a label,
    integers beyond 64 bits, non-string keys) goes through ``json`` instead; both give
    the same values (float exponents are spelled ``1e16`` by one, ``1e+16`` by the other).
    """
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODER.encode(value)


@dataclass
class AddedImage:
    """What numbering one fragment gave: its image id, whether it joined an earlier image
    entry of the same picture, its image entry (None when merged), its annotations with
    ids, the position in the fragment of each of them (annotations whose label the
    categories refuse are left out), and the problems met (name collisions, category
    notes)."""

    image_id: int
    merged: bool
    entry: dict[str, Any] | None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)


def coco_image(image_id: int, image: ImageRecord) -> dict[str, Any]:
    """The COCO image entry of ``image`` (size in pixels), keys in boxmask's order."""
    return {
        "id": image_id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
    }


def coco_annotation(
    annotation: Annotation, annotation_id: int, image_id: int, category_id: int
) -> dict[str, Any]:
    """The COCO dict of one annotation, keys in the order boxmask always writes them."""
    out: dict[str, Any] = {"id": annotation_id, "image_id": image_id, "category_id": category_id}
    if annotation.segmentation is not None:
        out["segmentation"] = annotation.segmentation
    out["area"] = annotation.area
    out["bbox"] = list(annotation.bbox)
    out["iscrowd"] = 0
    if annotation.score is not None:
        out["score"] = annotation.score
    return out


class CocoNumbering:
    """Image, annotation and category ids for fragments added in order (module docs)."""

    def __init__(self, categories: Categories | Sequence[str] | None = None) -> None:
        self.categories = (
            categories if isinstance(categories, Categories) else Categories(categories)
        )
        self.images = 0
        self.annotations = 0
        self._max_image_id = 0
        self._image_ids: set[int] = set()
        # file name -> (image id, width, height, picture key)
        self._by_name: dict[str, tuple[int, int, int, str]] = {}

    def add(
        self,
        image: ImageRecord,
        annotations: Iterable[Annotation],
        *,
        key: str | None = None,
        image_id: int | None = None,
    ) -> AddedImage:
        """Number one image's fragment. ``key`` identifies the picture (default: its file
        name); ``image_id`` forces an id (else one more than the largest so far)."""
        problems_before = len(self.categories.problems)
        added = self._image(image, key if key is not None else image.file_name, image_id)
        for position, annotation in enumerate(annotations):
            category = self.categories.id_of(
                annotation.label, image=image.file_name, index=annotation.index
            )
            if category is None:
                continue
            self.annotations += 1
            added.positions.append(position)
            added.annotations.append(
                coco_annotation(annotation, self.annotations, added.image_id, category)
            )
        added.problems.extend(self.categories.problems[problems_before:])
        return added

    def _image(self, image: ImageRecord, key: str, image_id: int | None) -> AddedImage:
        known = self._by_name.get(image.file_name)
        size = (image.width, image.height)
        problems = []
        if known is not None:
            if (known[1], known[2]) == size and known[3] == key:
                return AddedImage(known[0], merged=True, entry=None)
            other = "of another size" if (known[1], known[2]) != size else f"({known[3]})"
            message = (
                f"file name {image.file_name!r} already used by image {known[0]} {other}; "
                "COCO tools that look images up by name will confuse them"
            )
            problems.append(Problem(None, ExportKind.NAME_COLLISION, message, image=key))
        if image_id is None:
            image_id = self._max_image_id + 1
        elif image_id in self._image_ids:
            raise ExportError(f"image id {image_id} is already used")
        self._image_ids.add(image_id)
        self._max_image_id = max(self._max_image_id, image_id)
        self.images += 1
        self._by_name.setdefault(image.file_name, (image_id, image.width, image.height, key))
        return AddedImage(
            image_id, merged=False, entry=coco_image(image_id, image), problems=problems
        )


def write_coco(
    out: IO[str],
    info: dict[str, Any],
    licenses: list[dict[str, Any]],
    images: Iterable[str],
    annotations: Iterable[str],
    categories: list[dict[str, Any]],
) -> None:
    """Write a COCO file in boxmask's layout (module docs). ``images`` and
    ``annotations`` are chunks of text that together form the entries joined by
    ``,\\n`` (see :func:`joined`)."""
    out.write('{"info":' + dump_json(info) + ',\n"licenses":' + dump_json(licenses))
    out.write(',\n"images":[\n')
    out.writelines(images)
    out.write('\n],\n"annotations":[\n')
    out.writelines(annotations)
    out.write('\n],\n"categories":' + dump_json(categories) + "}\n")


def joined(entries: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The JSON text of each entry, with the ``,\\n`` separators of :func:`write_coco`."""
    first = True
    for entry in entries:
        yield dump_json(entry) if first else ",\n" + dump_json(entry)
        first = False


class CocoWriter:
    """A COCO file written as fragments arrive: :meth:`add` each image's fragment in
    input order, then :meth:`finish` (or :meth:`abort`).

    Images and annotations stream to temporary files beside ``path``, so memory stays
    flat however long the run; :meth:`finish` assembles the final file and renames it into
    place atomically. ``categories``: a list of names fixes the ids, a shared
    :class:`~boxmask.export.categories.Categories` keeps other writers (YOLO) on the same
    ids, None assigns ``1..K`` first-seen. ``numbering`` shares the ids of another
    writer instead (COCO shards: one numbering, several files; then ``categories`` is
    not given). Usable as a context manager (aborts on errors).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        categories: Categories | Sequence[str] | None = None,
        info: dict[str, Any] | None = None,
        licenses: list[dict[str, Any]] | None = None,
        numbering: CocoNumbering | None = None,
    ) -> None:
        if numbering is not None and categories is not None:
            raise ValueError("give categories or a shared numbering, not both")
        self.path = Path(path)
        self.numbering = numbering if numbering is not None else CocoNumbering(categories)
        self.info = dict(info or {})
        self.licenses = list(licenses or [])
        self.problems: list[Problem] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._parts = [self._temp("images"), self._temp("annotations")]
        except OSError as exc:
            raise ExportError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from exc
        self._counts = [0, 0]
        self._closed = False

    @property
    def categories(self) -> Categories:
        """The categories (ids) of this file."""
        return self.numbering.categories

    def _temp(self, part: str) -> tuple[IO[str], str]:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.{part}.", dir=self.path.parent)
        # Lone surrogates (valid JSON from a model, not encodable as UTF-8) become \\uXXXX
        # escapes: still inside their JSON string, so the file stays valid JSON.
        # A 1 MiB buffer: one write call per ~200 box-only answers, not per one or two
        # (1.3 against 5 µs per answer's annotations).
        handle = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", buffering=2**20)
        return handle, name

    def _write(self, which: int, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` to part ``which`` (0 images, 1 annotations) in one write."""
        if not entries:
            return
        text = ",\n".join([dump_json(entry) for entry in entries])
        self._parts[which][0].write(text if self._counts[which] == 0 else ",\n" + text)
        self._counts[which] += len(entries)

    def add(
        self,
        image: ImageRecord,
        annotations: Iterable[Annotation],
        *,
        key: str | None = None,
    ) -> AddedImage:
        """Number and write one image's fragment; see :meth:`CocoNumbering.add`."""
        added = self.numbering.add(image, annotations, key=key)
        self.write(added, added.entry)
        self.problems.extend(added.problems)
        return added

    def write(self, added: AddedImage, image_entry: dict[str, Any] | None) -> None:
        """Write what a numbering gave (ids are never assigned here): ``image_entry``
        (the fragment's own new entry, an earlier image's entry repeated in this file, or
        None) and the annotations."""
        try:
            if image_entry is not None:
                self._write(0, [image_entry])
            self._write(1, added.annotations)
        except OSError as exc:
            raise ExportError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from exc

    def finish(self) -> Path:
        """Write the final file atomically, remove the temporary parts; returns the path."""
        for handle, _ in self._parts:
            handle.close()
        try:
            with atomic_writer(self.path) as out:
                write_coco(
                    out,
                    self.info,
                    self.licenses,
                    _chunks(self._parts[0][1]),
                    _chunks(self._parts[1][1]),
                    self.categories.coco(),
                )
        finally:
            self._discard_parts()
        return self.path

    def abort(self) -> None:
        """Drop everything written so far (on errors, Ctrl-C)."""
        for handle, _ in self._parts:
            with contextlib.suppress(OSError):
                handle.close()
        self._discard_parts()

    def _discard_parts(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _, name in self._parts:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def __enter__(self) -> CocoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()


def _chunks(name: str) -> Iterator[str]:
    """A temporary part's text in 1 MiB pieces (memory stays flat for any file size)."""
    with open(name, encoding="utf-8") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk
