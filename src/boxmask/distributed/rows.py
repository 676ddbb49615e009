"""Input rows of the distributed engine: reading manifest files in tasks, and one row → one
:class:`~boxmask.batch.jobs.Job` → one :class:`~boxmask.batch.worker.JobResult`.

Nothing here imports Ray; pyarrow (a dependency of ``ray[data]``) is imported where used.

A row is a mapping with these keys (missing and ``None`` values are the same):

- ``image``: path or URI of the picture. Its base name becomes COCO ``file_name``; a local
  file also gives the pixel size when ``width``/``height`` are absent, and overlays are
  drawn on it. A URI (``s3://``, ``https://``...) is only a name: give the size.
- ``width``, ``height``: the image size in pixels (integers).
- the answer, one of: ``answer`` (the model's text; in JSONL/Parquet manifests also a
  path to a text file relative to the manifest, as in ``boxmask convert --manifest``),
  ``answer_path`` (a text file), ``response`` (a raw API response: a dict or its JSON).
- ``finish_reason``: the API's finish reason for ``answer`` (the request stage sets it), so
  that truncated or blocked answers are reported as they are for raw responses.
- ``error``: the row already failed upstream (e.g. the model call); it is reported as a
  failure without parsing anything.
- ``source``: the name of the row in the report (default: ``manifest.jsonl:LINE`` for
  manifest lines, ``row N`` for rows of a Ray Dataset).

Every row becomes exactly one result: converted, or failed with the reason (bad JSON
line, not UTF-8, missing image, unreadable answer...). Nothing is dropped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import Job, ManifestError, job_from_entry
from boxmask.batch.worker import JobResult, WorkerOptions, convert_job

__all__ = [
    "ConvertSettings",
    "FileSpec",
    "convert_row",
    "plan_chunks",
    "read_chunk",
    "result_from_row",
    "result_row",
    "row_from_job",
    "working_directory",
]

#: Keys of a row read from a file: which input file (index into the file list) and its line
#: (JSONL, 1-based, blank lines counted as in ``boxmask convert``) or row (Parquet,
#: 1-based). ``_text`` is the raw JSONL line (bytes), parsed in the convert task so that
#: a bad line is reported as that row's failure.
FILE_KEY, LINE_KEY, TEXT_KEY = "_bm_file", "_bm_line", "_bm_text"
#: The name of a Ray Dataset row whose ``source`` is not given; the driver appends ``N``.
DATASET_SOURCE = "row"
_NORMAL_FINISH = frozenset({"STOP", "COMPLETED", "FINISH_REASON_UNSPECIFIED", "END_TURN"})


@dataclass(frozen=True)
class FileSpec:
    """One input file: ``path`` as given (relative paths in it resolve against its folder
    as given, like the local engine), ``open_path`` absolute for the tasks, ``kind``
    ``"jsonl"`` or ``"parquet"``."""

    path: str
    open_path: str
    kind: str

    @property
    def name(self) -> str:
        """The name rows of this file carry in reports (``name:LINE``)."""
        return Path(self.path).name


@dataclass(frozen=True)
class ConvertSettings:
    """What every convert task needs besides its rows (small; shipped once per task).

    ``overlay_dir`` is the folder (absolute) where tasks write overlays under temporary
    names ``.boxmask-<run_id>-<uuid><overlay_suffix>``; the driver renames them to their
    final names in input order. ``cwd`` is the driver's working directory (see
    :func:`working_directory`). ``image_sizes`` maps a row's
    ``image`` value to ``(width, height)`` pixels for rows without a size.
    ``segmentations_apart``: see the field.
    """

    worker: WorkerOptions
    files: tuple[FileSpec, ...] = ()
    overlay_dir: str | None = None
    overlay_suffix: str = ".png"
    run_id: str = ""
    cwd: str = ""
    image_sizes: Mapping[str, tuple[int, int]] | None = None
    #: COCO shards: the segmentations travel in a column of their own
    #: (:mod:`boxmask.distributed.shards`).
    segmentations_apart: bool = False


@contextlib.contextmanager
def working_directory(path: str) -> Iterator[None]:
    """Run a task in the driver's working directory, so that relative paths (manifest
    entries, images, answer files) mean what they mean to the caller even when the Ray
    workers started elsewhere (a cluster joined with ``ray start``). The previous folder
    comes back afterwards; a folder missing on this node changes nothing (then paths
    must be absolute on a shared file system)."""
    try:
        previous = os.getcwd()
    except OSError:
        previous = ""
    if not path or previous == path or not os.path.isdir(path):
        yield
        return
    os.chdir(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.chdir(previous)


# ------------------------------------------------------------------------- reading files
def plan_chunks(spec: FileSpec, index: int, rows_per_chunk: int) -> list[dict[str, int]]:
    """Cut file ``index`` into chunks of about ``rows_per_chunk`` rows (driver side).

    JSONL: one pass over the lines (no parsing) gives each chunk's byte range and the
    number of its first line, so tasks read just their bytes and name rows
    ``manifest.jsonl:LINE`` exactly; lines end at ``\n`` only. Parquet: whole row groups
    from the file's metadata (the smallest unit a task can read alone), first row
    numbers from their sizes. Raises ``OSError`` when the file cannot be read.
    """
    if spec.kind == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped, import-not-found]

        chunks = []
        first = 1
        with pq.ParquetFile(spec.open_path) as parquet:
            for group in range(parquet.metadata.num_row_groups):
                rows = parquet.metadata.row_group(group).num_rows
                chunks.append({"file": index, "start": group, "end": group + 1, "line": first})
                first += rows
        return chunks
    chunks = []
    offset = start = 0
    first = count = 0
    with open(spec.open_path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if count == 0:
                start, first = offset, number
            offset += len(line)
            count += 1
            if count == rows_per_chunk:
                chunks.append({"file": index, "start": start, "end": offset, "line": first})
                count = 0
    if count:
        chunks.append({"file": index, "start": start, "end": offset, "line": first})
    return chunks


def read_chunk(spec: FileSpec, chunk: Mapping[str, int]) -> Iterator[dict[str, Any]]:
    """The rows of one chunk (task side), numbered; blank JSONL lines are skipped but
    counted, as ``boxmask convert --manifest`` does. JSONL rows carry the raw line, parsed
    by :func:`convert_row` so that a bad line is that row's reported failure."""
    index, number = int(chunk["file"]), int(chunk["line"])
    if spec.kind == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped, import-not-found]

        with pq.ParquetFile(spec.open_path) as parquet:
            table = parquet.read_row_groups(list(range(int(chunk["start"]), int(chunk["end"]))))
        for offset, row in enumerate(table.to_pylist()):
            row[FILE_KEY], row[LINE_KEY] = index, number + offset
            yield row
        return
    with open(spec.open_path, "rb") as handle:
        handle.seek(int(chunk["start"]))
        data = handle.read(int(chunk["end"]) - int(chunk["start"]))
    for offset, raw in enumerate(io.BytesIO(data)):
        if raw.strip():
            yield {FILE_KEY: index, LINE_KEY: number + offset, TEXT_KEY: raw.rstrip(b"\r\n")}


# ----------------------------------------------------------------------- row → result
def row_from_job(job: Job) -> dict[str, Any]:
    """A Dataset row for a local :class:`Job` (``boxmask convert --engine ray DIR``)."""
    row: dict[str, Any] = {"source": job.source, "image": job.image}
    if job.size is not None:
        row["width"], row["height"] = job.size
    if job.answer_path is not None:
        row["answer_path"] = job.answer_path
    elif job.answer_text is not None:
        row["answer"] = job.answer_text
    else:
        row["response"] = json.dumps(job.response)
    return row


def _is_uri(value: str) -> bool:
    return "://" in value[:16]


def _failed(source: str, image: Any, message: str) -> JobResult:
    image_name = image if isinstance(image, str) else None
    file_name = Path(image_name).name if image_name else Path(source).stem + ".jpg"
    return JobResult(index=-1, source=source, image=image_name, file_name=file_name, error=message)


def _image(entry: Mapping[str, Any], base: Path) -> str | None:
    """The row's image as the report names it (relative paths joined to the manifest's
    folder, as for converted rows)."""
    image = entry.get("image")
    if not isinstance(image, str) or not image:
        return None
    return image if _is_uri(image) else str(base / image)


def _strip_where(message: str, where: str) -> str:
    prefix = f"{where}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _entry(
    row: Mapping[str, Any], settings: ConvertSettings
) -> tuple[dict[str, Any], str, Path, str]:
    """(entry, name in reports, folder relative paths resolve against, kind of input:
    ``jsonl``, ``parquet`` or ``dataset``)."""
    file_index = row.get(FILE_KEY)
    if file_index is None:
        source = row.get("source")
        where = str(source) if source is not None else DATASET_SOURCE
        return dict(row), where, Path(), "dataset"
    spec = settings.files[int(file_index)]
    where = f"{spec.name}:{row[LINE_KEY]}"
    base = Path(spec.path).parent
    if spec.kind != "jsonl":
        entry = {k: v for k, v in row.items() if not k.startswith("_bm_")}
        return entry, where, base, spec.kind
    try:
        text = bytes(row[TEXT_KEY]).decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("the line is not UTF-8 text") from None
    try:
        entry = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise ManifestError("each line must be a JSON object")
    return entry, where, base, "jsonl"


def _job(
    entry: dict[str, Any], where: str, base: Path, kind: str, settings: ConvertSettings
) -> Job:
    """The :class:`Job` for an entry. JSONL lines are read exactly as ``boxmask convert
    --manifest`` reads them; the additions (``answer_path``, ``finish_reason``, sizes from
    ``image_sizes``, URIs, ``response`` as JSON text) are what other rows need."""
    entry = {k: v for k, v in entry.items() if v is not None}
    image = entry.get("image")
    if "width" not in entry and "height" not in entry and settings.image_sizes is not None:
        size = settings.image_sizes.get(image) if isinstance(image, str) else None
        if size is not None:
            entry["width"], entry["height"] = int(size[0]), int(size[1])
    remote = isinstance(image, str) and _is_uri(image)
    if remote:
        if not ("width" in entry and "height" in entry):
            raise ManifestError(
                f"image {image!r} is a URI: give 'width' and 'height' (or image_sizes=...)"
            )
        entry["image"] = None
    response = entry.get("response")
    if kind != "jsonl" and isinstance(response, str):
        try:
            entry["response"] = json.loads(response)
        except ValueError as exc:
            raise ManifestError(f"'response' is not valid JSON ({exc})") from None
    answer_path = None
    if "response" not in entry and "answer" not in entry and "answer_path" in entry:
        if not isinstance(entry["answer_path"], str):
            raise ManifestError("'answer_path' must be a path string")
        answer_path = str(base / entry["answer_path"])
        entry["answer"] = ""  # checked below like any entry, then replaced by the path
    elif "response" not in entry and "answer" in entry and _answer_is_text(entry, kind):
        answer = entry.pop("answer")
        if not isinstance(answer, str):
            raise ManifestError("'answer' must be the answer text")
        entry["response"] = _with_finish(answer, entry.get("finish_reason"))
    job = job_from_entry(entry, base, where)
    if answer_path is not None:
        job = replace(job, answer_text=None, answer_path=answer_path)
    if remote:
        job = replace(job, image=image)
    return job


def _answer_is_text(entry: dict[str, Any], kind: str) -> bool:
    """A Dataset row's ``answer`` is always the text (never probed as a path); so is a
    manifest's when it comes with a ``finish_reason`` (written by the request stage)."""
    return kind == "dataset" or bool(entry.get("finish_reason"))


def _with_finish(text: str, finish_reason: Any) -> Any:
    """The answer text, wrapped as a generateContent response when the API reported an
    abnormal finish, so that parse() reports it (truncation, safety...)."""
    if not finish_reason or str(finish_reason).upper() in _NORMAL_FINISH:
        return text
    return {
        "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": str(finish_reason)}]
    }


def convert_row(row: Mapping[str, Any], settings: ConvertSettings) -> JobResult:
    """Convert one row; never raises. The result's ``overlay_written`` is the temporary
    overlay path (renamed by the driver), ``index`` is -1 (numbered by the driver)."""
    try:
        entry, where, base, kind = _entry(row, settings)
    except ManifestError as exc:
        source = f"{settings.files[int(row[FILE_KEY])].name}:{row[LINE_KEY]}"
        return _failed(source, None, str(exc))
    try:
        upstream = entry.get("error")
        if upstream:
            return _failed(where, _image(entry, base), f"request failed: {upstream}")
        job = _job(entry, where, base, kind, settings)
    except ManifestError as exc:
        return _failed(where, _image(entry, base), _strip_where(str(exc), where))
    except Exception as exc:  # a malformed row must not sink the task
        return _failed(where, _image(entry, base), f"unusable row: {exc!r}")
    overlay = None
    if settings.overlay_dir is not None and job.image is not None and not _is_uri(job.image):
        import uuid

        name = f".boxmask-{settings.run_id}-{uuid.uuid4().hex}{settings.overlay_suffix}"
        overlay = os.path.join(settings.overlay_dir, name)
    result = convert_job((-1, job, settings.worker, overlay))
    result.source, result.image = job.source, job.image
    return result


#: Result fields that travel as JSON text columns (nested data); the rest are scalars.
_JSON_COLUMNS = ("fragment", "problems")


def result_row(result: JobResult) -> dict[str, Any]:
    """A result as a row of plain columns for Ray Data: scalars as they are, the export
    fragment and the problems as JSON text (exact: floats round-trip, lone surrogates
    are escaped)."""
    row = result.to_dict()
    for key in _JSON_COLUMNS:
        row[key] = json.dumps(row[key], separators=(",", ":"))
    return row


def result_from_row(row: Mapping[str, Any]) -> JobResult:
    """The inverse of :func:`result_row` (driver side)."""
    data = dict(row)
    for key in _JSON_COLUMNS:
        data[key] = json.loads(data[key])
    return JobResult.from_dict(data)
