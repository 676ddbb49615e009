"""``boxmask parse``: parse answers and print what they hold: every item's label, pixel box
``[xmin, ymin, xmax, ymax]`` (x to the right, y down, pixel edges), score, mask area and
point, then the counts and problems of each answer."""

from __future__ import annotations

import argparse
from typing import Any

from boxmask.cli.common import image_size, parse_size, read_answer_arg
from boxmask.detections import Detections
from boxmask.errors import ParseError
from boxmask.parse import parse
from boxmask.terminal import format_table, safe_json, safe_text

#: The table of items: the coordinate order is named in the header.
ITEM_HEADERS = [
    "answer",
    "item",
    "label",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "score",
    "mask px",
    "point x,y",
]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "parse",
        help="parse model answers and print a summary",
        description="Parse model answers (files, or - for stdin) and summarise them.",
    )
    p.add_argument("answers", nargs="+", metavar="ANSWER", help="answer file, or - for stdin")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--image", help="the image the answer describes (gives the size)")
    size.add_argument("--size", type=parse_size, help="image size as WxH, e.g. 1920x1080")
    p.add_argument("--threshold", type=int, default=127, help="mask threshold 0-255 (127)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of tables (items[].box_xyxy: pixel [xmin, ymin, xmax, ymax])",
    )
    p.add_argument("--counts", action="store_true", help="only the counts, not every item")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    width, height = args.size if args.size else image_size(args.image)
    rows: list[list[Any]] = []
    item_rows: list[list[Any]] = []
    report: list[dict[str, Any]] = []
    failed = 0
    for name in args.answers:
        try:
            detections = parse(
                read_answer_arg(name), width=width, height=height, threshold=args.threshold
            )
        except ParseError as exc:
            failed += 1
            rows.append([name, "-", "-", "-", "-", f"unreadable: {exc.reason}"])
            report.append({"answer": name, "error": str(exc)})
            continue
        s = detections.summary()
        rows.append([name, s["items"], s["boxes"], s["masks"], s["points"], s["problems"]])
        detail = item_details(detections)
        item_rows.extend(_item_row(name, item) for item in detail)
        entry = {"answer": name, **s, "problems_detail": [p.to_dict() for p in detections.problems]}
        if not args.counts:
            entry["detections"] = detail
        report.append(entry)
    if args.json:
        print(safe_json(report))
    else:
        if item_rows and not args.counts:
            print("items: pixel boxes [xmin, ymin, xmax, ymax] (x right, y down), mask px = area")
            print(format_table(ITEM_HEADERS, item_rows))
            print()
        print(format_table(["answer", "items", "boxes", "masks", "points", "problems"], rows))
        for entry in report:
            for problem in entry.get("problems_detail", []):
                where = "answer" if problem["index"] is None else f"item {problem['index']}"
                line = f"  {entry['answer']}: {where}: {problem['kind']}: {problem['message']}"
                print(safe_text(line))
    return 1 if failed else 0


def item_details(detections: Detections) -> list[dict[str, Any]]:
    """Every item as JSON-ready values: ``index`` (position in the model's list),
    ``label``, ``box_xyxy`` (pixel ``[xmin, ymin, xmax, ymax]`` edges, None for an item
    with only a point), ``score``, ``mask_area`` (pixels, None without a mask) and
    ``point_xy`` (pixel ``[x, y]`` or None)."""
    areas = None
    if detections.masks is not None:
        areas = [
            int(area) if has else None
            for area, has in zip(
                detections.masks.areas.tolist(), detections.masks.has_mask.tolist(), strict=True
            )
        ]
    details = []
    for position, item in enumerate(detections):
        details.append(
            {
                "index": item.source_index,
                "label": item.label,
                "box_xyxy": None if item.box is None else [round(v, 2) for v in item.box],
                "score": item.score,
                "mask_area": None if areas is None else areas[position],
                "point_xy": None if item.point is None else [round(v, 2) for v in item.point],
            }
        )
    return details


def _item_row(answer: str, item: dict[str, Any]) -> list[Any]:
    box = item["box_xyxy"] or ["-"] * 4
    point = item["point_xy"]
    return [
        answer,
        item["index"],
        item["label"],
        *box,
        "-" if item["score"] is None else item["score"],
        "-" if item["mask_area"] is None else item["mask_area"],
        "-" if point is None else f"{point[0]:.1f},{point[1]:.1f}",
    ]
