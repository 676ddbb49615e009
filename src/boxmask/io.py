"""Atomic file writes: a reader never sees a half-written file.

Every file boxmask writes goes through :func:`atomic_file` (or its forms
:func:`atomic_writer`, :func:`atomic_write_bytes`, :func:`atomic_write_text`,
:func:`atomic_write_json`): the data goes to a temporary file in
the *same directory* (so the final rename never crosses file systems), is flushed and
fsynced, then moved over the target with :func:`os.replace` (atomic on POSIX and Windows).
On any failure the temporary file is removed and the target is left as it was. Outputs
that can be drawn again from the dataset (a batch's overlays, review thumbnails) skip
the fsync (``durable=False``): still atomic, but not guaranteed on disk after a power
loss.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from boxmask.errors import ExportError

__all__ = [
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
]

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    # Read once at import (os.umask can only be read by setting it, which is not
    # thread-safe to do on every write).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fail(target: Path, exc: OSError) -> ExportError:
    return ExportError(f"cannot write {str(target)!r}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_file(
    path: PathLike, *, overwrite: bool = True, mode: int | None = None, durable: bool = True
) -> Iterator[BinaryIO]:
    """A binary handle whose bytes become ``path`` atomically when the block ends.

    The one atomic writer: data goes to a temporary file in the same folder (created,
    with its parents, as needed), is flushed and fsynced, gets the permissions ``open()``
    would give (or ``mode``) and is renamed over ``path``. On any exception the temporary
    file is removed and ``path`` is left as it was. With ``overwrite=False`` an existing
    file raises :class:`~boxmask.ExportError`; I/O failures (permissions, a directory in
    the way, a full disk) are raised as :class:`~boxmask.ExportError` naming the path.

    ``durable=False`` skips the fsync: the write is still atomic for every reader, but a
    power loss soon after may leave the old file (or none). For outputs that can be
    made again from the dataset (overlays, thumbnails): an fsync costs ~0.45 ms on a
    fast SSD and several ms on a disk, more than encoding a 600x400 JPEG overlay.
    """
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"cannot write {str(target)!r}: it is a directory")
    if not overwrite and target.exists():
        raise ExportError(f"{str(target)!r} exists; pass overwrite=True to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _fail(target, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions open() would.
        os.chmod(tmp_name, (0o666 & ~_UMASK) if mode is None else mode)
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise _fail(target, exc) from exc
        raise


@contextlib.contextmanager
def atomic_writer(
    path: PathLike, *, overwrite: bool = True, mode: int | None = None
) -> Iterator[TextIO]:
    """:func:`atomic_file` as UTF-8 text (``mode``: the file's permissions, as there).
    Lone surrogates (valid in JSON from a model, not encodable as UTF-8) are written as
    ``\\uXXXX`` escapes."""
    with atomic_file(path, overwrite=overwrite, mode=mode) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", newline="")
        try:
            yield text
            text.flush()
        finally:
            text.detach()


def atomic_write_bytes(
    path: PathLike, data: bytes, *, overwrite: bool = True, durable: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`, also for
    ``durable``); returns the path."""
    with atomic_file(path, overwrite=overwrite, durable=durable) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(
    path: PathLike, text: str, *, encoding: str = "utf-8", overwrite: bool = True
) -> Path:
    """Write ``text`` (UTF-8 by default, ``\\n`` line endings kept as given) atomically;
    lone surrogates become ``\\uXXXX`` escapes rather than failing the write."""
    return atomic_write_bytes(path, text.encode(encoding, "backslashreplace"), overwrite=overwrite)


def atomic_write_json(
    path: PathLike, obj: Any, *, indent: int | None = None, overwrite: bool = True
) -> Path:
    """Write ``obj`` as UTF-8 JSON atomically; non-ASCII text (labels in any script) is
    written as is (``ensure_ascii=False``), not as ``\\uXXXX`` escapes."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(obj, ensure_ascii=False, indent=indent, separators=separators)
    return atomic_write_text(path, text + "\n", overwrite=overwrite)
