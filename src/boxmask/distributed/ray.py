"""The Ray Data engine: convert millions of answers on a cluster into the files the local
engine writes (COCO, YOLO, overlays, report).

Plan (one streaming Ray Data pipeline)::

    manifest files ──► driver: one pass over the lines (no parsing) cuts them into
                       chunks of ``rows_per_task`` rows (byte range + first line number;
                       Parquet: row groups)
    or a Dataset   ──► its rows, ``rows_per_task`` at a time
                              │
                              ▼
                    convert tasks (map_batches, 1 CPU each, single-threaded):
                    read the chunk ► row ► Job ► convert_job ► JobResult (the image's
                    export fragment, problems; overlay under a temporary name) as plain
                    columns
                              │  preserve_order: results reach the driver in input order
                              ▼
                    driver: ResultCollector (the local engine's writers): image,
                    annotation and category ids assigned by CocoWriter/YoloWriter in
                    input order, streamed to disk; overlays renamed to their final names

Workers never assign ids or category ids, so the output is the local engine's, byte for
byte, whatever the cluster size. With COCO shards the workers write the shard files and
the driver never sees a mask (:mod:`boxmask.distributed.shards`). ``import ray`` happens inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import Job
from boxmask.batch.outputs import OverlayNames
from boxmask.batch.run import BatchOptions, BatchReport, ResultCollector, overlay_names
from boxmask.batch.run import worker_options as make_worker_options
from boxmask.batch.worker import JobResult
from boxmask.distributed.cluster import _ray, connect, pool_keywords
from boxmask.distributed.rows import (
    DATASET_SOURCE,
    ConvertSettings,
    FileSpec,
    convert_row,
    plan_chunks,
    read_chunk,
    result_from_row,
    result_row,
    row_from_job,
    working_directory,
)
from boxmask.distributed.shards import RayShards, result_row_apart
from boxmask.errors import BoxmaskError
from boxmask.problems import OverlayKind, Problem

__all__ = ["DEFAULT_ROWS_PER_TASK", "LostTaskError", "convert_dataset", "run_ray_batch"]

#: Rows per convert task: enough to amortize a task's few ms of overhead (a row takes
#: ~1-5 ms), few enough that every CPU gets work on small inputs.
DEFAULT_ROWS_PER_TASK = 64
#: Times Ray runs a convert task again when its worker process dies (killed for memory,
#: crashed); Ray Data's default is forever ("infinite retries remaining"). Exceptions
#: are not retried: ``convert_row`` turns every fault of a row into a failed row.
TASK_RETRIES = 2
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".txt")
_log = logging.getLogger("boxmask.distributed")


# ------------------------------------------------------------------------------- tasks
_SINGLE_THREADED = False


def _single_threaded() -> None:
    global _SINGLE_THREADED
    if not _SINGLE_THREADED:  # one Ray CPU = one core: no helper threads in workers
        from boxmask.threads import set_threads

        set_threads(1)
        _SINGLE_THREADED = True


def _results_table(results: Iterable[JobResult], settings: ConvertSettings) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found]

    to_row = result_row_apart if settings.segmentations_apart else result_row
    return pa.Table.from_pylist([to_row(result) for result in results])


def _convert_chunks(batch: Any, *, settings: ConvertSettings) -> Any:
    """map_batches UDF: file chunks → one :class:`JobResult` per row (plain columns), in order."""
    _single_threaded()
    with working_directory(settings.cwd):
        results = [
            convert_row(row, settings)
            for chunk in batch.to_pylist()
            for row in read_chunk(settings.files[int(chunk["file"])], chunk)
        ]
    return _results_table(results, settings)


def _convert_rows(batch: Any, *, settings: ConvertSettings) -> Any:
    """map_batches UDF: Dataset rows → one :class:`JobResult` per row (plain columns), in order."""
    _single_threaded()
    with working_directory(settings.cwd):
        results = [convert_row(row, settings) for row in batch.to_pylist()]
    return _results_table(results, settings)


# ------------------------------------------------------------------------------- plan
Source = Any  # a ray.data.Dataset, a path, a list of paths, or a list of Jobs


def _files(source: Any) -> list[FileSpec] | None:
    """The manifest files of ``source``, or None when it is not (a list of) path(s)."""
    items: list[Any]
    if isinstance(source, (str, os.PathLike)):
        items = [source]
    elif isinstance(source, (list, tuple)) and source and not isinstance(source[0], (Job, dict)):
        items = list(source)
    else:
        return None
    specs: list[FileSpec] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".parquet", *_JSONL_SUFFIXES))
            specs.extend(_spec(p) for p in found if p.is_file())
        elif path.is_file():
            specs.append(_spec(path))
        else:
            raise FileNotFoundError(f"input {str(path)!r} not found")
    return specs


def _spec(path: Path) -> FileSpec:
    kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl"
    return FileSpec(path=str(path), open_path=str(path.resolve()), kind=kind)


def _converted(
    source: Source, settings: ConvertSettings, *, rows_per_task: int, concurrency: int | None
) -> tuple[Any, ConvertSettings]:
    """The lazy Dataset of pickled results, one per input row, in input order (None when
    there is no row), and the settings with the manifest files.

    Manifest files are cut into chunks of ``rows_per_task`` rows on the driver (a pass over
    the lines, no parsing; Parquet: row groups), one chunk per task, which reads its bytes
    and converts them: every CPU gets work from the first chunk, with no repartition. Rows
    of a Dataset go ``rows_per_task`` at a time to the convert tasks (small blocks are
    bundled; a larger block is one task: ``ds.repartition(...)`` it first for more tasks).
    """
    ray = _ray()

    def remote(tasks: int | None) -> dict[str, Any]:
        # At most one task per chunk: a larger cap only makes Ray Data print a raw
        # UserWarning ("the operator can launch at most 1 task(s)") on small inputs.
        size = min(concurrency, tasks) if concurrency is not None and tasks else concurrency
        return {
            "num_cpus": 1,
            **pool_keywords(size),
            "max_retries": TASK_RETRIES,
            "retry_exceptions": False,  # Ray Data keeps its own RaySystemError retries
        }

    files = _files(source)
    if files is not None:
        settings = replace(settings, files=tuple(files))
        chunks = [c for i, spec in enumerate(files) for c in plan_chunks(spec, i, rows_per_task)]
        if not chunks:
            return None, settings
        listing = ray.data.from_items(chunks, override_num_blocks=len(chunks))
        converted = listing.map_batches(
            _convert_chunks,
            batch_size=None,
            batch_format="pyarrow",
            fn_kwargs={"settings": settings},
            **remote(len(chunks)),
        )
        return converted, settings
    if isinstance(source, (list, tuple)):
        rows = [row_from_job(j) if isinstance(j, Job) else dict(j) for j in source]
        if not rows:
            return None, settings
        blocks = max(1, -(-len(rows) // rows_per_task))
        tasks: int | None = blocks
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    elif hasattr(source, "map_batches"):
        dataset, tasks = source, None  # its blocks are known only when it runs
    else:
        raise TypeError(
            "source must be a ray.data.Dataset, a manifest path (JSONL or Parquet), a list "
            f"of paths, or a list of Jobs/rows; got {type(source).__name__}"
        )
    converted = dataset.map_batches(
        _convert_rows,
        batch_size=rows_per_task,
        batch_format="pyarrow",
        fn_kwargs={"settings": settings},
        **remote(tasks),
    )
    return converted, settings


@contextlib.contextmanager
def _ordered(dataset: Any, progress_bars: bool, *, own_plan: bool) -> Iterator[None]:
    """Run with preserve_order (results in input order) and Ray's progress bars on or
    off. Recent Ray reads these from the dataset's context (shared with the datasets
    it derives from, so with the caller's), older Ray (2.40) from the process-wide
    current context: both are set, and restored afterwards.

    ``own_plan`` (the input is files or jobs, so the plan is only our convert tasks):
    Ray's per-operator resource reservation is turned off too. It keeps half the CPUs
    for the operators before the convert tasks, which here only list chunks: measured
    on 2 CPUs, 2,000 answers took 6.8 s with it and 4.8 s without.
    """
    contexts = [dataset.context, _ray().data.DataContext.get_current()]
    saved = [
        (c.execution_options.preserve_order, c.enable_progress_bars, _reservation(c))
        for c in contexts
    ]
    for context in contexts:
        context.execution_options.preserve_order = True
        context.enable_progress_bars = progress_bars
        if own_plan and hasattr(context, "op_resource_reservation_enabled"):
            context.op_resource_reservation_enabled = False
    try:
        yield
    finally:
        for context, (order, bars, reserve) in zip(contexts, saved, strict=True):
            context.execution_options.preserve_order = order
            context.enable_progress_bars = bars
            if reserve is not None:
                context.op_resource_reservation_enabled = reserve


def _reservation(context: Any) -> bool | None:
    return getattr(context, "op_resource_reservation_enabled", None)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _iter_results(dataset: Any) -> Iterator[JobResult]:
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            yield result_from_row(row)


def _overlay_dir(options: BatchOptions) -> tuple[str | None, str]:
    if options.overlay_file is not None:
        return str(options.overlay_file.resolve().parent), options.overlay_file.suffix or ".png"
    if options.overlays is not None:
        return str(options.overlays.resolve()), options.overlay_format
    return None, options.overlay_format


def _name_dataset_row(result: JobResult, number: int) -> None:
    """A Dataset row without ``source`` is ``row N`` in the report and, without an image,
    ``row-N.jpg`` in COCO (one picture per row, as manifest lines get ``m-12.jpg``)."""
    result.source = f"{DATASET_SOURCE} {number}"
    if result.image is None:
        result.file_name = f"{DATASET_SOURCE}-{number}.jpg"
        if result.fragment is not None:
            result.fragment.image = replace(result.fragment.image, file_name=result.file_name)


def _place_overlay(result: JobResult, names: OverlayNames) -> None:
    """Rename a task's temporary overlay to its final name. Every row with an image takes
    its name in input order, failed or not, exactly as the local engine hands them out."""
    target = names.target(result.image, result.file_name)
    temporary, result.overlay_written = result.overlay_written, None
    unexplained = not any(p.kind is OverlayKind.NOT_WRITTEN for p in result.problems)
    if target is not None and temporary is None and result.error is None and unexplained:
        message = f"no overlay: {result.image} is a URI, not a local image file"
        result.problems.append(Problem(None, OverlayKind.NOT_WRITTEN, message, image=result.image))
    if temporary is None or target is None:
        return
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
    except OSError as exc:
        message = (
            f"the overlay written by a Ray worker could not be moved to {target} "
            f"({exc.strerror or exc}); workers and driver need a shared file system"
        )
        result.problems.append(Problem(None, OverlayKind.NOT_WRITTEN, message, image=result.image))
        return
    result.overlay_written = target


def _remove_temporaries(folder: str | None, run_id: str) -> None:
    if folder is None or not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.startswith(f".boxmask-{run_id}-"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


def run_ray_batch(
    source: Source,
    options: BatchOptions,
    *,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    rows_per_task: int = DEFAULT_ROWS_PER_TASK,
    concurrency: int | None = None,
    progress_bars: bool = False,
    on_result: Callable[[JobResult, int], None] | None = None,
) -> BatchReport:
    """:func:`boxmask.batch.run_batch` on Ray: the same files and report for the same input.

    ``source``: a ``ray.data.Dataset`` of rows (see :mod:`boxmask.distributed.rows`), a
    JSONL or Parquet manifest path, a folder of them, a list of paths, or a list of
    :class:`~boxmask.batch.Job`. ``options`` as for ``run_batch`` (``workers`` is not
    used: ``concurrency`` caps the convert tasks in flight, default one per cluster CPU).
    ``rows_per_task`` rows go to each convert task. ``on_result(result, done)`` is called
    on the driver for each row, in input order (progress). Connects to Ray with
    :func:`connect` when not connected. Raises what ``run_batch`` raises, plus
    :class:`LostTaskError` when a convert task's worker dies ``TASK_RETRIES + 1`` times
    (then no COCO file or report is written).
    """
    if rows_per_task < 1:
        raise ValueError("rows_per_task must be >= 1")
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    ray = _ray()
    if not ray.is_initialized():
        _log.info(connect("auto"))
    # checks that the outputs may be written; COCO shards are written by Ray tasks
    collector = ResultCollector(options, shards=RayShards)
    shards = collector.coco if isinstance(collector.coco, RayShards) else None
    names = overlay_names(options)
    run_id = uuid.uuid4().hex[:12]
    overlay_dir, suffix = _overlay_dir(options)
    settings = ConvertSettings(
        worker=make_worker_options(options),
        overlay_dir=overlay_dir,
        overlay_suffix=suffix,
        run_id=run_id,
        cwd=os.getcwd(),
        image_sizes=dict(image_sizes) if image_sizes is not None else None,
        segmentations_apart=shards is not None,
    )
    try:
        with warnings.catch_warnings():
            # Ray 2.60 names no parameter for max_retries/retry_exceptions yet and
            # warns about ray_remote_args, the only way to bound the retries.
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", DeprecationWarning)
            dataset, settings = _converted(
                source, settings, rows_per_task=rows_per_task, concurrency=concurrency
            )
        own_plan = not hasattr(source, "map_batches")
        context = (
            _ordered(dataset, progress_bars, own_plan=own_plan)
            if dataset is not None
            else _nothing()
        )
        done = 0
        with context:
            if dataset is not None and shards is not None:
                dataset = shards.take(dataset)  # the driver's pass leaves the masks out
            results = _iter_results(dataset) if dataset is not None else iter(())
            try:
                for done, result in enumerate(results, start=1):
                    if shards is not None:
                        shards.row = done - 1
                    result.index = done - 1
                    if result.source == DATASET_SOURCE:
                        _name_dataset_row(result, done)
                    _place_overlay(result, names)
                    collector.add(result)
                    if on_result is not None:
                        on_result(result, done)
            except ray.exceptions.RayError as exc:
                raise LostTaskError(_lost_task_message(exc, done, rows_per_task)) from None
    except BaseException:
        collector.abort()
        _remove_temporaries(overlay_dir, run_id)
        raise
    _remove_temporaries(overlay_dir, run_id)  # overlays of retried tasks
    return collector.finish()


class LostTaskError(BoxmaskError):
    """A Ray convert task failed after its retries (its worker kept dying); the run
    stopped, no COCO file or report was written; the message says how many rows."""


def _lost_task_message(exc: BaseException, converted: int, rows_per_task: int) -> str:
    cause = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {cause[0][:200]}" if cause else type(exc).__name__
    return (
        f"a Ray convert task failed {TASK_RETRIES + 1} times ({reason}); the run stopped "
        f"after {converted} rows: the lost task's rows (up to {rows_per_task}) and the "
        "rows after them were not converted, and no dataset was written"
    )


def convert_dataset(
    source: Source,
    out_dir: str | os.PathLike[str],
    *,
    mask_format: str = "rle",
    categories: Iterable[str] | None = None,
    threshold: int = 127,
    bbox_from: str = "model",
    overlays: bool = False,
    yolo: str | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    rows_per_task: int = DEFAULT_ROWS_PER_TASK,
    concurrency: int | None = None,
    force: bool = False,
    shard_size: int | None = None,
    on_result: Callable[[JobResult, int], None] | None = None,
) -> BatchReport:
    """Convert every row of ``source`` on Ray into one dataset in ``out_dir``.

    Writes ``out_dir/coco.json`` (one COCO file, ids 1..N in input order, masks as
    ``mask_format`` ``"rle"`` or ``"polygon"``), ``out_dir/report.json`` (every row:
    counts, problems with item index, or the failure), and when asked
    ``out_dir/overlays/<image>.png`` (``overlays=True``) and ``out_dir/yolo/`` (``yolo``
    ``"segment"`` or ``"detect"``: ``labels/train/*.txt`` + ``data.yaml``).

    ``categories`` fixes the category list (ids 1..K in this order; other labels are
    skipped and reported); by default ids are 1..K in first-seen input order, as the
    local engine assigns them. ``threshold`` (0-255) applies to PNG mask values;
    ``bbox_from`` is ``"model"`` (the model's box) or ``"mask"``. ``image_sizes`` maps
    ``image`` values to ``(width, height)`` pixels for rows that give no size.
    ``shard_size``: COCO shards of at most that many images, written by Ray tasks
    (``coco-00000.json``, …; ``coco.json`` is their index, see
    :mod:`boxmask.export.coco_shards`).
    Returns the :class:`~boxmask.batch.BatchReport`; see :func:`run_ray_batch` for
    ``source``, ``rows_per_task``, ``concurrency`` and ``on_result``.
    """
    out = Path(out_dir)
    options = BatchOptions(
        coco=out / "coco.json",
        overlays=out / "overlays" if overlays else None,
        yolo=out / "yolo" if yolo is not None else None,
        report=out / "report.json",
        yolo_task=yolo or "segment",
        bbox_from=bbox_from,
        mask_format=mask_format,
        threshold=threshold,
        categories=tuple(dict.fromkeys(categories)) if categories is not None else None,
        shard_size=shard_size,
        force=force,
    )
    start = time.perf_counter()
    report = run_ray_batch(
        source,
        options,
        image_sizes=image_sizes,
        rows_per_task=rows_per_task,
        concurrency=concurrency,
        on_result=on_result,
    )
    _log.info("converted %d rows in %.1f s", len(report.files), time.perf_counter() - start)
    return report
