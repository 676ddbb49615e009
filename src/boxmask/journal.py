"""The answers journal of ``boxmask detect|segment|point``: one JSON line per response.

Every API response is appended the moment it arrives, flushed and fsynced, so that an
interrupt, a crash or a full disk loses at most the answers in flight. A line is a valid
``boxmask convert --manifest`` entry (``image`` relative to the journal's folder or
absolute, ``response`` the raw API JSON) plus what a rerun needs to reuse it: the image's
``sha256``, ``model``, ``prompt`` and the ``options`` that change the answer. A failed
request is a line with ``error`` and no ``response`` (convert reports it as a failed row).
The API key is never written.

Besides answers, the journal holds *records*: lines with a ``"journal"`` kind and no
``image``, which are not answers (``convert --manifest`` and resume skip them). A
``{"journal": "batch_job", "batch": "batches/ID", "items": [[image, sha256], ...], ...}``
record is written the moment a Batch API job is created, so that a rerun reattaches to
it instead of paying again; ``{"journal": "batch_done", "batch": ...}`` closes it once its
results are journaled.

One process at a time: :meth:`Journal.open` takes an exclusive ``fcntl`` lock on the file
and refuses a second run. A torn last line (the machine died mid-write) is cut off with a
warning, so that its image is requested again and the file stays a valid manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from boxmask.errors import BoxmaskError

__all__ = [
    "Journal",
    "JournalError",
    "JournalFolder",
    "JournalIndex",
    "answer_key",
    "file_sha256",
    "is_record",
]

try:  # POSIX; elsewhere the lock is a no-op
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class JournalError(BoxmaskError):
    """The journal cannot be used (locked by another run, not writable)."""


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def answer_key(sha256: str, model: str, prompt: str, options: dict[str, Any]) -> str:
    """What must match for a journaled answer to be reused: the image content, the model,
    the prompt text and the options that change the answer."""
    return json.dumps([sha256, model, prompt, options], sort_keys=True, ensure_ascii=False)


@dataclass
class JournalIndex:
    """What a scan found: ``answers`` maps a reuse key to the 1-based line number and byte
    offset of its last successful line; ``lines`` is the number of lines in the file."""

    answers: dict[str, tuple[int, int]]
    lines: int = 0
    failed: int = 0
    skipped: int = 0
    #: Batch jobs created and not yet closed: name → its ``batch_job`` record.
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


def is_record(entry: dict[str, Any]) -> bool:
    """True for a journal record (a batch job's name, ...): not an answer."""
    return isinstance(entry.get("journal"), str) and "image" not in entry


class Journal:
    """An append-only JSONL journal, locked while open. Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[bytes] | None = None
        self._write_lock = threading.Lock()
        self.lines = 0

    def open(self) -> JournalIndex:
        """Lock the journal (creating it), repair a torn tail and index its answers."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(self.path, "a+b")  # noqa: SIM115 - held for the whole run
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc.strerror}") from None
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise JournalError(
                    f"{self.path} is in use by another boxmask run; wait for it or give "
                    "another --answers file"
                ) from None
        self._handle = handle
        index = self._scan(handle)
        self.lines = index.lines
        return index

    def _scan(self, handle: IO[bytes]) -> JournalIndex:
        index = JournalIndex(answers={})
        handle.seek(0)
        offset = 0
        good_end = 0
        number = 0
        for raw in handle:
            number += 1
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                good_end = offset
                continue
            entry = _decode(raw)
            if entry is None or not raw.endswith(b"\n"):
                index.skipped += 1
                if offset == _size(handle):  # the torn last line: cut it off
                    _warn(f"{self.path.name}:{number}: incomplete last line dropped")
                    handle.truncate(good_end)
                    number -= 1
                    break
                _warn(f"{self.path.name}:{number}: not a JSON object; line ignored")
                good_end = offset
                continue
            good_end = offset
            if is_record(entry):
                _index_record(index, entry)
                continue
            key = _answered_key(entry)
            if key is not None:
                index.answers[key] = (number, start)
            elif entry.get("error") is not None:
                index.failed += 1
        index.lines = number
        handle.seek(0, os.SEEK_END)
        return index

    def read(self, offset: int) -> dict[str, Any]:
        """The entry whose line starts at byte ``offset``."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            entry = _decode(handle.readline())
        if entry is None:  # pragma: no cover - indexed lines were valid
            raise JournalError(f"{self.path}: line at byte {offset} changed during the run")
        return entry

    def append(self, entry: dict[str, Any]) -> int:
        """Write ``entry`` as one line, flushed and fsynced; return its 1-based line number."""
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with self._write_lock:
            if self._handle is None:
                raise JournalError("the journal is not open")
            self._handle.write(data)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.lines += 1
            return self.lines

    def close(self) -> None:
        """Release the lock."""
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answered_key(entry: dict[str, Any]) -> str | None:
    """The reuse key of a successful answer line, else None."""
    key = entry.get("key")
    if entry.get("response") is not None and entry.get("error") is None and key:
        return str(key)
    return None


def _index_record(index: JournalIndex, entry: dict[str, Any]) -> None:
    name = entry.get("batch")
    if not isinstance(name, str):
        return
    if entry["journal"] == "batch_job":
        index.batches[name] = entry
    elif entry["journal"] == "batch_done":
        index.batches.pop(name, None)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _size(handle: IO[bytes]) -> int:
    return os.fstat(handle.fileno()).st_size


def _warn(message: str) -> None:
    print(f"boxmask: warning: {message}; its image will be requested again", file=sys.stderr)


class JournalFolder:
    """A folder of journals with one writer each (the Ray request actors): every
    ``*.jsonl`` in it is read incrementally (:meth:`refresh`: only the complete lines
    added since the last call, never cutting another writer's file), and :meth:`append`
    writes this writer's own file, ``answers-<random>.jsonl``, created on first use and
    locked while open. Lines are the journal's; answers are indexed by a 16-byte digest of
    their reuse key (memory stays small for millions of answers)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._read: dict[Path, int] = {}  # file -> bytes read (complete lines only)
        self._answers: dict[bytes, tuple[Path, int]] = {}
        self._own: Journal | None = None
        self._open_lock = threading.Lock()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()

    def refresh(self) -> None:
        """Index the answers written to the folder since the last call."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.jsonl")):
            start = self._read.get(path, 0)
            try:
                with open(path, "rb") as handle:
                    handle.seek(start)
                    data = handle.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1  # a line still being written waits for next time
            offset = start
            for raw in data[:end].splitlines(keepends=True):
                entry = _decode(raw)
                key = _answered_key(entry) if entry is not None else None
                if key is not None:
                    self._answers[self._digest(key)] = (path, offset)
                offset += len(raw)
            self._read[path] = start + end

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The journaled answer for ``key`` (as of the last :meth:`refresh`), or None."""
        hit = self._answers.get(self._digest(key))
        if hit is None:
            return None
        path, offset = hit
        with open(path, "rb") as handle:
            handle.seek(offset)
            return _decode(handle.readline())

    def append(self, entry: dict[str, Any]) -> None:
        """Write ``entry`` to this writer's own journal (flushed and fsynced)."""
        with self._open_lock:
            if self._own is None:
                import uuid

                own = Journal(self.folder / f"answers-{uuid.uuid4().hex[:16]}.jsonl")
                own.open()
                self._own = own
        self._own.append(entry)

    def close(self) -> None:
        """Close this writer's journal (releasing its lock)."""
        if self._own is not None:
            self._own.close()
            self._own = None
