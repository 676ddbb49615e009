"""``boxmask bench``: how fast mask decoding is, on generated answers or your own."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxmask.cli.common import format_table, parse_size
from boxmask.errors import ParseError
from boxmask.parse import parse


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark mask decoding (boxmask vs the Pillow reference, supervision)",
        description=(
            "Decode PNG-mask answers with boxmask, with Google's Pillow reference decode and "
            "(when installed) supervision, and print masks/s and megapixels/s. Without "
            "ANSWERS, a Gemini-format answer with --masks masks is generated."
        ),
    )
    p.add_argument("answers", nargs="*", metavar="ANSWER", help="answer files (PNG masks)")
    p.add_argument("--size", type=parse_size, default=(4032, 3024), help="image size (4032x3024)")
    p.add_argument("--masks", type=int, default=200, help="masks in the generated answer (200)")
    p.add_argument("--repeat", type=int, default=3, help="runs per method; best is kept (3)")
    p.add_argument("--no-reference", action="store_true", help="skip the slow Pillow reference")
    p.set_defaults(handler=run)


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(args: argparse.Namespace) -> int:
    width, height = args.size
    if args.answers:
        texts = [Path(a).read_text(encoding="utf-8", errors="replace") for a in args.answers]
        source = f"{len(texts)} answer file(s)"
    else:
        from boxmask.testing.answers import make_items, to_answer_text

        texts = [to_answer_text(make_items(args.masks, seed=0, min_side=30, max_side=500))]
        source = f"generated answer, {args.masks} masks of 256x256 (Gemini format)"
    try:
        decoded = [parse(t, width=width, height=height) for t in texts]
    except ParseError as exc:
        print(f"boxmask bench: error: {exc}")
        return 2
    masks = sum(0 if d.masks is None else int(d.masks.has_mask.sum()) for d in decoded)
    pixels = sum(0 if d.masks is None else d.masks.stored_pixels for d in decoded)
    if masks == 0:
        print("boxmask bench: error: the answers hold no PNG or polygon mask to decode")
        return 2
    del decoded
    methods: list[tuple[str, Callable[[], object]]] = [
        ("boxmask parse", lambda: [parse(t, width=width, height=height) for t in texts])
    ]
    if not args.no_reference:
        from boxmask.answer import read_answer
        from boxmask.testing.reference import reference_masks

        items = [
            [
                i
                for i in read_answer(t).items
                if isinstance(i, dict) and isinstance(i.get("mask"), str)
            ]
            for t in texts
        ]
        methods.append(
            (
                "Pillow reference (cookbook)",
                lambda: [reference_masks(i, width, height) for i in items],
            )
        )
    try:
        import supervision as sv

        methods.append(
            (
                f"supervision {sv.__version__} from_vlm",
                lambda: [
                    sv.Detections.from_vlm(
                        vlm=sv.VLM.GOOGLE_GEMINI_2_5, result=t, resolution_wh=(width, height)
                    )
                    for t in texts
                ],
            )
        )
    except ImportError:
        pass
    rows = []
    base = None
    for name, fn in methods:
        seconds = _best(fn, args.repeat)
        base = base or seconds
        rows.append([name, seconds * 1e3, masks / seconds, pixels / seconds / 1e6, seconds / base])
    print(
        f"boxmask bench: {source}; image {width}x{height}; {masks} masks, {pixels / 1e6:.1f} MP of crops"
    )
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()}"
    )
    print(format_table(["method", "ms", "masks/s", "MP/s", "x boxmask time"], rows))
    return 0
