"""COCO shards for big runs: files of at most N images each, plus an index.

``--coco out.json --shard-size N`` writes ``out-00000.json``, ``out-00001.json``, … beside
``out.json`` (five digits, more past 99,999 shards), and ``out.json`` itself is the
*index*::

    {"format": "boxmask-coco-shards", "version": "<boxmask version>", "shard_size": N,
     "images": 1200, "annotations": 9500, "categories": [{"id": 1, "name": "cup", ...}],
     "shards": [{"file": "out-00000.json", "images": 500, "annotations": 3900}, ...]}

Each shard is a complete COCO file in boxmask's layout (pycocotools loads it alone):

- Ids come from one :class:`~boxmask.export.coco_writer.CocoNumbering` for the whole run,
  so image and annotation ids are unique across shards and are the ids the unsharded
  file would have; every shard carries the run's full ``categories`` list, identical in
  every shard and in the index.
- A shard holds at most N image entries. Answers about the same picture share its image
  entry as in one file; when they fall into two shards, the later shard repeats the
  image entry (same id) so that each shard stays self-contained. ``images`` in the index
  counts distinct images, a shard's ``images`` its entries.
- Streaming: a shard is written atomically (:func:`boxmask.io.atomic_file`, via
  :class:`~boxmask.export.coco_writer.CocoWriter`) as soon as it is full; memory does not
  grow with the annotations.
- Categories: with fixed categories (``--categories``) a shard is final when written.
  With first-seen categories a label first met in a later shard is missing from the
  earlier ones; at the end, each shard written with fewer categories gets its
  ``categories`` tail (the last line of boxmask's layout) replaced: an atomic copy of the
  file with the new tail. That costs at most one more write of the output
  (``benchmarks/bench_coco_shards.py``); fixed categories cost nothing.
- The index is written last: a folder with shards and no index is an unfinished run.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxmask import __version__
from boxmask.errors import ExportError
from boxmask.export.categories import Categories
from boxmask.export.coco_writer import AddedImage, CocoNumbering, CocoWriter, coco_image, dump_json
from boxmask.export.fragments import Annotation, ImageRecord
from boxmask.io import atomic_file, atomic_write_json
from boxmask.problems import Problem

__all__ = [
    "INDEX_FORMAT",
    "ShardInfo",
    "ShardedCoco",
    "ShardedCocoWriter",
    "is_shard_name",
    "replace_categories",
    "shard_path",
]

#: The ``format`` of a shard index.
INDEX_FORMAT = "boxmask-coco-shards"
_TAIL = b'\n"categories":'


def shard_path(index: str | os.PathLike[str], number: int) -> Path:
    """Shard ``number`` (0-based) of the index ``index``: ``out.json`` → ``out-00000.json``."""
    path = Path(index)
    return path.with_name(f"{path.stem}-{number:05d}{path.suffix or '.json'}")


def is_shard_name(index: str | os.PathLike[str], name: str) -> bool:
    """Whether a file ``name`` in the index's folder is named as one of its shards."""
    path = Path(index)
    pattern = re.escape(path.stem) + r"-\d{5,}" + re.escape(path.suffix or ".json")
    return re.fullmatch(pattern, name) is not None


@dataclass(frozen=True)
class ShardInfo:
    """One shard: its file name (beside the index), image entries, annotations, and how
    many categories were known when it was written."""

    file: str
    images: int
    annotations: int
    categories: int

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "images": self.images, "annotations": self.annotations}


class ShardedCoco:
    """Numbering and the shard rule (module docs), for a writer that streams shards
    (:class:`ShardedCocoWriter`) or one that has them written elsewhere (the Ray engine).

    Subclasses implement :meth:`_start` (a new shard begins), :meth:`_put` (one
    numbered fragment and the image entry it writes in this shard), :meth:`_end` (the
    shard is full or the run ended) and :meth:`_complete` (all shards are known,
    categories final; before the index is written).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shard_size: int,
        *,
        categories: Categories | Sequence[str] | None = None,
        info: dict[str, Any] | None = None,
        licenses: list[dict[str, Any]] | None = None,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"shard size must be at least 1, got {shard_size}")
        self.path = Path(path)
        self.shard_size = shard_size
        self.numbering = CocoNumbering(categories)
        self.info = dict(info or {})
        self.licenses = list(licenses or [])
        self.problems: list[Problem] = []
        self.shards: list[ShardInfo] = []
        self._images_here: set[int] = set()
        self._annotations_here = 0
        self._open = False

    @property
    def categories(self) -> Categories:
        """The categories (ids) of every shard."""
        return self.numbering.categories

    @property
    def written(self) -> list[Path]:
        """The shard files closed so far."""
        return [self.path.with_name(shard.file) for shard in self.shards]

    def add(
        self, image: ImageRecord, annotations: Iterable[Annotation], *, key: str | None = None
    ) -> AddedImage:
        """Number one image's fragment (:meth:`CocoNumbering.add`) and put it in the
        current shard, starting a new one when this one has ``shard_size`` images."""
        added = self.numbering.add(image, annotations, key=key)
        entry = added.entry
        if entry is None and added.image_id not in self._images_here:
            entry = coco_image(added.image_id, image)  # its picture is in an earlier shard
        if entry is not None and self._open and len(self._images_here) >= self.shard_size:
            self._close()
        if not self._open:
            self._open, self._images_here, self._annotations_here = True, set(), 0
            self._start(shard_path(self.path, len(self.shards)))
        if entry is not None:
            self._images_here.add(added.image_id)
        self._annotations_here += len(added.annotations)
        self._put(added, entry)
        self.problems.extend(added.problems)
        return added

    def _close(self) -> None:
        path = shard_path(self.path, len(self.shards))
        self._end(path)
        self.shards.append(
            ShardInfo(
                path.name,
                len(self._images_here),
                self._annotations_here,
                len(self.categories.names),
            )
        )
        self._open = False

    def finish(self) -> Path:
        """Close the last shard, complete the shards, write the index; returns its path."""
        try:
            if self._open:
                self._close()
            self._complete()
            atomic_write_json(self.path, self.index(), indent=1)
        except BaseException:
            self.abort()
            raise
        return self.path

    def index(self) -> dict[str, Any]:
        """The index (module docs)."""
        return {
            "format": INDEX_FORMAT,
            "version": __version__,
            "shard_size": self.shard_size,
            "images": self.numbering.images,
            "annotations": self.numbering.annotations,
            "categories": self.categories.coco(),
            "shards": [shard.to_dict() for shard in self.shards],
        }

    def abort(self) -> None:
        """Remove every shard of this run (on errors, Ctrl-C): no partial dataset."""
        for path in self.written:
            with contextlib.suppress(OSError):
                path.unlink()

    def __enter__(self) -> ShardedCoco:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()

    # -------------------------------------------------------------- for subclasses
    def _start(self, path: Path) -> None:
        raise NotImplementedError

    def _put(self, added: AddedImage, image_entry: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def _end(self, path: Path) -> None:
        raise NotImplementedError

    def _complete(self) -> None:
        raise NotImplementedError


class ShardedCocoWriter(ShardedCoco):
    """COCO shards written here as fragments arrive: :meth:`add` each image's fragment
    in input order, then :meth:`finish` (or :meth:`abort`). See the module docs."""

    _writer: CocoWriter | None = None

    def _start(self, path: Path) -> None:
        self._writer = CocoWriter(
            path, info=self.info, licenses=self.licenses, numbering=self.numbering
        )

    def _put(self, added: AddedImage, image_entry: dict[str, Any] | None) -> None:
        assert self._writer is not None
        self._writer.write(added, image_entry)

    def _end(self, path: Path) -> None:
        assert self._writer is not None
        writer, self._writer = self._writer, None
        writer.finish()

    def _complete(self) -> None:
        final = self.categories.coco()
        for shard in self.shards:
            if shard.categories != len(final):
                replace_categories(self.path.with_name(shard.file), final)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        super().abort()


def replace_categories(path: Path, categories: list[dict[str, Any]]) -> None:
    """Give a COCO file in boxmask's layout another ``categories`` list: an atomic copy
    with the last line (``"categories":[...]}``) replaced."""
    try:
        with open(path, "rb") as source:
            keep = _tail_offset(source, path)
            source.seek(0)
            with atomic_file(path) as out:
                while keep:
                    chunk = source.read(min(keep, 1 << 20))
                    if not chunk:
                        raise ExportError(f"{path} changed while its categories were replaced")
                    out.write(chunk)
                    keep -= len(chunk)
                tail = '"categories":' + dump_json(categories) + "}\n"
                out.write(tail.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc


def _tail_offset(source: Any, path: Path) -> int:
    """Where the ``"categories":`` line starts (after its newline). JSON strings hold no
    raw newline, so the last ``\\n"categories":`` is the key of the top-level object."""
    end = source.seek(0, os.SEEK_END)
    block = 1 << 16
    position = end
    carry = b""
    while position > 0:
        start = max(0, position - block)
        source.seek(start)
        data = source.read(position - start) + carry
        found = data.rfind(_TAIL)
        if found >= 0:
            return start + found + 1
        carry = data[: len(_TAIL)]
        position = start
    raise ExportError(f"{path} is not a COCO file in boxmask's layout (no categories line)")
