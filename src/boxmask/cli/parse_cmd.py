"""``boxmask parse``: parse answers and print what they hold (items, masks, problems)."""

from __future__ import annotations

import argparse
from typing import Any

from boxmask.cli.common import image_size, parse_size, read_answer_arg
from boxmask.errors import ParseError
from boxmask.parse import parse
from boxmask.terminal import format_table, safe_json, safe_text


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
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    width, height = args.size if args.size else image_size(args.image)
    rows: list[list[Any]] = []
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
        report.append(
            {
                "answer": name,
                **s,
                "problems_detail": [p.to_dict() for p in detections.problems],
            }
        )
    if args.json:
        print(safe_json(report))
    else:
        print(format_table(["answer", "items", "boxes", "masks", "points", "problems"], rows))
        for entry in report:
            for problem in entry.get("problems_detail", []):
                where = "answer" if problem["index"] is None else f"item {problem['index']}"
                line = f"  {entry['answer']}: {where}: {problem['kind']}: {problem['message']}"
                print(safe_text(line))
    return 1 if failed else 0
