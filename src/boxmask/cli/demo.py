"""``boxmask demo``: the main job on the bundled fixtures (real photos, every answer format)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from boxmask.cli.common import format_table, image_size
from boxmask.errors import ParseError
from boxmask.parse import parse

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled fixtures",
        description="Parse every fixture answer against its photo and print a report.",
    )
    p.add_argument("--fixtures", default="fixtures", help="fixtures folder (default: fixtures)")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.set_defaults(handler=run)


def find_image(images_dir: Path, answer: Path) -> Path | None:
    """The image whose stem prefixes the answer's name (``coffee.seg.json`` → coffee.jpg)."""
    stem = answer.name.split(".")[0]
    for suffix in IMAGE_SUFFIXES:
        candidate = images_dir / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def run(args: argparse.Namespace) -> int:
    root = Path(args.fixtures)
    answers = sorted(p for p in (root / "answers").iterdir() if p.is_file())
    rows: list[list[Any]] = []
    notes: list[str] = []
    for answer in answers:
        image = find_image(root / "images", answer)
        if image is None:
            notes.append(f"{answer.name}: no image named like it in {root / 'images'}")
            continue
        width, height = image_size(image)
        try:
            d = parse(answer.read_text(encoding="utf-8"), width=width, height=height)
        except ParseError as exc:
            rows.append([answer.name, image.name, "-", "-", "-", "-", f"unreadable: {exc.reason}"])
            continue
        s = d.summary()
        area = int(d.masks.areas.sum()) if d.masks is not None else 0
        rows.append(
            [answer.name, image.name, s["items"], s["masks"], s["points"], area, s["problems"]]
        )
        for problem in d.problems:
            notes.append(f"{answer.name}: {problem}")
    print(
        format_table(["answer", "image", "items", "masks", "points", "mask px", "problems"], rows)
    )
    if notes:
        print("\nproblems reported:")
        for note in notes:
            print(f"  {note}")
    return 0
