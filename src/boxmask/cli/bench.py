"""``boxmask bench``: how fast answer decoding is (box-only, PNG or polygon masks), on
generated answers or your own."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxmask.cli.common import parse_size
from boxmask.errors import ParseError
from boxmask.parse import parse
from boxmask.terminal import format_table


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark answer decoding (boxmask vs the Pillow reference, supervision)",
        description=(
            "Decode answers (box-only, PNG masks or polygon masks) with boxmask, with "
            "Google's Pillow reference decode (PNG masks) and (when installed) supervision, "
            "and print items/s and megapixels/s. Without ANSWERS, a Gemini-format answer of "
            "--kind with --masks items is generated."
        ),
    )
    p.add_argument("answers", nargs="*", metavar="ANSWER", help="answer files")
    p.add_argument(
        "--kind",
        choices=("png", "polygon", "boxes"),
        default="png",
        help="generated answer: PNG masks (Gemini 2.5), polygon masks (3.x), boxes only",
    )
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
        texts = [_generated(args.kind, args.masks)]
        source = f"generated answer, {args.masks} items ({args.kind}, Gemini format)"
    try:
        decoded = [parse(t, width=width, height=height) for t in texts]
    except ParseError as exc:
        print(f"boxmask bench: error: {exc}")
        return 2
    masks = sum(len(d) for d in decoded)
    pixels = sum(0 if d.masks is None else d.masks.stored_pixels for d in decoded)
    if masks == 0:
        print("boxmask bench: error: the answers hold no item to decode")
        return 2
    del decoded
    methods: list[tuple[str, Callable[[], object]]] = [
        ("boxmask parse", lambda: [parse(t, width=width, height=height) for t in texts])
    ]
    if not args.no_reference and any('"mask": "' in t or "base64" in t for t in texts):
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

        def run_supervision() -> list[Any]:
            return [
                sv.Detections.from_vlm(
                    vlm=sv.VLM.GOOGLE_GEMINI_2_5, result=t, resolution_wh=(width, height)
                )
                for t in texts
            ]

        # Left out when it does not read every item (polygon masks): no fair comparison.
        if sum(len(found) for found in run_supervision()) >= masks:
            methods.append((f"supervision {sv.__version__} from_vlm", run_supervision))
    except Exception:
        pass
    rows = []
    base = None
    for name, fn in methods:
        seconds = _best(fn, args.repeat)
        base = base or seconds
        rows.append([name, seconds * 1e3, masks / seconds, pixels / seconds / 1e6, seconds / base])
    print(
        f"boxmask bench: {source}; image {width}x{height}; {masks} items, {pixels / 1e6:.1f} MP of crops"
    )
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()}"
    )
    print(format_table(["method", "ms", "items/s", "MP/s", "x boxmask time"], rows))
    return 0


def _generated(kind: str, count: int) -> str:
    """A Gemini-format answer of ``count`` items: PNG masks, polygon masks or boxes."""
    import json

    import numpy as np

    from boxmask.testing.answers import make_items, to_answer_text

    if kind == "png":
        return to_answer_text(make_items(count, seed=0, min_side=30, max_side=500))
    rng = np.random.default_rng(0)
    items: list[dict[str, Any]] = []
    for i in range(count):
        cx, cy = rng.uniform(100, 900, 2)
        if kind == "boxes":
            y0, x0 = (int(v) for v in rng.integers(0, 800, 2))
            box = [y0, x0, y0 + int(rng.integers(10, 200)), x0 + int(rng.integers(10, 200))]
            items.append({"box_2d": box, "label": f"object {i % 7}"})
            continue
        angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
        radii = rng.uniform(20, 120) * rng.uniform(0.6, 1.0, 40)
        ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        items.append({"label": f"object {i % 7}", "mask": np.round(ring, 1).tolist()})
    body = {"boxes": items} if kind == "polygon" else items
    return "```json\n" + json.dumps(body) + "\n```"
