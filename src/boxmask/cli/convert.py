"""``boxmask convert``: answers (+ images) → COCO, YOLO, overlays and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import Job, ManifestError, jobs_from_dir, jobs_from_manifest
from boxmask.batch.run import (
    BatchOptions,
    BatchReport,
    clear_progress,
    default_workers,
    progress_printer,
    run_batch,
)
from boxmask.cli.common import parse_size
from boxmask.errors import BoxmaskError, ExportError
from boxmask.terminal import format_table, safe_text

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_OUTPUT = 0, 1, 2, 3
MAX_LISTED = 40


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert answers into COCO / YOLO / overlays, with a report",
        description=(
            "Convert one answer (ANSWER with --image or --size), a folder of answers and "
            "images paired by name (DIR), or a JSONL manifest (--manifest) into one COCO "
            "dataset, YOLO labels and overlays. Every problem is listed with its file and "
            "item index. Exit codes: 0 done; 1 some input failed or an output was not "
            "written (with --strict: or any item was degraded); 2 usage error; 3 an output "
            "could not be written; 130 interrupted."
        ),
    )
    p.add_argument("input", nargs="?", help="answer file (- for stdin) or a folder")
    p.add_argument("--manifest", type=Path, help="JSONL: {image, answer} or {image, response}")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--image", help="the image of a single ANSWER")
    size.add_argument("--size", type=parse_size, help="image size WxH of a single ANSWER")
    p.add_argument("--coco", type=Path, help="write one COCO dataset here")
    p.add_argument(
        "--shard-size",
        type=int,
        metavar="N",
        help=(
            "write --coco as COCO shards of at most N images (OUT-00000.json, ...) and "
            "make OUT.json their index"
        ),
    )
    p.add_argument("--yolo", type=Path, help="write YOLO labels and data.yaml in this folder")
    p.add_argument(
        "--overlay", type=Path, help="overlay PNG (single answer) or folder of overlays (batch)"
    )
    p.add_argument(
        "--yolo-images",
        choices=["link", "copy", "none"],
        default="link",
        help="put the pictures into the YOLO dataset: hard links (else copies), copies, or none",
    )
    p.add_argument(
        "--overlay-format",
        choices=["jpg", "png"],
        default="jpg",
        help="overlays in a folder: JPEG q90 (fast; default) or PNG (lossless)",
    )
    p.add_argument("--masks", choices=["rle", "polygon"], default="rle", help="COCO mask format")
    p.add_argument(
        "--yolo-task", choices=["segment", "detect"], default="segment", help="YOLO label kind"
    )
    p.add_argument(
        "--bbox-from",
        choices=["model", "mask"],
        default="model",
        help="COCO bbox: the model's box, or the tight box of the mask",
    )
    p.add_argument("--threshold", type=int, default=127, help="mask threshold 0-255 (127)")
    p.add_argument("--categories", help="fixed category list: a,b,c or @file with one per line")
    p.add_argument("--report", type=Path, help="write the JSON report here")
    p.add_argument(
        "--review",
        type=Path,
        metavar="DIR",
        help="also write the review site (DIR/index.html) of the dataset; needs --coco",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: CPU count); answers without masks (detection) cost "
        "about what moving them between processes does: on two CPUs 1 is faster",
    )
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local processes (default) or Ray Data (pip install 'boxmask[ray]'): same outputs",
    )
    p.add_argument(
        "--address",
        default=None,
        help=(
            "Ray cluster for --engine ray: auto (default: RAY_ADDRESS or a cluster started "
            "with 'ray start' on this machine, else a local Ray is started and stopped), "
            "local, or ray://HOST:10001 / HOST:6379"
        ),
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when any problem was found")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="print only the totals")
    p.set_defaults(handler=run)


def _usage(message: str) -> int:
    print(safe_text(f"boxmask convert: error: {message}"), file=sys.stderr)
    return EXIT_USAGE


def _categories(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value.startswith("@"):
        lines = Path(value[1:]).read_text(encoding="utf-8").splitlines()
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = [v.strip() for v in value.split(",") if v.strip()]
    return tuple(dict.fromkeys(names))


class _Usage(Exception):
    """A usage error: the message, exit code 2, nothing done."""


def _batch_jobs(args: argparse.Namespace) -> tuple[Any, int | None, list[str], list[Path]]:
    """(jobs, how many when known, unpaired answers, inputs) for a folder or a manifest."""
    for flag, value in (("--image", args.image), ("--size", args.size)):
        if value is not None:
            raise _Usage(f"{flag} applies to a single ANSWER; a folder or manifest pairs itself")
    if args.manifest is not None:
        if args.input is not None:
            raise _Usage("give either --manifest or an ANSWER/DIR, not both")
        if not args.manifest.is_file():
            raise _Usage(f"manifest {args.manifest} not found")
        return jobs_from_manifest(args.manifest), None, [], [args.manifest, args.manifest.parent]
    folder = Path(args.input)
    jobs, unpaired = jobs_from_dir(folder)
    if not jobs:
        raise _Usage(f"no answer in {folder} pairs with an image (same name, e.g. a.txt + a.jpg)")
    inputs = [folder, *{Path(j.image).parent for j in jobs if j.image}]
    inputs += [Path(j.answer_path) for j in jobs if j.answer_path]
    return jobs, len(jobs), unpaired, inputs


def _single_job(args: argparse.Namespace) -> tuple[Job, list[Path]]:
    if args.image is None and args.size is None:
        raise _Usage("a single ANSWER needs --image IMAGE or --size WxH")
    if args.size is not None and args.overlay is not None:
        raise _Usage("--overlay draws on the picture: give --image, not --size")
    if args.input != "-" and not Path(args.input).is_file():
        raise _Usage(f"answer file {args.input} not found")
    if args.image is not None and not Path(args.image).is_file():
        raise _Usage(f"image {args.image} not found")
    inputs = [Path(args.image)] if args.image is not None else []
    if args.input == "-":
        text = sys.stdin.read()
        return Job(source="<stdin>", image=args.image, size=args.size, answer_text=text), inputs
    job = Job(source=args.input, image=args.image, size=args.size, answer_path=args.input)
    return job, [*inputs, Path(args.input)]


def _check_args(args: argparse.Namespace) -> None:
    if not 0 <= args.threshold <= 255:
        raise _Usage("--threshold must be in 0..255")
    if args.workers is not None and args.workers < 1:
        raise _Usage("--workers must be at least 1")
    if args.address is not None and args.engine != "ray":
        raise _Usage("--address needs --engine ray")
    if args.manifest is None and args.input is None:
        raise _Usage("give an ANSWER file, a DIR, or --manifest (see boxmask convert --help)")
    if args.shard_size is not None:
        if args.shard_size < 1:
            raise _Usage(f"--shard-size must be at least 1, got {args.shard_size}")
        if args.coco is None:
            raise _Usage("--shard-size splits the COCO dataset: give --coco too")
        if args.review is not None:
            raise _Usage("--review shows one COCO file; leave out --shard-size or --review")
    if not any((args.coco, args.yolo, args.overlay, args.report)):
        raise _Usage("nothing to write: give --coco, --yolo, --overlay or --report")
    if args.review is not None:
        if args.coco is None:
            raise _Usage("--review shows the COCO dataset: give --coco too")
        if args.report is None:  # the site shows the problems: keep the report beside it
            args.report = args.coco.with_name(args.coco.stem + ".report.json")
        if args.review.exists() and any(args.review.iterdir()) and not args.force:
            raise _Usage(f"{args.review} is not empty; pass --force to replace it")


def _options(args: argparse.Namespace, single: bool, inputs: list[Path]) -> BatchOptions:
    try:
        categories = _categories(args.categories)
    except OSError as exc:
        raise _Usage(f"cannot read categories: {exc.strerror or exc}") from None
    overlay_file = args.overlay if single and args.overlay and args.overlay.suffix else None
    return BatchOptions(
        coco=args.coco,
        overlays=None if overlay_file is not None else args.overlay,
        overlay_file=overlay_file,
        yolo=args.yolo,
        report=args.report,
        yolo_task=args.yolo_task,
        yolo_images=args.yolo_images,
        overlay_format=f".{args.overlay_format}",
        bbox_from=args.bbox_from,
        workers=1 if single else (args.workers or default_workers()),
        mask_format=args.masks,
        threshold=args.threshold,
        categories=categories,
        shard_size=args.shard_size,
        force=args.force,
        inputs=tuple(inputs),
    )


def run(args: argparse.Namespace) -> int:
    try:
        _check_args(args)
        single = args.manifest is None and not (args.input != "-" and Path(args.input).is_dir())
        if single:
            job, inputs = _single_job(args)
            jobs: Any = [job]
            total: int | None = 1
            unpaired: list[str] = []
        else:
            jobs, total, unpaired, inputs = _batch_jobs(args)
        options = _options(args, single, inputs)
    except _Usage as exc:
        return _usage(str(exc))
    try:
        if args.engine == "ray":
            source = str(args.manifest) if args.manifest is not None else jobs
            report = _run_on_ray(source, options, args, progress_printer(total))
        else:
            report = run_batch(jobs, options, on_result=progress_printer(total))
    except (_RayUnavailable, ManifestError) as exc:
        clear_progress()
        return _usage(str(exc))
    except ExportError as exc:
        clear_progress()
        print(f"boxmask: error: {exc}", file=sys.stderr)
        return EXIT_OUTPUT if report_started(exc) else EXIT_USAGE
    clear_progress()
    print_report(report, unpaired, quiet=args.quiet)
    warning = report.font_warning()
    if warning is not None:
        print(warning, file=sys.stderr)
    if args.review is not None and args.coco.exists():
        from boxmask.review import build_review

        site = build_review(args.coco, args.review, report=args.report, workers=options.workers)
        print(f"wrote {site.index}", file=sys.stderr)
    return exit_code(report, unpaired, strict=args.strict)


def report_started(exc: ExportError) -> bool:
    """Whether an export error came from writing (disk full, I/O), not from checking."""
    return isinstance(exc.__cause__, OSError)


def exit_code(report: BatchReport, unpaired: list[str], *, strict: bool) -> int:
    """1 when an input failed or an output was not written (or, with ``strict``, any
    problem); else 0. See :mod:`boxmask.cli.main` for the table."""
    unwritten = {"not_written"}  # an overlay that could not be drawn or saved
    lost = sum(
        1 for entry in report.files for p in entry.get("problems", []) if p.get("kind") in unwritten
    )
    if report.failed or unpaired or lost or (strict and report.problems):
        return EXIT_PROBLEMS
    return EXIT_OK


class _RayUnavailable(BoxmaskError):
    """Ray is not installed, or the cluster cannot be reached (a usage error)."""


def _run_on_ray(
    source: Any, options: BatchOptions, args: argparse.Namespace, on_result: Any
) -> BatchReport:
    """The Ray engine: connect (or start a local Ray, saying so), convert, disconnect."""
    from boxmask.distributed import (
        ClusterError,
        RayNotInstalledError,
        connect,
        disconnect,
        run_ray_batch,
    )

    try:
        message = connect(args.address or "auto", num_cpus=args.workers, quiet=True)
    except (RayNotInstalledError, ClusterError) as exc:
        raise _RayUnavailable(str(exc)) from None
    print(f"boxmask convert: {message}", file=sys.stderr)
    try:
        return run_ray_batch(source, options, concurrency=args.workers, on_result=on_result)
    finally:
        disconnect()


def print_report(report: BatchReport, unpaired: list[str], *, quiet: bool) -> None:
    out = sys.stdout
    rows = []
    notes = []
    for entry in report.files:
        status = (
            "failed" if "error" in entry else ("ok" if not entry.get("problems") else "problems")
        )
        rows.append(
            [
                entry["answer"],
                entry.get("items", "-"),
                entry.get("masks", "-"),
                len(entry.get("problems", [])),
                status,
            ]
        )
        if "error" in entry:
            notes.append(f"{entry['answer']}: failed: {entry['error'].splitlines()[0]}")
        for p in entry.get("problems", []):
            if p["message"] == entry.get("error"):
                continue  # the kind of the failure (e.g. worker_lost), said just above
            where = "answer" if p["index"] is None else f"item {p['index']}"
            notes.append(f"{entry['answer']}: {where}: {p['kind']}: {p['message']}")
    if not quiet:
        shown = rows if len(rows) <= MAX_LISTED else [r for r in rows if r[-1] != "ok"][:MAX_LISTED]
        if shown:
            print(format_table(["answer", "items", "masks", "problems", "status"], shown), file=out)
            if len(shown) < len(rows):
                print(f"... {len(rows) - len(shown)} more files (see the JSON report)", file=out)
        for note in notes[:MAX_LISTED]:
            print(f"  {safe_text(note)}", file=out)
        if len(notes) > MAX_LISTED:
            print(f"  ... {len(notes) - MAX_LISTED} more problems (see the JSON report)", file=out)
        for path in unpaired:
            print(f"  {safe_text(path)}: no image with the same name; skipped", file=out)
    print(
        f"{len(report.files)} answers: {report.images} images, {report.annotations} annotations, "
        f"{report.masks} masks, {report.problems} problems, {report.failed} failed"
        + (f", {len(unpaired)} unpaired" if unpaired else "")
        + f" ({report.seconds:.2f} s)",
        file=out,
    )
