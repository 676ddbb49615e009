"""``boxmask demo``: the main job on the bundled fixtures (real photos, every answer format).

Converts the fixture answers (paired by name with the fixture photos) into
``OUT/coco.json``, ``OUT/overlays/*.png``, ``OUT/yolo/`` and ``OUT/report.json``, then
prints the report. It is ``boxmask convert FIXTURES --coco ... --force`` with fixed paths.

The fixtures ship inside the package (``boxmask/fixtures``: ``images/``, ``answers/`` and
``LICENSES.md``), so the demo runs wherever boxmask is installed, not only in a clone of
the repository; ``--fixtures DIR`` runs it on another folder of the same layout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import jobs_from_dir
from boxmask.batch.run import BatchOptions, default_workers, run_batch
from boxmask.cli.convert import print_report

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

#: Where the fixtures live inside the installed package.
FIXTURES_RESOURCE = "fixtures"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled fixtures",
        description=(
            "Convert the bundled fixture answers and photos (shipped with boxmask) into "
            "COCO, YOLO, overlays and a report."
        ),
    )
    p.add_argument(
        "--fixtures",
        type=Path,
        default=None,
        help="folder with answers/ and images/ (default: the fixtures bundled with boxmask)",
    )
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.set_defaults(handler=run)


@contextlib.contextmanager
def bundled_fixtures() -> Iterator[Path]:
    """The bundled fixtures folder as a real directory for as long as the block runs.

    An ordinary install (wheel, editable, source tree) gives the folder itself; when the
    package is imported from an archive (zipimport), the files are copied to a temporary
    folder that is removed afterwards.
    """
    folder = resources.files("boxmask").joinpath(FIXTURES_RESOURCE)
    if isinstance(folder, Path):
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="boxmask-fixtures-") as tmp:
        target = Path(tmp) / FIXTURES_RESOURCE
        _copy_tree(folder, target)
        yield target


def _copy_tree(source: Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            with entry.open("rb") as src, (target / entry.name).open("wb") as dst:
                shutil.copyfileobj(src, dst)


def run(args: argparse.Namespace) -> int:
    if args.fixtures is not None:
        if not args.fixtures.is_dir():
            print(f"boxmask: error: fixtures folder {args.fixtures} not found", file=sys.stderr)
            return 2
        return _convert(args.fixtures, Path(args.out))
    with bundled_fixtures() as fixtures:
        return _convert(fixtures, Path(args.out))


def _convert(fixtures: Path, out: Path) -> int:
    jobs, unpaired = jobs_from_dir(fixtures)
    # Reports name each answer within the fixtures folder, printed once above them.
    jobs = [dataclasses.replace(j, source=_within(j.source, fixtures)) for j in jobs]
    print(f"fixtures: {fixtures}")
    options = BatchOptions(
        coco=out / "coco.json",
        overlays=out / "overlays",
        yolo=out / "yolo",
        report=out / "report.json",
        workers=min(2, default_workers()),
        force=True,
    )
    report = run_batch(jobs, options)
    print_report(report, unpaired, quiet=False)
    print(
        f"\nwrote {options.coco}, {options.overlays}/ ({len(jobs)} overlays), "
        f"{options.yolo}/, {options.report}"
    )
    return 1 if report.failed or not jobs else 0


def _within(path: str, folder: Path) -> str:
    relative = os.path.relpath(path, folder)
    return path if relative.startswith("..") else Path(relative).as_posix()
