"""``boxmask demo``: the main job on the bundled fixtures (real photos, every answer format).

Converts ``fixtures/answers`` (paired by name with ``fixtures/images``) into
``OUT/coco.json``, ``OUT/overlays/*.png``, ``OUT/yolo/`` and ``OUT/report.json``, then
prints the report. It is ``boxmask convert fixtures --coco ... --force`` with fixed paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from boxmask.batch.jobs import jobs_from_dir
from boxmask.batch.run import BatchOptions, default_workers, run_batch
from boxmask.cli.convert import print_report


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled fixtures",
        description="Convert the fixture answers and photos into COCO, overlays and a report.",
    )
    p.add_argument("--fixtures", default="fixtures", help="fixtures folder (default: fixtures)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    jobs, unpaired = jobs_from_dir(args.fixtures)
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
    return 0
