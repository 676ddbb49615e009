"""Merging per-image COCO fragments into one dataset, streamed to disk.

Workers export each image with local ids (image 1, annotations 1..k, their own
categories). :class:`CocoMerger` renumbers them in the order results are *added* —
input order — and maps categories by name to global ids: the given list, or 1..K in
first-seen order. Images and annotations go to temporary files as they arrive, so
memory stays flat however long the batch; :meth:`CocoMerger.finish` assembles the final
JSON and renames it into place atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from boxmask.errors import ExportError

__all__ = ["CocoMerger"]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CocoMerger:
    """Accumulate fragments ``{"images": [1], "annotations": [...], "categories": [...]}``."""

    def __init__(self, path: str | Path, *, categories: list[str] | None = None) -> None:
        self.path = Path(path)
        self.fixed = categories is not None
        self.category_ids: dict[str, int] = {
            name: i for i, name in enumerate(categories or [], start=1)
        }
        self.images = 0
        self.annotations = 0
        self._image_by_name: dict[str, tuple[int, int, int, str]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._images_file = self._temp("images")
        self._annotations_file = self._temp("annotations")
        self._closed = False

    def _temp(self, part: str) -> IO[str]:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.{part}.", dir=self.path.parent)
        handle = os.fdopen(fd, "w", encoding="utf-8")
        handle.name_on_disk = name  # type: ignore[attr-defined]
        return handle

    def category_id(self, name: str) -> int | None:
        """Global id for a label (assigned on first sight unless categories are fixed)."""
        if name not in self.category_ids:
            if self.fixed:
                return None
            self.category_ids[name] = len(self.category_ids) + 1
        return self.category_ids[name]

    def add(self, fragment: dict[str, Any], *, key: str | None = None) -> tuple[int, list[str]]:
        """Add one image's fragment; returns its global image id and notes (merged image,
        duplicate file name, labels outside fixed categories).

        ``key`` identifies the picture (its path); answers with the same file name and key
        share one image entry. The same file name with another key (another folder) is a
        new entry, reported: COCO tools look images up by name. Annotations are COCO dicts, or ``(category id, image id, JSON body)`` tuples from
        :func:`boxmask.batch.worker.serialize_annotation` (cheaper for the parent)."""
        local_names = {c["id"]: c["name"] for c in fragment.get("categories", [])}
        notes: list[str] = []
        image_ids: dict[int, int] = {}
        for image in fragment.get("images", []):
            name = image.get("file_name", "")
            size = (image.get("width"), image.get("height"))
            picture = key if key is not None else name
            known = self._image_by_name.get(name)
            if known is not None and (known[1], known[2]) == size and known[3] == picture:
                # Another answer about the same picture (e.g. boxes, then points): one
                # image entry, annotations from both.
                image_ids[image["id"]] = known[0]
                notes.append(f"merged into image {known[0]}, which has the same file name")
                continue
            if known is not None:
                other = "of another size" if (known[1], known[2]) != size else f"({known[3]})"
                notes.append(
                    f"file name {name!r} already used by image {known[0]} {other}; "
                    "COCO tools that look images up by name will confuse them"
                )
            self.images += 1
            image_ids[image["id"]] = self.images
            self._image_by_name.setdefault(name, (self.images, size[0], size[1], picture))
            entry = dict(image)
            entry["id"] = self.images
            self._write(self._images_file, entry, first=self.images == 1)
        for ann in fragment.get("annotations", []):
            if isinstance(ann, dict):  # a plain COCO annotation
                local_category, local_image = ann["category_id"], ann["image_id"]
                rest = {k: v for k, v in ann.items() if k not in ("id", "image_id", "category_id")}
                body = _dump(rest)[1:]
            else:  # (category, image, JSON body) serialized by a worker
                local_category, local_image, body = ann
            name = local_names.get(local_category)
            category = self.category_id(name) if name is not None else None
            if category is None:
                notes.append(
                    f"label {name!r} is not among the given categories; annotation skipped"
                )
                continue
            self.annotations += 1
            head = (
                f'{{"id":{self.annotations},"image_id":{image_ids[local_image]},'
                f'"category_id":{category}'
            )
            text = head + ("}" if body == "}" else "," + body)
            self._annotations_file.write(("" if self.annotations == 1 else ",\n") + text)
        image_id = next(iter(image_ids.values()), self.images)
        return image_id, notes

    @staticmethod
    def _write(handle: IO[str], entry: dict[str, Any], *, first: bool) -> None:
        handle.write(("" if first else ",\n") + _dump(entry))

    def finish(self, info: dict[str, Any], licenses: list[dict[str, Any]]) -> Path:
        """Write the final file atomically and remove the temporary parts."""
        self._images_file.close()
        self._annotations_file.close()
        categories = [
            {"id": i, "name": name, "supercategory": ""}
            for name, i in sorted(self.category_ids.items(), key=lambda kv: kv[1])
        ]
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write('{"info":' + _dump(info) + ',\n"licenses":' + _dump(licenses))
                out.write(',\n"images":[\n')
                self._copy(self._images_file, out)
                out.write('\n],\n"annotations":[\n')
                self._copy(self._annotations_file, out)
                out.write('\n],\n"categories":' + _dump(categories) + "}\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            self._discard_parts()
        return self.path

    @staticmethod
    def _copy(part: IO[str], out: IO[str]) -> None:
        with open(part.name_on_disk, encoding="utf-8") as handle:  # type: ignore[attr-defined]
            while chunk := handle.read(1 << 20):
                out.write(chunk)

    def abort(self) -> None:
        """Drop everything written so far (on errors and Ctrl-C)."""
        for handle in (self._images_file, self._annotations_file):
            with contextlib.suppress(OSError):
                handle.close()
        self._discard_parts()

    def _discard_parts(self) -> None:
        if self._closed:
            return
        self._closed = True
        for handle in (self._images_file, self._annotations_file):
            with contextlib.suppress(OSError):
                os.unlink(handle.name_on_disk)  # type: ignore[attr-defined]

    def __enter__(self) -> CocoMerger:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()


def check_writable(path: Path, force: bool) -> None:
    """Refuse to overwrite without ``force``; say what to do."""
    if path.exists() and not force:
        raise ExportError(f"{path} exists; pass --force to overwrite it")
