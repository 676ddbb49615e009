"""``boxmask review``: a static review site (index.html, thumbnails) for a COCO file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from boxmask.cli.common import positive_int


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "review",
        help="write a static review site (index.html, thumbnails) for a COCO file",
        description=(
            "Write DIR/index.html: a grid of overlay thumbnails with each image's items, "
            "problems from the report highlighted and linked to it, counts per label, "
            "and filters by label and by problem. Open it from the file system; no "
            "server or network is needed."
        ),
    )
    p.add_argument("coco", metavar="COCO.json", help="the COCO file to review")
    p.add_argument("--report", help="the report of `boxmask convert --report`")
    p.add_argument("--images", help="folder of the images (default: report paths, COCO folder)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the site")
    p.add_argument("--no-thumbnails", action="store_true", help="cards without pictures")
    p.add_argument("--workers", type=positive_int, default=1, help="processes for thumbnails (1)")
    p.add_argument("--title", help="page title")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from boxmask.review import build_review

    site = build_review(
        args.coco,
        args.output,
        report=args.report,
        images=args.images,
        thumbnails=not args.no_thumbnails,
        workers=args.workers,
        title=args.title,
    )
    missing = len(site.without_thumbnail) if not args.no_thumbnails else 0
    if missing:
        first = next(iter(site.without_thumbnail.values()))
        print(f"boxmask: warning: {missing} images without a thumbnail ({first})", file=sys.stderr)
    print(
        f"wrote {site.index}: {site.images} images, {site.thumbnails} thumbnails, "
        f"{site.problems} problems ({site.seconds:.2f} s)"
    )
    return 0
