"""``boxmask detect|segment|point IMAGE... "what"`` and ``boxmask ask IMAGE... "prompt"``.

Calls the Gemini API (or any service at ``--base-url``, e.g. ``boxmask serve-fake``) with
the key from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``; the key is never taken on the
command line, where shell history and process lists would keep it. Several images are
sent concurrently (``--concurrency``); one failing image does not stop the others.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from boxmask.api.defaults import DEFAULT_BASE_URL, DEFAULT_MODEL
from boxmask.cli.common import format_table, safe_json, safe_text
from boxmask.detections import Detections

TASKS = ("detect", "segment", "point")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model name (default: gemini-2.5-flash)")
    p.add_argument(
        "--api",
        choices=("interactions", "generate_content"),
        default="interactions",
        help="which Gemini API to call (default: interactions)",
    )
    p.add_argument(
        "--base-url",
        default=os.environ.get("BOXMASK_BASE_URL", DEFAULT_BASE_URL),
        help="service root (default: $BOXMASK_BASE_URL or the Gemini API)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request (300)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    upload = p.add_mutually_exclusive_group()
    upload.add_argument("--upload", dest="upload", action="store_const", const=True,
                        help="send images through the Files API")  # fmt: skip
    upload.add_argument("--inline", dest="upload", action="store_const", const=False,
                        help="always send images inline")  # fmt: skip


def register(subparsers: Any) -> None:
    for task in TASKS:
        p = subparsers.add_parser(
            task,
            help=f"{task} objects in images with the Gemini API",
            description=(
                f"Ask the model to {task} WHAT in each IMAGE and print the items in pixels. "
                "The API key comes from GEMINI_API_KEY (or GOOGLE_API_KEY)."
            ),
        )
        p.add_argument("args", nargs="+", metavar="IMAGE... WHAT",
                       help="image paths or URLs, then what to look for")  # fmt: skip
        p.add_argument("--max-items", type=int, default=None, help="cap on items")
        p.add_argument("--concurrency", type=int, default=4, help="images in flight (4)")
        p.add_argument("--coco", metavar="OUT.json", help="also write a COCO dataset")
        p.add_argument("--overlay", metavar="DIR", help="also draw each image's items into DIR")
        _common(p)
        p.set_defaults(handler=run_task, task=task)
    p = subparsers.add_parser(
        "ask",
        help="ask the model about images (captions, questions)",
        description="Send all IMAGEs with PROMPT in one request and print the answer.",
    )
    p.add_argument("args", nargs="+", metavar="IMAGE... PROMPT")
    p.add_argument("--max-output-tokens", type=int, default=None)
    _common(p)
    p.set_defaults(handler=run_ask)


def _split(args: argparse.Namespace) -> tuple[list[str], str]:
    if len(args.args) < 2:
        last = "WHAT" if hasattr(args, "task") else "PROMPT"
        raise SystemExit(f"boxmask: error: give at least one IMAGE, then {last}")
    return list(args.args[:-1]), str(args.args[-1])


def _client(args: argparse.Namespace) -> Any:
    from boxmask.api import Client

    return Client(
        model=args.model or DEFAULT_MODEL,
        base_url=args.base_url,
        api=args.api,
        timeout=args.timeout,
    )


def _items(d: Detections) -> list[dict[str, Any]]:
    out = []
    areas = d.masks.areas if d.masks is not None else None
    for i, item in enumerate(d):
        entry: dict[str, Any] = {"label": item.label}
        if item.box is not None:
            entry["box"] = [round(v, 2) for v in item.box]
        if item.point is not None:
            entry["point"] = [round(v, 2) for v in item.point]
        if item.score is not None:
            entry["score"] = item.score
        if areas is not None and item.mask is not None:
            entry["mask_pixels"] = int(areas[i])
        out.append(entry)
    return out


def run_task(args: argparse.Namespace) -> int:
    images, what = _split(args)
    from boxmask.errors import TruncatedError

    with _client(args) as client:
        method = getattr(client, args.task)

        def one(image: str) -> Detections:
            try:
                return method(image, what, max_items=args.max_items, upload=args.upload)  # type: ignore[no-any-return]
            except TruncatedError as exc:  # keep what was complete; the problem says why
                if isinstance(exc.detections, Detections):
                    return exc.detections
                raise

        outcomes = client.map(one, images, concurrency=max(1, args.concurrency))
    report: list[dict[str, Any]] = []
    failed = 0
    for outcome in outcomes:
        if not outcome.ok:
            failed += 1
            report.append({"image": outcome.item, "error": str(outcome.error)})
            continue
        d = outcome.value
        assert d is not None
        info = d.answer
        report.append(
            {
                "image": outcome.item,
                "width": d.width,
                "height": d.height,
                "items": _items(d),
                "problems": [p.to_dict() for p in d.problems],
                "finish_reason": info.finish_reason if info else None,
                "usage": info.usage if info else None,
            }
        )
    done = [(str(o.item), o.value) for o in outcomes if o.ok and o.value is not None]
    _write_outputs(args, done)
    if args.json:
        print(safe_json(report))
    else:
        _print_table(report)
    return 1 if failed else 0


def _write_outputs(args: argparse.Namespace, done: list[tuple[str, Detections]]) -> None:
    """``--coco``: one dataset, images in input order; ``--overlay``: one picture per local
    image, named ``STEM.TASK.png``."""
    if args.coco:
        from boxmask.export.coco import CocoDataset

        dataset = CocoDataset()
        for image, detections in done:
            dataset.add(detections, image)
        dataset.save(args.coco)
        print(safe_text(f"wrote {args.coco}"), file=sys.stderr)
    if args.overlay:
        from pathlib import Path

        from boxmask.api.images import is_url
        from boxmask.overlay import save_overlay

        folder = Path(args.overlay)
        folder.mkdir(parents=True, exist_ok=True)
        for image, detections in done:
            if is_url(image) or image.startswith("files/"):
                print(safe_text(f"{image}: no overlay for a remote image"), file=sys.stderr)
                continue
            save_overlay(image, detections, folder / f"{Path(image).stem}.{args.task}.png")


def _print_table(report: list[dict[str, Any]]) -> None:
    for entry in report:
        if "error" in entry:
            print(safe_text(f"{entry['image']}: error: {entry['error']}"), file=sys.stderr)
            continue
        print(
            f"{safe_text(entry['image'])} ({entry['width']}x{entry['height']}): "
            f"{len(entry['items'])} item(s)"
        )
        rows = []
        for item in entry["items"]:
            box = item.get("box") or ["-"] * 4
            point = item.get("point") or ["-", "-"]
            rows.append([item["label"], *box, *point, item.get("mask_pixels", "-")])
        if rows:
            headers = ["label", "x0", "y0", "x1", "y1", "px", "py", "mask px"]
            print(format_table(headers, rows))
        for problem in entry["problems"]:
            where = "answer" if problem["index"] is None else f"item {problem['index']}"
            print(safe_text(f"  problem: {where}: {problem['kind']}: {problem['message']}"))
        print()


def run_ask(args: argparse.Namespace) -> int:
    from boxmask.api import TextPart

    images, prompt = _split(args)
    with _client(args) as client:
        parts = images_as_parts(images)
        # The prompt text first, then the images (as Client.ask and the tasks send them).
        response = client.generate(
            [TextPart(prompt), *parts], max_output_tokens=args.max_output_tokens, upload=args.upload
        )
    if args.json:
        answer = {"text": response.text, "finish_reason": response.finish_reason}
        print(safe_json({**answer, "usage": response.usage}))
    else:
        print(safe_text(response.text, multiline=True))
    if response.truncated:
        print(
            f"boxmask: warning: the answer was cut at the token limit ({response.finish_reason})",
            file=sys.stderr,
        )
    return 0


def images_as_parts(images: list[str]) -> list[Any]:
    """Image arguments as ``generate`` parts (a bare string would be text there): URLs and
    Files API names become ``ImageRef``, the rest ``Path``."""
    from pathlib import Path

    from boxmask.api.images import ImageRef, is_url

    return [
        ImageRef(image) if is_url(image) or image.startswith("files/") else Path(image)
        for image in images
    ]
