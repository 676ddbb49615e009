"""Where a batch writes: checked before any work, never over an input, one run per folder.

- :func:`check_outputs` runs before the first job: every output path is distinct, none is
  an input (an answer, a manifest, an image folder), existing files are replaced only with
  ``force``, and every location can be written (a read-only folder is found now, not
  after the whole batch).
- :class:`OverlayNames` hands out overlay names in input order that never collide, with
  each other or with a picture that happens to sit in the overlay folder.
- :class:`RunRecord` is the list of files a run wrote into an output folder
  (``.boxmask-run.json``). With ``force``, the next run first removes what the previous
  run wrote there — and only that — so a folder never mixes two runs (a YOLO label file
  left from a run with more inputs would point at the new run's class ids).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from boxmask.errors import ExportError
from boxmask.io import atomic_write_json

__all__ = ["RECORD_NAME", "OverlayNames", "RunRecord", "check_outputs", "check_writable"]

#: The file in an output folder that lists what the run wrote there.
RECORD_NAME = ".boxmask-run.json"


def check_writable(path: Path, force: bool) -> None:
    """Refuse to overwrite without ``force``, a folder in the way, or a location that
    cannot be written; say what to do."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name")
    if path.exists() and not force:
        raise ExportError(f"{path} exists; pass --force to overwrite it")
    _check_can_create(path.parent)


def _check_can_create(folder: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ExportError(f"cannot write into {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write into {folder}: {existing} is read-only")


def _key(path: Path) -> Path:
    """The resolved path; for a name the OS cannot take (a NUL, a lone surrogate from a
    manifest line), the absolute path as written: no file can have it anyway."""
    try:
        return path.resolve()
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def _identities(path: Path) -> set[object]:
    """What makes two paths one file: the resolved path (symbolic links followed) and,
    for an existing file, its device and inode (hard links)."""
    keys: set[object] = {_key(path)}
    with contextlib.suppress(OSError):
        stat = path.stat()
        keys.add((stat.st_dev, stat.st_ino))
    return keys


def check_outputs(
    files: Sequence[tuple[str, Path | None]],
    folders: Sequence[tuple[str, Path | None]],
    *,
    inputs: Iterable[Path] = (),
    force: bool = False,
    shards: Sequence[tuple[str, Path]] = (),
) -> None:
    """Check the outputs of a run before it starts (see the module docs).

    ``files``/``folders`` are ``(option name, path)`` pairs (None: not written);
    ``inputs`` are the files and folders
    the run reads. Paths are the same file when they resolve to one path (symbolic
    links) or, existing, share a device and inode (hard links). ``shards`` are
    ``(option name, index path)`` of COCO shards (``out-00000.json``, … beside the
    index; their number is known only at the end): no input and no other output may be
    named as a shard, and existing shard files are replaced only with ``force``.
    """
    seen: dict[object, str] = {}
    given = [(n, p) for n, p in (*files, *folders) if p is not None]
    for name, path in given:
        for identity in _identities(path):
            other = seen.setdefault(identity, name)
            if other != name:
                raise ExportError(f"{other} and {name} are both {path}; give each its own path")
    read_paths = list(inputs)
    read = set().union(*(_identities(p) for p in read_paths))
    for name, path in given:
        if _identities(path) & read:
            raise ExportError(
                f"{name} {path} is an input of this run; outputs never replace inputs"
            )
    for _, file in files:
        if file is not None:
            check_writable(file, force)
    for name, index in shards:
        _check_shards(name, index, read_paths, given, force, read)
    for name, folder in folders:
        if folder is None:
            continue
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"{name} {folder} exists and is not a folder")
        if folder.is_dir() and not force and _has_files(folder):
            raise ExportError(f"{folder} is not empty; pass --force to replace its earlier run")
        _check_can_create(folder)


def _check_shards(
    name: str,
    index: Path,
    inputs: list[Path],
    outputs: list[tuple[str, Path]],
    force: bool,
    read: set[object],
) -> None:
    """The shards of the index ``index`` (see :func:`check_outputs`)."""
    from boxmask.export.coco_shards import is_shard_name

    folder = _key(index.parent)

    def named_as_shard(path: Path) -> bool:
        return _key(path).parent == folder and is_shard_name(index, _key(path).name)

    for path in inputs:
        if named_as_shard(path):
            raise ExportError(f"{path} is an input of this run and named as a {name} shard")
    for other, path in outputs:
        if named_as_shard(path):
            raise ExportError(f"{other} {path} is named as a {name} shard; give another name")
    existing = (
        sorted(p for p in index.parent.iterdir() if is_shard_name(index, p.name))
        if index.parent.is_dir()
        else []
    )
    for path in existing:
        if _identities(path) & read:
            raise ExportError(f"{name} shard {path} is an input of this run")
        if path.is_dir():
            raise ExportError(f"{path} is a folder in the place of a {name} shard")
    if existing and not force:
        raise ExportError(f"{existing[0]} exists; pass --force to replace the earlier shards")


def _has_files(folder: Path) -> bool:
    return any(True for _ in folder.iterdir())


class OverlayNames:
    """Overlay paths in input order (call :meth:`target` once per job, in input order, so
    the names do not depend on the worker count).

    ``folder/<stem><suffix>``, then ``<stem>-2<suffix>``, ``<stem>-3<suffix>``... for a
    name already handed out; a later picture whose own name is taken (``a-2.jpg`` after
    two ``a.jpg``) moves on the same way, and a name that is the job's own picture is
    skipped. ``file`` (one overlay) is returned for every job when given.
    """

    def __init__(self, folder: Path | None, file: Path | None = None, suffix: str = ".png"):
        self.folder = folder
        self.file = file
        self.suffix = suffix
        self._used: set[str] = set()

    def target(self, image: str | None, file_name: str) -> str | None:
        """The overlay path for a job with this image, or None (no overlays, no image)."""
        if image is None:
            return None
        if self.file is not None:
            return str(self.file)
        if self.folder is None:
            return None
        stem = Path(file_name).stem
        picture = _key(Path(image))
        candidate, count = f"{stem}{self.suffix}", 1
        while candidate in self._used or _key(self.folder / candidate) == picture:
            count += 1
            candidate = f"{stem}-{count}{self.suffix}"
        self._used.add(candidate)
        return str(self.folder / candidate)


class RunRecord:
    """The files one run wrote into an output ``folder`` (see the module docs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: set[str] = set()

    def clear_previous(self) -> int:
        """Remove the files the previous run listed here (only those); returns how many."""
        record = self.folder / RECORD_NAME
        try:
            listed = json.loads(record.read_text(encoding="utf-8")).get("files", [])
        except (OSError, ValueError, AttributeError):
            return 0
        removed = 0
        root = _key(self.folder)
        for name in listed if isinstance(listed, list) else []:
            path = (self.folder / str(name)).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                continue  # a record never makes boxmask delete outside its folder
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        with contextlib.suppress(OSError):
            record.unlink()
        return removed

    def add(self, path: str | Path) -> None:
        """Note a file this run wrote (inside the folder)."""
        with contextlib.suppress(ValueError):
            self.written.add(str(Path(path).resolve().relative_to(_key(self.folder))))

    def save(self) -> None:
        """Write the record (at the end of the run)."""
        atomic_write_json(self.folder / RECORD_NAME, {"files": sorted(self.written)}, indent=1)
