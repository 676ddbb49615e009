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
from boxmask.cli.common import format_table, parse_size, safe_text
from boxmask.errors import BoxmaskError, ExportError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
MAX_LISTED = 40


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert answers into COCO / YOLO / overlays, with a report",
        description=(
            "Convert one answer (ANSWER with --image or --size), a folder of answers and "
            "images paired by name (DIR), or a JSONL manifest (--manifest) into one COCO "
            "dataset, YOLO labels and overlays. Every problem is listed with its file and "
            "item index. Exit codes: 0 done, 1 problems found with --strict, 2 usage error."
        ),
    )
    p.add_argument("input", nargs="?", help="answer file (- for stdin) or a folder")
    p.add_argument("--manifest", type=Path, help="JSONL: {image, answer} or {image, response}")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--image", help="the image of a single ANSWER")
    size.add_argument("--size", type=parse_size, help="image size WxH of a single ANSWER")
    p.add_argument("--coco", type=Path, help="write one COCO dataset here")
    p.add_argument("--yolo", type=Path, help="write YOLO labels and data.yaml in this folder")
    p.add_argument(
        "--overlay", type=Path, help="overlay PNG (single answer) or folder of overlays (batch)"
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
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
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


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.threshold <= 255:
        return _usage("--threshold must be in 0..255")
    if args.workers is not None and args.workers < 1:
        return _usage("--workers must be at least 1")
    if args.address is not None and args.engine != "ray":
        return _usage("--address needs --engine ray")
    jobs: Any
    total: int | None = None
    single = False
    unpaired: list[str] = []
    if args.manifest is not None:
        if args.input is not None:
            return _usage("give either --manifest or an ANSWER/DIR, not both")
        if not args.manifest.is_file():
            return _usage(f"manifest {args.manifest} not found")
        jobs = jobs_from_manifest(args.manifest)
    elif args.input is None:
        return _usage("give an ANSWER file, a DIR, or --manifest (see boxmask convert --help)")
    elif args.input != "-" and Path(args.input).is_dir():
        jobs, unpaired = jobs_from_dir(args.input)
        total = len(jobs)
        if not jobs:
            return _usage(
                f"no answer in {args.input} pairs with an image (same name, e.g. a.txt + a.jpg)"
            )
    else:
        single = True
        if args.image is None and args.size is None:
            return _usage("a single ANSWER needs --image IMAGE or --size WxH")
        if args.input != "-" and not Path(args.input).is_file():
            return _usage(f"answer file {args.input} not found")
        if args.image is not None and not Path(args.image).is_file():
            return _usage(f"image {args.image} not found")
        if args.input == "-":
            job = Job(
                source="<stdin>", image=args.image, size=args.size, answer_text=sys.stdin.read()
            )
        else:
            job = Job(source=args.input, image=args.image, size=args.size, answer_path=args.input)
        jobs = [job]
        total = 1
    try:
        categories = _categories(args.categories)
    except OSError as exc:
        return _usage(f"cannot read categories: {exc}")
    overlay_file = args.overlay if single and args.overlay and args.overlay.suffix else None
    overlays = None if overlay_file is not None else args.overlay
    options = BatchOptions(
        coco=args.coco,
        overlays=overlays,
        overlay_file=overlay_file,
        yolo=args.yolo,
        report=args.report,
        yolo_task=args.yolo_task,
        bbox_from=args.bbox_from,
        workers=1 if single else (args.workers or default_workers()),
        mask_format=args.masks,
        threshold=args.threshold,
        categories=categories,
        force=args.force,
    )
    try:
        if args.engine == "ray":
            source = str(args.manifest) if args.manifest is not None else jobs
            report = _run_on_ray(source, options, args, progress_printer(total))
        else:
            report = run_batch(jobs, options, on_result=progress_printer(total))
    except _RayUnavailable as exc:
        clear_progress()
        return _usage(str(exc))
    except ExportError as exc:
        clear_progress()
        return _usage(str(exc))
    except ManifestError as exc:
        clear_progress()
        return _usage(str(exc))
    clear_progress()
    print_report(report, unpaired, quiet=args.quiet)
    found = report.problems + report.failed + len(unpaired)
    return EXIT_PROBLEMS if (args.strict and found) else EXIT_OK


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
