"""Where the (image, answer) pairs of a batch come from."""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxmask.errors import BoxmaskError
from boxmask.journal import is_record
from boxmask.problems import ImageKind, Problem

__all__ = [
    "ANSWER_SUFFIXES",
    "IMAGE_SUFFIXES",
    "Job",
    "ManifestError",
    "job_from_entry",
    "jobs_from_dir",
    "jobs_from_manifest",
    "name_problem",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif")
ANSWER_SUFFIXES = (".txt", ".json", ".md")


class ManifestError(BoxmaskError, ValueError):
    """A manifest line cannot be used (bad JSON, missing keys); says which line."""


@dataclass(frozen=True)
class Job:
    """One pair to convert. Exactly one of ``answer_path``, ``answer_text``, ``response``.

    ``image`` is the picture the answer describes (its upright size gives the pixel
    scale, and overlays are drawn on it); ``size`` overrides it as ``(width, height)``.
    ``source`` names the pair in reports (answer file, or ``manifest:LINE``).
    """

    source: str
    image: str | None = None
    size: tuple[int, int] | None = None
    answer_path: str | None = None
    answer_text: str | None = None
    response: Any = None
    #: Set when the job cannot run at all (an unusable manifest line): it is reported
    #: as a failed row with this reason, and the batch goes on.
    error: str | None = None

    @functools.cached_property
    def file_name(self) -> str:
        """The image file name written into COCO ``images[].file_name``.

        Without an image it comes from the source: ``answer.txt`` gives ``answer.jpg``,
        manifest line 12 of ``m.jsonl`` (``m.jsonl:12``) gives ``m-12.jpg``: one picture
        per line, never one name for the whole manifest.
        """
        if self.image is not None:
            return Path(self.image).name
        base, sep, line = Path(self.source).name.rpartition(":")
        if sep and line.isdigit():
            return f"{Path(base).stem}-{line}.jpg"
        return Path(self.source).stem + ".jpg"

    def answer(self) -> Any:
        """The answer to parse: the raw API response, the model text, or the answer file's
        text (read now, undecodable bytes replaced); :func:`boxmask.parse` takes all three."""
        if self.response is not None:
            return self.response
        if self.answer_text is not None:
            return self.answer_text
        assert self.answer_path is not None
        # What read_text(errors="replace") gives (universal newlines included), in a
        # fraction of its time: no TextIOWrapper, and four system calls instead of
        # seven (open's fstat, lseek and second fstat): a box-only job 127 -> 119 µs,
        # measured interleaved in one process (syscalls cost ~1 µs each here and flush
        # more than their own time).
        text = _read_all(self.answer_path).decode("utf-8", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _read_all(path: str) -> bytes:
    """The bytes of the file at ``path``: ``open``, ``read`` until end of file, ``close``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError as exc:  # e.g. a folder opens, then fails here: name it, as open() does
        raise type(exc)(exc.errno, exc.strerror, path) from None
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def jobs_from_manifest(path: str | Path) -> Iterator[Job]:
    """Read a JSONL manifest lazily, one job per non-empty line.

    Lines are ``{"image": path, "answer": path-or-text}`` or ``{"image": path,
    "response": {raw API JSON}}``; optional ``"width"``/``"height"``; other keys are
    ignored, a journal record (``{"journal": kind, ...}`` without ``image``) is skipped,
    and a line with ``"error"`` and no answer (a failed request in a
    ``boxmask detect`` journal) becomes a failed job. Relative paths are resolved
    against the manifest's folder. An ``answer``
    value is a path when such a file exists, else the answer text itself.

    A line that cannot be used (cut JSON, not UTF-8, nested too deeply, missing keys)
    becomes a job with ``error`` set, reported as a failed row: one bad line never
    stops the batch. Raises ``OSError`` only when the manifest itself cannot be read.
    """
    manifest = Path(path)
    base = manifest.parent
    with manifest.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{manifest.name}:{number}"
            try:
                entry = _line_entry(raw, where)
                if is_record(entry):  # a journal's batch-job record: not an answer
                    continue
                yield job_from_entry(entry, base, where)
            except ManifestError as exc:
                yield Job(source=where, size=(0, 0), error=str(exc))


def _line_entry(raw: bytes, where: str) -> dict[str, Any]:
    """One manifest line as a JSON object, or a :class:`ManifestError` saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{where}: the line is not UTF-8 text (byte {exc.start})") from None
    try:
        entry = json.loads(text)
    except RecursionError:
        raise ManifestError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: each line must be a JSON object")
    return entry


def _size(entry: dict[str, Any], where: str) -> tuple[int, int] | None:
    """``(width, height)`` from the entry: positive integers (not booleans) within the
    image pixel cap, or None when neither is given."""
    if "width" not in entry and "height" not in entry:
        return None
    values = (entry.get("width"), entry.get("height"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ManifestError(f"{where}: 'width' and 'height' must both be positive integers")
    width, height = int(values[0]), int(values[1])  # type: ignore[arg-type]
    from boxmask.images import MAX_PIXELS

    if width * height > MAX_PIXELS:
        raise ManifestError(
            f"{where}: {width}x{height} is more than {MAX_PIXELS:,} pixels (the image cap)"
        )
    return width, height


@functools.lru_cache(maxsize=64)
def _resolved(folder: Path) -> str:
    """The real path of ``folder``, once per manifest folder rather than once per line."""
    return os.path.realpath(folder)


def _refuse_nul(value: str, where: str, key: str) -> None:
    if "\0" in value:
        raise ManifestError(f"{where}: {key!r} holds a NUL character, which no path can")


def _answer_file(value: Any, base: Path, where: str, key: str) -> str:
    """A manifest's answer file: a relative path that stays inside the manifest's folder
    (a line never makes boxmask read a file elsewhere, e.g. ``../secrets.env``).

    Checked on real paths (symbolic links followed), as strings: ``Path.resolve`` and
    ``is_relative_to`` cost 20 of a box-only line's ~40 µs."""
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{where}: {key!r} must be a path string")
    _refuse_nul(value, where, key)
    root = _resolved(base)
    resolved = _plain_real_path(root, value)
    if resolved is not None:  # plain, hence inside; joined as strings, spelled as pathlib does
        return os.path.join(
            _spelled(base), value.replace(os.altsep, os.sep) if os.altsep else value
        )
    try:
        resolved = os.path.realpath(os.path.join(base, value))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{where}: {key!r} is not a usable path ({exc})") from None
    inside = resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)
    if os.path.isabs(value) or not inside:
        raise ManifestError(
            f"{where}: {key!r} must be a path inside the manifest's folder, got {value!r}"
        )
    return str(base / value)


@functools.lru_cache(maxsize=64)
def _spelled(folder: Path) -> str:
    """``folder`` as the start of a joined path: ``Path(".") / "a.txt"`` is ``a.txt``."""
    text = str(folder)
    return "" if text == "." else text


def _plain_real_path(root: str, value: str) -> str | None:
    """The real path of ``value`` under the real folder ``root`` when ``value`` is plain:
    relative, without ``.``/``..``/empty parts, and no part of it a symbolic link (one
    ``lstat`` per part, against ``realpath``'s walk from ``/``: 4 against 15 µs per
    manifest line). None when it is not plain, or a part is missing or unreadable:
    the caller then asks ``realpath``, which decides as before."""
    parts = value.split(os.sep)
    if os.altsep:
        parts = [p for part in parts for p in part.split(os.altsep)]
    if os.path.isabs(value) or any(p in ("", ".", "..") for p in parts):
        return None
    path = root
    for part in parts:
        path = os.path.join(path, part)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return None
        except (OSError, ValueError):
            return None
    return path


def job_from_entry(entry: dict[str, Any], base: Path, where: str) -> Job:
    """The job of one manifest entry (see :func:`jobs_from_manifest`).

    The answer is one of: ``response`` (a raw API response: a JSON object, a list of
    streamed chunks, or its text), ``answer_file`` (a path to a text file inside the manifest's
    folder), or ``answer`` (the model's text; for compatibility, a short relative path
    with an answer suffix, ``.txt``/``.json``/``.md``, naming an existing file inside the
    manifest's folder is read as that file). Raises :class:`ManifestError` saying why an
    entry cannot be used.
    """
    image = entry.get("image")
    if image is not None and not isinstance(image, str):
        raise ManifestError(f"{where}: 'image' must be a path string")
    if image is not None:
        _refuse_nul(image, where, "image")
    size = _size(entry, where)
    if image is None and size is None:
        raise ManifestError(f"{where}: give 'image' (or 'width' and 'height')")
    image_path = str(base / image) if image else None
    if entry.get("response") is None and entry.get("error") is not None and "answer" not in entry:
        # A journaled failed request: reported as a failed row.
        return Job(
            source=where, image=image_path, size=size, error=f"the request failed: {entry['error']}"
        )
    if "response" in entry:
        response = entry["response"]
        if not isinstance(response, (dict, list, str)):
            kind = "null" if response is None else type(response).__name__
            raise ManifestError(f"{where}: 'response' must be the API's JSON object, not {kind}")
        return Job(source=where, image=image_path, size=size, response=response)
    if "answer_file" in entry:
        path = _answer_file(entry["answer_file"], base, where, "answer_file")
        return Job(source=path, image=image_path, size=size, answer_path=path)
    answer = entry.get("answer")
    if not isinstance(answer, str):
        raise ManifestError(f"{where}: give 'answer' (the text), 'answer_file' or 'response'")
    if _looks_like_answer_file(answer):
        try:
            candidate = _answer_file(answer, base, where, "answer")
        except ManifestError:
            candidate = None
        if candidate is not None and os.path.isfile(candidate):  # False on any OSError
            return Job(source=candidate, image=image_path, size=size, answer_path=candidate)
    return Job(source=where, image=image_path, size=size, answer_text=answer)


def _looks_like_answer_file(answer: str) -> bool:
    if len(answer) >= 4096 or "\n" in answer:
        return False
    # os.path, not pathlib (a third of a manifest line's time): the suffix differs only
    # for names ending in a separator or a dot, which are no answer file either way.
    suffix = os.path.splitext(answer)[1].lower()
    return suffix in ANSWER_SUFFIXES and not os.path.isabs(answer)


def jobs_from_dir(folder: str | Path) -> tuple[list[Job], list[str]]:
    """Pair answers with images in ``folder`` by name.

    ``coffee.txt`` pairs with ``coffee.jpg``; so does ``coffee.seg.txt`` (the image name
    is the answer's name up to its first dot, when no exact match exists). Looks in the
    folder itself and in ``answers/`` + ``images/`` subfolders; given an answers folder
    without pictures, in its sibling ``images/`` folder. Returns the jobs (sorted
    by answer path) and the answers left without an image.
    """
    root = Path(folder)
    answer_dirs = [root / "answers"] if (root / "answers").is_dir() else [root]
    image_dirs = [root / "images"] if (root / "images").is_dir() else [root]
    sibling = root.parent / "images"
    if image_dirs == [root] and sibling.is_dir() and not _has_images(root):
        image_dirs = [sibling]  # ``convert data/answers`` with pictures in data/images
    images: dict[str, Path] = {}
    for directory in image_dirs:
        for p in sorted(directory.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                images.setdefault(p.stem, p)
    jobs: list[Job] = []
    unpaired: list[str] = []
    for directory in answer_dirs:
        for p in sorted(directory.iterdir()):
            if not p.is_file() or p.suffix.lower() not in ANSWER_SUFFIXES:
                continue
            image = images.get(p.stem) or images.get(p.name.split(".")[0])
            if image is None:
                unpaired.append(str(p))
                continue
            jobs.append(Job(source=str(p), image=str(image), answer_path=str(p)))
    return jobs, unpaired


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def name_problem(job: Job) -> Problem | None:
    """The ``name_not_utf8`` problem when the job's file name (COCO ``file_name``, YOLO
    label name) holds lone surrogates, else None.

    A file name that is not UTF-8 on disk (``caf\\xe9.png`` in Latin-1) reaches Python
    surrogate-escaped (``caf\\udce9.png``: byte 0xXY as U+DCXY) and is recorded so, as a
    ``\\udce9`` JSON escape: valid JSON that Python's ``os.fsencode`` turns back into
    the bytes, but not the file's name to a tool that reads names as UTF-8.
    """
    name = job.file_name
    if not any("\ud800" <= ch <= "\udfff" for ch in name):
        return None
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate from a manifest's JSON, not from a byte
        how = "holds a lone surrogate, which is no character and names no file"
    else:
        how = (
            f"is not UTF-8 (the bytes {raw!r}); each byte that is not UTF-8 is recorded "
            "as a lone surrogate U+DC80-U+DCFF (Python's surrogateescape, a \\udcXX "
            "escape in JSON; os.fsencode gives the bytes back), so tools that read names "
            "as UTF-8 will not find the file"
        )
    message = f"the image file name {name!r} {how}"
    return Problem(None, ImageKind.NAME_NOT_UTF8, message, image=name)
