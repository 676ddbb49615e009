"""Where the (image, answer) pairs of a batch come from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxmask.errors import BoxmaskError

__all__ = [
    "ANSWER_SUFFIXES",
    "IMAGE_SUFFIXES",
    "Job",
    "ManifestError",
    "job_from_entry",
    "jobs_from_dir",
    "jobs_from_manifest",
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

    @property
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


def jobs_from_manifest(path: str | Path) -> Iterator[Job]:
    """Read a JSONL manifest lazily, one job per non-empty line.

    Lines are ``{"image": path, "answer": path-or-text}`` or ``{"image": path,
    "response": {raw API JSON}}``; optional ``"width"``/``"height"``; other keys are
    ignored, and a line with ``"error"`` and no answer (a failed request in a
    ``boxmask detect`` journal) becomes a failed job. Relative paths are
    resolved against the manifest's folder. An ``answer`` value is a path when such a
    file exists, else the answer text itself.
    """
    manifest = Path(path)
    base = manifest.parent
    with manifest.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{manifest.name}:{number}"
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise ManifestError(f"{where}: not valid JSON ({exc})") from None
            if not isinstance(entry, dict):
                raise ManifestError(f"{where}: each line must be a JSON object")
            yield job_from_entry(entry, base, where)


def job_from_entry(entry: dict[str, Any], base: Path, where: str) -> Job:
    image = entry.get("image")
    if image is not None and not isinstance(image, str):
        raise ManifestError(f"{where}: 'image' must be a path string")
    size = None
    if "width" in entry or "height" in entry:
        try:
            size = (int(entry["width"]), int(entry["height"]))
        except (KeyError, TypeError, ValueError):
            raise ManifestError(f"{where}: 'width' and 'height' must both be integers") from None
    if image is None and size is None:
        raise ManifestError(f"{where}: give 'image' (or 'width' and 'height')")
    image_path = str(base / image) if image else None
    if entry.get("response") is not None:
        return Job(source=where, image=image_path, size=size, response=entry["response"])
    if entry.get("error") is not None and "answer" not in entry:
        # A journaled failed request: an error body, which the worker reports as failed.
        error = {"error": {"message": f"the request failed: {entry['error']}"}}
        return Job(source=where, image=image_path, size=size, response=error)
    answer = entry.get("answer")
    if not isinstance(answer, str):
        raise ManifestError(f"{where}: give 'answer' (a path or the text) or 'response'")
    candidate = base / answer
    if len(answer) < 4096 and "\n" not in answer and candidate.is_file():
        return Job(source=str(candidate), image=image_path, size=size, answer_path=str(candidate))
    return Job(source=where, image=image_path, size=size, answer_text=answer)


def jobs_from_dir(folder: str | Path) -> tuple[list[Job], list[str]]:
    """Pair answers with images in ``folder`` by name.

    ``coffee.txt`` pairs with ``coffee.jpg``; so does ``coffee.seg.txt`` (the image name
    is the answer's name up to its first dot, when no exact match exists). Looks in the
    folder itself and in ``answers/`` + ``images/`` subfolders. Returns the jobs (sorted
    by answer path) and the answers left without an image.
    """
    root = Path(folder)
    answer_dirs = [root / "answers"] if (root / "answers").is_dir() else [root]
    image_dirs = [root / "images"] if (root / "images").is_dir() else [root]
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
