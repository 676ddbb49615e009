"""Run a batch: dispatch jobs to worker processes, merge results in order, report."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from boxmask import __version__
from boxmask.batch.jobs import Job
from boxmask.batch.outputs import OverlayNames, RunRecord, check_outputs
from boxmask.batch.pool import ordered_map
from boxmask.batch.worker import JobResult, WorkerOptions, convert_job, failed_job
from boxmask.export.categories import Categories
from boxmask.export.coco_shards import ShardedCoco, ShardedCocoWriter
from boxmask.export.coco_writer import CocoWriter
from boxmask.export.fragments import ExportOptions
from boxmask.export.yolo import YoloWriter

__all__ = [
    "BatchOptions",
    "BatchReport",
    "ResultCollector",
    "overlay_names",
    "run_batch",
    "worker_options",
]


@dataclass(frozen=True)
class BatchOptions:
    """Outputs and knobs of one batch. Paths that are None are not written."""

    coco: Path | None = None
    overlays: Path | None = None
    overlay_file: Path | None = None
    yolo: Path | None = None
    report: Path | None = None
    yolo_task: str = "segment"
    yolo_images: str = "link"
    #: Overlay file suffix in a folder of overlays: JPEG (fast, right for photographs)
    #: or ".png" (lossless). A single ``overlay_file`` keeps its own suffix.
    overlay_format: str = ".jpg"
    bbox_from: str = "model"
    workers: int = 1
    mask_format: str = "rle"
    threshold: int = 127
    categories: tuple[str, ...] | None = None
    #: COCO shards of at most this many images beside ``coco``, which becomes their
    #: index (:mod:`boxmask.export.coco_shards`); None: one COCO file.
    shard_size: int | None = None
    force: bool = False
    progress: bool = False
    #: Files and folders the run reads (answers, manifest, image folders): no output may
    #: be one of them.
    inputs: tuple[Path, ...] = ()


@dataclass
class BatchReport:
    """What happened to every job: counts, problems with file and item index, failures."""

    files: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    annotations: int = 0
    items: int = 0
    masks: int = 0
    points: int = 0
    problems: int = 0
    failed: int = 0
    seconds: float = 0.0
    categories: list[str] = field(default_factory=list)
    #: Characters no installed font could draw in any overlay (see :meth:`font_warning`).
    missing_glyphs: str = ""

    def font_warning(self) -> str | None:
        """The one ``boxmask: warning:`` line for missing glyphs of the whole run, or None."""
        if not self.missing_glyphs:
            return None
        from boxmask.overlay import missing_glyph_warning

        return missing_glyph_warning([self.missing_glyphs])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (no timings, so that it is reproducible)."""
        return {
            "summary": {
                "files": len(self.files),
                "images": self.images,
                "annotations": self.annotations,
                "items": self.items,
                "masks": self.masks,
                "points": self.points,
                "problems": self.problems,
                "failed": self.failed,
                "categories": self.categories,
            },
            "files": self.files,
        }


def _in_order(
    tasks: Iterator[tuple[int, Job, WorkerOptions, str | None]], workers: int
) -> Iterator[JobResult]:
    """Results in input order, with a bounded number of jobs in flight (flat memory); one
    worker runs inline, without helper threads. A job whose worker process is lost twice
    (killed for memory, crashed) is a failed row; the batch goes on."""
    from boxmask.threads import set_threads

    return ordered_map(
        convert_job,
        tasks,
        workers=workers,
        on_failure=failed_job,
        # Jobs travel in small chunks: one round trip per chunk instead of per job keeps
        # the parent's share of a CPU (pickling) small.
        chunk=CHUNK_JOBS,
        initializer=set_threads,  # one process per CPU, so no threads inside
        initargs=(1,),
        preload=("boxmask.batch.worker", "boxmask.parse"),
    )


#: Jobs sent to a worker process at once.
CHUNK_JOBS = 8


def worker_options(options: BatchOptions) -> WorkerOptions:
    """What every worker produces for a job of this batch."""
    export = ExportOptions(
        coco=options.coco is not None,
        mask_format=options.mask_format,  # type: ignore[arg-type]
        bbox_from=options.bbox_from,  # type: ignore[arg-type]
        yolo=options.yolo_task if options.yolo is not None else None,  # type: ignore[arg-type]
    )
    overlay = options.overlays is not None or options.overlay_file is not None
    palette = None
    if overlay and options.categories:
        from boxmask.overlay import Palette

        palette = Palette(list(options.categories))
    return WorkerOptions(
        export=export, threshold=options.threshold, overlay=overlay, palette=palette
    )


def overlay_names(options: BatchOptions) -> OverlayNames:
    """The overlay names of this batch (see :class:`~boxmask.batch.outputs.OverlayNames`)."""
    return OverlayNames(options.overlays, options.overlay_file, options.overlay_format)


class ResultCollector:
    """The parent's side of a batch: results in input order become one COCO file, YOLO
    labels and the report. Creating it checks that the outputs may be written.

    :meth:`add` each :class:`JobResult` in input order, then :meth:`finish`; on an
    exception call :meth:`abort` (the partial COCO file is removed). Any engine that
    yields results in input order (local processes, Ray) gets the same files.
    """

    def __init__(self, options: BatchOptions, *, shards: type[ShardedCoco] | None = None) -> None:
        """``shards``: the class that writes COCO shards (default
        :class:`~boxmask.export.coco_shards.ShardedCocoWriter`; the Ray engine has its
        workers write them)."""
        sharded = options.coco is not None and options.shard_size is not None
        check_outputs(
            [
                ("--coco", options.coco),
                ("--report", options.report),
                ("--overlay", options.overlay_file),
            ],
            [("--overlay", options.overlays), ("--yolo", options.yolo)],
            inputs=options.inputs,
            force=options.force,
            shards=[("--coco", options.coco)] if sharded and options.coco is not None else [],
        )
        self.options = options
        self.start = time.perf_counter()
        self.report = BatchReport()
        # One record per output folder, whichever outputs share it.
        self.records: dict[Path, RunRecord] = {}
        for folder in (
            options.overlays,
            options.yolo,
            options.coco.parent if sharded and options.coco is not None else None,
        ):
            if folder is not None:
                self.records.setdefault(folder.resolve(), RunRecord(folder))
        for record in self.records.values():
            if options.force:
                record.clear_previous()  # a folder holds one run: the last one
        if options.overlays is not None:
            options.overlays.mkdir(parents=True, exist_ok=True)
        # One category table for every output: COCO id k is YOLO class k - 1.
        self.categories = Categories(list(options.categories) if options.categories else None)
        self.coco: CocoWriter | ShardedCoco | None = None
        coco_header: dict[str, Any] = {
            "info": _info(),
            "licenses": [{"id": 1, "name": "unknown", "url": ""}],
        }
        if options.coco is not None and options.shard_size is not None:
            make = shards if shards is not None else ShardedCocoWriter
            self.coco = make(
                options.coco, options.shard_size, categories=self.categories, **coco_header
            )
        elif options.coco is not None:
            self.coco = CocoWriter(options.coco, categories=self.categories, **coco_header)
        self.yolo = (
            YoloWriter(
                options.yolo,
                categories=self.categories,
                images=options.yolo_images,  # type: ignore[arg-type]
            )
            if options.yolo is not None
            else None
        )

    def add(self, result: JobResult) -> None:
        """Record one result (the next in input order)."""
        report = self.report
        entry: dict[str, Any] = {"answer": result.source, "image": result.image}
        report.files.append(entry)
        if result.error is not None or result.fragment is None:
            report.failed += 1
            entry["error"] = result.error or "no result"
            if result.problems:  # e.g. ``worker_lost``: the kind says why, for code
                entry["problems"] = [p.to_dict() for p in result.problems]
                report.problems += len(result.problems)
            return
        report.items += result.items
        report.masks += result.masks
        report.points += result.points
        problems = [*result.problems, *result.fragment.problems]
        picture = result.image or result.file_name
        fragment = result.fragment
        if self.coco is not None:
            added = self.coco.add(fragment.image, fragment.annotations, key=picture)
            entry["image_id"] = added.image_id
            if added.merged:  # intended (e.g. boxes, then points), not a problem
                entry["notes"] = [
                    f"merged into image {added.image_id}, which has the same file name"
                ]
            problems.extend(added.problems)
            report.images = self.coco.numbering.images
            report.annotations = self.coco.numbering.annotations
        else:
            report.images += 1
        if self.yolo is not None:
            problems.extend(
                self.yolo.add(fragment.yolo, result.file_name, key=picture, image=result.image)
            )
        entry.update(items=result.items, masks=result.masks, points=result.points)
        if result.missing_glyphs:
            report.missing_glyphs = "".join(
                dict.fromkeys(report.missing_glyphs + result.missing_glyphs)
            )
        if result.overlay_written:
            entry["overlay"] = result.overlay_written
            self._record(result.overlay_written)
        entry["problems"] = [p.to_dict() for p in problems]
        report.problems += len(problems)

    def finish(self) -> BatchReport:
        """Write the COCO file, ``data.yaml`` and the report; return the report."""
        report = self.report
        if report.files and report.failed == len(report.files):
            # Nothing was converted: no empty dataset that looks like a result.
            self.abort()
            report.categories = []
            self._write_report()
            return report
        try:
            if self.coco is not None:
                self.coco.finish()
                if isinstance(self.coco, ShardedCoco):
                    for path in (*self.coco.written, self.coco.path):
                        self._record(path)
            if self.yolo is not None:
                self.yolo.finish()
                for path in self.yolo.written:
                    self._record(path)
            for record in self.records.values():
                record.save()
        except BaseException:
            self.abort()
            raise
        report.categories = self.categories.names
        self._write_report()
        return report

    def _record(self, path: str | Path) -> None:
        """Note a written file in the record of the (innermost) output folder holding it."""
        resolved = Path(path).resolve()
        for folder in sorted(self.records, key=lambda f: len(f.parts), reverse=True):
            if resolved.is_relative_to(folder):  # the innermost output folder holding it
                self.records[folder].add(resolved)
                return

    def _write_report(self) -> None:
        self.report.seconds = time.perf_counter() - self.start
        if self.options.report is not None:
            from boxmask.io import atomic_write_json

            atomic_write_json(self.options.report, self.report.to_dict())

    def abort(self) -> None:
        """Drop the partial COCO file (YOLO label files and overlays already written are
        complete files)."""
        if self.coco is not None:
            self.coco.abort()


def run_batch(
    jobs: Iterable[Job],
    options: BatchOptions,
    *,
    on_result: Callable[[JobResult, int], None] | None = None,
) -> BatchReport:
    """Convert every job; outputs are written atomically and only when complete.

    Byte-identical outputs for any ``workers``: results are merged in input order. On
    an exception or Ctrl-C, the partial COCO file and report are removed (overlays and
    YOLO label files already written are complete files).
    """
    collector = ResultCollector(options)
    options_for_workers = worker_options(options)
    names = overlay_names(options)

    def tasks() -> Iterator[tuple[int, Job, WorkerOptions, str | None]]:
        for index, job in enumerate(jobs):
            yield index, job, options_for_workers, names.target(job.image, job.file_name)

    try:
        for done, result in enumerate(_in_order(tasks(), max(1, options.workers)), start=1):
            collector.add(result)
            if on_result is not None:
                on_result(result, done)
    except BaseException:
        collector.abort()
        raise
    return collector.finish()


def _info() -> dict[str, Any]:
    return {
        "description": "converted by boxmask",
        "version": __version__,
        "year": datetime.now(timezone.utc).year,
        "contributor": "",
        "url": "",
        "date_created": "",
    }


def progress_printer(total: int | None) -> Callable[[JobResult, int], None]:
    """A one-line progress display on stderr, only when it is a terminal."""
    if not sys.stderr.isatty():
        return lambda result, done: None
    start = time.perf_counter()

    def show(result: JobResult, done: int) -> None:
        rate = done / max(1e-9, time.perf_counter() - start)
        of = f"/{total}" if total else ""
        sys.stderr.write(f"\rboxmask convert: {done}{of} answers, {rate:.1f}/s ")
        sys.stderr.flush()

    return show


def clear_progress() -> None:
    if sys.stderr.isatty():
        with contextlib.suppress(OSError):
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def default_workers() -> int:
    """One worker process per CPU."""
    from boxmask.threads import cpu_count

    return cpu_count()
