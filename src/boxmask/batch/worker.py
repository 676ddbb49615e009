"""Convert one job in a worker process: read, parse, export, draw. Never raises."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import Job
from boxmask.errors import BoxmaskError

__all__ = ["JobResult", "WorkerOptions", "convert_job", "convert_jobs", "init_worker"]


@dataclass(frozen=True)
class WorkerOptions:
    """What each worker produces for a job."""

    mask_format: str = "rle"
    threshold: int = 127
    categories: tuple[str, ...] | None = None
    overlay: bool = False
    yolo: str | None = None  # "segment" or "detect"
    bbox_from: str = "model"


@dataclass
class JobResult:
    """Everything the parent needs from one job; plain data, cheap to pickle."""

    index: int
    source: str
    image: str | None
    file_name: str
    width: int = 0
    height: int = 0
    coco: dict[str, Any] | None = None
    yolo_lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    items: int = 0
    masks: int = 0
    points: int = 0
    mask_pixels: int = 0
    overlay_written: str | None = None
    seconds: float = 0.0


def serialize_annotation(annotation: dict[str, Any]) -> tuple[int, int, str]:
    """``(local category id, local image id, JSON of the other fields)``.

    The JSON text starts after the opening brace, so the merger writes
    ``{"id":..,"image_id":..,"category_id":..,`` + text without re-encoding masks.
    """
    rest = {k: v for k, v in annotation.items() if k not in ("id", "image_id", "category_id")}
    body = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))[1:]
    return int(annotation["category_id"]), int(annotation["image_id"]), body


def init_worker(single_threaded: bool) -> None:
    """Process-pool initializer: one process per CPU, so no threads inside."""
    if single_threaded:
        from boxmask.threads import set_threads

        set_threads(1)


def _read_answer(job: Job) -> Any:
    if job.response is not None:
        return job.response
    if job.answer_text is not None:
        return job.answer_text
    assert job.answer_path is not None
    return Path(job.answer_path).read_text(encoding="utf-8", errors="replace")


def convert_job(task: tuple[int, Job, WorkerOptions, str | None]) -> JobResult:
    """Parse one answer and export it. Faults become ``error``/``problems``, never raises."""
    index, job, options, overlay_path = task
    start = time.perf_counter()
    result = JobResult(index=index, source=job.source, image=job.image, file_name=job.file_name)
    try:
        _convert(job, options, overlay_path, result)
    except (BoxmaskError, OSError, ValueError) as exc:
        result.error = _describe(exc)
    except Exception as exc:  # a bug must not sink the batch; keep the trace
        result.error = f"internal error: {exc!r}\n{traceback.format_exc(limit=5)}"
    result.seconds = time.perf_counter() - start
    return result


def convert_jobs(tasks: list[tuple[int, Job, WorkerOptions, str | None]]) -> list[JobResult]:
    """:func:`convert_job` for a chunk of tasks, in order (one process round trip)."""
    return [convert_job(task) for task in tasks]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    if isinstance(exc, UnicodeDecodeError):
        return "answer file is not UTF-8 text"
    return str(exc) or type(exc).__name__


def _convert(job: Job, options: WorkerOptions, overlay_path: str | None, result: JobResult) -> None:
    from boxmask.images import image_size
    from boxmask.parse import parse

    if job.size is not None:
        width, height = job.size
    elif job.image is not None:
        width, height = image_size(job.image)
    else:  # pragma: no cover - jobs always carry one of them
        raise ValueError("job has neither an image nor a size")
    result.width, result.height = width, height
    answer = _read_answer(job)  # model text or a raw API response: parse() takes both
    detections = parse(answer, width=width, height=height, threshold=options.threshold)
    summary = detections.summary()
    result.items = summary["items"]
    result.masks = summary["masks"]
    result.points = summary["points"]
    result.problems = [p.to_dict() for p in detections.problems]
    if detections.masks is not None:
        result.mask_pixels = int(detections.masks.areas.sum())

    from boxmask.export.coco import CocoDataset

    dataset = CocoDataset(
        mask_format=options.mask_format,  # type: ignore[arg-type]
        categories=list(options.categories) if options.categories else None,
        bbox_from=options.bbox_from,  # type: ignore[arg-type]
    )
    dataset.add(detections, file_name=job.file_name, image_id=1)
    coco = dataset.to_dict()
    result.coco = {
        "images": coco["images"],
        "categories": coco["categories"],
        # Serialized here, in the worker: the parent only prepends the ids it assigns.
        "annotations": [serialize_annotation(a) for a in coco["annotations"]],
    }
    result.problems.extend(_export_problems(dataset.problems))
    if options.yolo is not None:
        result.yolo_lines = _yolo_lines(detections, job.file_name, options)
    if overlay_path is not None and job.image is not None:
        from boxmask.overlay import save_overlay

        save_overlay(job.image, detections, overlay_path)
        result.overlay_written = overlay_path
    del detections  # masks are released as soon as they are exported


def _export_problems(problems: list[Any]) -> list[dict[str, Any]]:
    """Exporter notes in the report's problem shape (``dropped`` when skipped)."""
    out = []
    for p in problems:
        out.append(
            {
                "index": p.index,
                "kind": f"export_{p.kind}",
                "message": p.message,
                "dropped": "skipped" in p.message,
            }
        )
    return out


def _yolo_lines(detections: Any, file_name: str, options: WorkerOptions) -> list[tuple[str, str]]:
    """``(label, "coords...")`` rows; the parent prepends the global class id."""
    from boxmask.export.yolo import YoloDataset

    dataset = YoloDataset(
        task=options.yolo,  # type: ignore[arg-type]
        categories=list(options.categories) if options.categories else None,
    )
    rows = []
    for line in dataset.add(detections, file_name):
        cls, coords = line.split(" ", 1)
        rows.append((dataset.categories.names[int(cls)], coords))
    return rows
