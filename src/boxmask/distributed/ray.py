"""The Ray Data engine: convert millions of answers on a cluster into the files the local
engine writes (COCO, YOLO, overlays, report).

Plan (one streaming Ray Data pipeline)::

    manifest files ──► read tasks (one per file, lines/rows in order, numbered)
    or a Dataset   ──┘        │
                              ▼  streaming repartition: blocks of ``rows_per_task`` rows
                    convert tasks (map_batches, 1 CPU each, single-threaded):
                    row ► Job ► convert_job ► JobResult (COCO fragment with local ids,
                    YOLO rows, problems; overlay PNG under a temporary name)
                              │  preserve_order: results reach the driver in input order
                              ▼
                    driver: ResultCollector (the local engine's merge): fresh image and
                    annotation ids, categories by name (given, or first seen in input
                    order), streamed to disk; overlays renamed to their final names

Workers never assign ids or category ids, so the output is the local engine's, byte for
byte, whatever the cluster size. ``import ray`` happens inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import Job
from boxmask.batch.run import BatchOptions, BatchReport, OverlayNames, ResultCollector
from boxmask.batch.run import worker_options as make_worker_options
from boxmask.batch.worker import JobResult
from boxmask.distributed.rows import (
    DATASET_SOURCE,
    ConvertSettings,
    FileSpec,
    convert_row,
    dump_result,
    load_result,
    read_file_rows,
    row_from_job,
    working_directory,
)
from boxmask.errors import BoxmaskError

__all__ = [
    "ClusterError",
    "RayNotInstalledError",
    "connect",
    "convert_dataset",
    "disconnect",
    "run_ray_batch",
]

#: Rows per convert task: enough to amortize a task's few ms of overhead (a row takes
#: ~1-5 ms), few enough that every CPU gets work on small inputs.
DEFAULT_ROWS_PER_TASK = 64
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".txt")
_log = logging.getLogger("boxmask.distributed")


class RayNotInstalledError(BoxmaskError, ImportError):
    """``ray[data]`` is not installed: ``pip install 'boxmask[ray]'``."""


class ClusterError(BoxmaskError):
    """The Ray cluster could not be reached or started; the message says which address."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # the Data library is the part boxmask needs
    except ImportError as exc:
        raise RayNotInstalledError(
            f"the Ray engine needs ray[data] ({exc}); install it with: pip install 'boxmask[ray]'"
        ) from None
    return ray


def connect(
    address: str | None = "auto", *, num_cpus: int | None = None, quiet: bool = False
) -> str:
    """Connect this process to Ray and say what was done (one line for users).

    - Already connected (``ray.init`` was called): nothing changes.
    - ``address="auto"`` (or None): join the cluster named by ``RAY_ADDRESS`` or started on
      this machine with ``ray start``; when there is none, start a local Ray with
      ``num_cpus`` CPUs (default: all), which stops when this process exits.
    - ``address="local"``: always start a local Ray.
    - anything else (``ray://head:10001``, ``10.0.0.5:6379``): join that cluster;
      :class:`ClusterError` when it cannot be reached.

    ``quiet`` keeps Ray's console logging to errors (the CLI does this; Ray's log files
    keep everything). :func:`disconnect` undoes what this call did.
    """
    global _CONNECTED_HERE
    ray = _ray()
    if ray.is_initialized():
        return f"using the connected Ray ({_cpus(ray)} CPUs)"
    _CONNECTED_HERE = True
    level = logging.ERROR if quiet else logging.INFO
    local = {"num_cpus": num_cpus, "include_dashboard": False, "logging_level": level}
    if address in (None, "auto"):
        try:
            ray.init(address="auto", logging_level=level)
        except ConnectionError:
            ray.init(**local)
            message = f"no Ray cluster found; started a local Ray with {_cpus(ray)} CPUs"
        else:
            message = f"joined the Ray cluster at {_address(ray)} ({_cpus(ray)} CPUs)"
    elif address == "local":
        ray.init(**local)
        message = f"started a local Ray with {_cpus(ray)} CPUs"
    else:
        try:
            ray.init(address=address, logging_level=level)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ClusterError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
        message = f"joined the Ray cluster at {address} ({_cpus(ray)} CPUs)"
    if quiet:
        _quiet_ray_data()
    return message


def disconnect() -> None:
    """Leave Ray (stopping the local Ray it started) if :func:`connect` joined it;
    a Ray connected by the caller is left alone."""
    global _CONNECTED_HERE
    if _CONNECTED_HERE:
        _CONNECTED_HERE = False
        _ray().shutdown()


_CONNECTED_HERE = False


def _cpus(ray: Any) -> int:
    return int(ray.cluster_resources().get("CPU", 0))


def _address(ray: Any) -> str:
    with contextlib.suppress(Exception):
        return str(ray.get_runtime_context().gcs_address)
    return "auto"


def _quiet_ray_data() -> None:
    """Ray Data's console handler at ERROR (its log file keeps everything)."""
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)


# ------------------------------------------------------------------------------- tasks
def _read_task(batch: Any, *, files: Sequence[FileSpec], chunk_rows: int) -> Iterator[Any]:
    """map_batches UDF: one input row ``{"file": i}`` → the rows of file ``i`` in order."""
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found]

    for index in batch.column("file").to_pylist():
        for rows in read_file_rows(files[int(index)], int(index), chunk_rows):
            yield pa.Table.from_pylist(rows)


_SINGLE_THREADED = False


def _convert_task(batch: Any, *, settings: ConvertSettings) -> Any:
    """map_batches UDF: rows → one pickled :class:`JobResult` per row, in order."""
    global _SINGLE_THREADED
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found]

    if not _SINGLE_THREADED:  # one Ray CPU = one core: no helper threads in workers
        from boxmask.threads import set_threads

        set_threads(1)
        _SINGLE_THREADED = True
    with working_directory(settings.cwd):
        results = [dump_result(convert_row(row, settings)) for row in batch.to_pylist()]
    return pa.table({"result": pa.array(results, type=pa.large_binary())})


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


def _rows(source: Source, rows_per_task: int) -> tuple[Any, tuple[FileSpec, ...]]:
    """The lazy Dataset of input rows, in input order, and the manifest files read."""
    ray = _ray()
    files = _files(source)
    if files is not None:
        listing = ray.data.from_items(
            [{"file": i} for i in range(len(files))], override_num_blocks=max(1, len(files))
        )
        rows = listing.map_batches(
            _read_task,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"files": files, "chunk_rows": rows_per_task},
            num_cpus=0,  # reading is I/O: it must not take a CPU from the convert tasks
        )
        return rows, tuple(files)
    if isinstance(source, (list, tuple)):
        jobs = [row_from_job(j) if isinstance(j, Job) else dict(j) for j in source]
        return ray.data.from_items(jobs), ()
    if hasattr(source, "map_batches"):
        return source, ()
    raise TypeError(
        "source must be a ray.data.Dataset, a manifest path (JSONL or Parquet), a list "
        f"of paths, or a list of Jobs/rows; got {type(source).__name__}"
    )


def _converted(
    rows: Any, settings: ConvertSettings, *, rows_per_task: int, concurrency: int | None
) -> Any:
    """The lazy Dataset of pickled results, one per row, in order."""
    return _split(_ray(), rows, rows_per_task).map_batches(
        _convert_task,
        batch_size=None,
        batch_format="pyarrow",
        fn_kwargs={"settings": settings},
        num_cpus=1,
        concurrency=concurrency,
    )


def _split(ray: Any, rows: Any, rows_per_task: int) -> Any:
    """Blocks of at most ``rows_per_task`` rows, so that every CPU gets convert tasks.

    Ray >= 2.48 splits blocks as they stream by (``repartition(target_num_rows_per_block)``;
    earlier versions lack it or fail on it after a map). With an older Ray the rows are
    first materialized (in the object store, spilled to disk when large), then split
    into ``ceil(rows / rows_per_task)`` blocks in order.
    """
    if _version(ray.__version__) >= (2, 48):
        return rows.repartition(target_num_rows_per_block=rows_per_task)
    rows = rows.materialize()
    split = rows.repartition(max(1, -(-rows.count() // rows_per_task)))
    split.context.execution_options.preserve_order = rows.context.execution_options.preserve_order
    split.context.enable_progress_bars = rows.context.enable_progress_bars
    return split


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@contextlib.contextmanager
def _ordered(dataset: Any, progress_bars: bool) -> Iterator[Callable[[Any], Any]]:
    """Run with preserve_order (results in input order) and Ray's progress bars on or
    off. Recent Ray reads these from the dataset's context (shared with the datasets
    derived from it, and so with the caller's), older Ray (2.40) from the process-wide
    current context: both are set, and restored afterwards. Yields a function that
    applies the same settings to another dataset (a materialized one has its own)."""
    contexts = [dataset.context, _ray().data.DataContext.get_current()]
    saved = [(c.execution_options.preserve_order, c.enable_progress_bars) for c in contexts]

    def apply(other: Any) -> Any:
        other.context.execution_options.preserve_order = True
        other.context.enable_progress_bars = progress_bars
        return other

    for context in contexts:
        context.execution_options.preserve_order = True
        context.enable_progress_bars = progress_bars
    try:
        yield apply
    finally:
        for context, (order, bars) in zip(contexts, saved, strict=True):
            context.execution_options.preserve_order = order
            context.enable_progress_bars = bars


def _iter_results(dataset: Any) -> Iterator[JobResult]:
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        for data in batch.column("result").to_pylist():
            yield load_result(data)


def _overlay_dir(options: BatchOptions) -> tuple[str | None, str]:
    if options.overlay_file is not None:
        return str(options.overlay_file.resolve().parent), options.overlay_file.suffix or ".png"
    if options.overlays is not None:
        return str(options.overlays.resolve()), ".png"
    return None, ".png"


def _place_overlay(result: JobResult, names: OverlayNames) -> None:
    """Rename a task's temporary overlay to its final name. Every row with an image takes
    its name in input order, failed or not, exactly as the local engine hands them out."""
    target = names.target(result.image, result.file_name)
    temporary, result.overlay_written = result.overlay_written, None
    if target is not None and temporary is None and result.error is None:
        result.problems.append(
            {
                "index": None,
                "kind": "overlay",
                "message": f"no overlay: {result.image} is a URI, not a local image file",
                "dropped": False,
            }
        )
    if temporary is None or target is None:
        return
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
    except OSError as exc:
        result.problems.append(
            {
                "index": None,
                "kind": "overlay",
                "message": (
                    f"the overlay written by a Ray worker could not be moved to {target} "
                    f"({exc.strerror or exc}); workers and driver need a shared file system"
                ),
                "dropped": False,
            }
        )
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
    :func:`connect` when not connected. Raises what ``run_batch`` raises, plus Ray's errors
    when a task fails after Ray's retries (then no COCO file or report is written).
    """
    if rows_per_task < 1:
        raise ValueError("rows_per_task must be >= 1")
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    ray = _ray()
    if not ray.is_initialized():
        _log.info(connect("auto"))
    collector = ResultCollector(options)  # checks that the outputs may be written
    names = OverlayNames(options)
    run_id = uuid.uuid4().hex[:12]
    overlay_dir, suffix = _overlay_dir(options)
    settings = ConvertSettings(
        worker=make_worker_options(options),
        overlay_dir=overlay_dir,
        overlay_suffix=suffix,
        run_id=run_id,
        cwd=os.getcwd(),
        image_sizes=dict(image_sizes) if image_sizes is not None else None,
    )
    try:
        rows, files = _rows(source, rows_per_task)
        settings = replace(settings, files=files)
        with _ordered(rows, progress_bars) as apply:
            dataset = apply(
                _converted(rows, settings, rows_per_task=rows_per_task, concurrency=concurrency)
            )
            for done, result in enumerate(_iter_results(dataset), start=1):
                result.index = done - 1
                if result.source == DATASET_SOURCE:
                    result.source = f"{DATASET_SOURCE} {done}"
                _place_overlay(result, names)
                collector.add(result)
                if on_result is not None:
                    on_result(result, done)
    except BaseException:
        collector.abort()
        _remove_temporaries(overlay_dir, run_id)
        raise
    _remove_temporaries(overlay_dir, run_id)  # overlays of retried tasks
    return collector.finish()


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
