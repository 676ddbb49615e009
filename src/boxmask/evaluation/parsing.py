"""Answers to plain predictions, in worker processes for large answer sets.

:func:`parse_answer` reads one job (its answer, and its image's upright size when it has
an image file), parses it at the GT size and keeps what evaluation needs: COCO ``[x, y,
w, h]`` boxes, labels, scores (NaN where absent), compressed RLE per mask. It never
raises: a fault becomes :attr:`ParsedAnswer.error`. :func:`parse_answers` runs it inline
or on a process pool (one thread per worker, results in input order, a bounded number
of jobs in flight).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from boxmask.batch.jobs import Job
from boxmask.detections import Detections
from boxmask.errors import BoxmaskError

__all__ = ["ParsedAnswer", "from_detections", "parse_answer", "parse_answers"]

#: Jobs per round trip to a worker; below this many jobs in all, parsing stays inline.
CHUNK = 16
INLINE_BELOW = 64


@dataclass
class ParsedAnswer:
    """What one answer holds, ready for matching (plain data, cheap to pickle)."""

    source: str
    image_size: tuple[int, int] | None = None
    error: str | None = None
    boxes: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 4)))
    labels: list[str] = field(default_factory=list)
    scores: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    rles: list[dict[str, Any] | None] | None = None
    problems: list[str] = field(default_factory=list)
    point_only: int = 0


def from_detections(detections: Detections, source: str) -> ParsedAnswer:
    """The items with a box (point-only ones counted), masks as compressed RLE."""
    keep = np.flatnonzero(detections.has_box)
    xyxy = detections.boxes[keep]
    scores = detections.scores
    rles: list[dict[str, Any] | None] | None = None
    if detections.masks is not None:
        all_rles = detections.masks.to_rle()
        has_mask = detections.masks.has_mask
        rles = [all_rles[i] if has_mask[i] else None for i in keep]
    return ParsedAnswer(
        source=source,
        boxes=np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]),
        labels=[detections.labels[i] for i in keep],
        scores=np.full(len(keep), np.nan) if scores is None else scores[keep],
        rles=rles,
        problems=[p.kind.value for p in detections.problems],
        point_only=len(detections) - len(keep),
    )


def parse_answer(task: tuple[Job, tuple[int, int]]) -> ParsedAnswer:
    """Parse ``job`` at ``(width, height)``; never raises (see the module doc)."""
    from boxmask.errors import ImageError
    from boxmask.images import image_size
    from boxmask.parse import parse

    job, (width, height) = task
    found = None
    if job.size is None and job.image is not None:
        try:
            found = image_size(job.image)
        except (OSError, ImageError):  # missing or unreadable: the GT's size is used
            found = None
    try:
        detections = parse(job.answer(), width=width, height=height)
        parsed = from_detections(detections, job.source)
    except (BoxmaskError, OSError, ValueError) as exc:
        parsed = ParsedAnswer(job.source, error=_describe(exc))
    parsed.image_size = found
    return parsed


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _failed(task: tuple[Job, tuple[int, int]], message: str, worker_lost: bool) -> ParsedAnswer:
    return ParsedAnswer(task[0].source, error=message.splitlines()[0])


def parse_answers(
    tasks: list[tuple[Job, tuple[int, int]]], workers: int = 1
) -> Iterator[ParsedAnswer]:
    """:func:`parse_answer` for every task, in order, on ``workers`` processes (inline
    for one worker or fewer than 64 tasks; see :func:`boxmask.batch.pool.ordered_map`).
    An answer whose worker process is lost twice (killed for memory) gets ``error``.
    Worker processes start with forkserver or spawn: a script calling this with
    ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard."""
    from boxmask.batch.pool import ordered_map
    from boxmask.threads import set_threads

    return ordered_map(
        parse_answer,
        tasks,
        workers=workers if len(tasks) >= INLINE_BELOW else 1,
        on_failure=_failed,
        chunk=CHUNK,
        initializer=set_threads,
        initargs=(1,),
    )
