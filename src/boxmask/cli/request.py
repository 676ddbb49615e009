"""``boxmask detect|segment|point IMAGE... "what"`` and ``boxmask ask IMAGE... "prompt"``.

Calls the Gemini API (or any service at ``--base-url``, e.g. ``boxmask serve-fake``) with
the key from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``; the key is never taken on the
command line, where shell history and process lists would keep it. Several images are
sent concurrently (``--concurrency``); one failing image does not stop the others. Every
answer is journaled the moment it arrives and the outputs are streamed
(:mod:`boxmask.request_run`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from boxmask.api.defaults import DEFAULT_BASE_URL, DEFAULT_MODEL
from boxmask.terminal import safe_json, safe_text

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
                "IMAGE may be a file, a folder of images or a .jsonl/.txt list of images. "
                "Every answer is journaled at once (--answers); rerunning the same command "
                "requests only the images not answered yet. "
                "The API key comes from GEMINI_API_KEY (or GOOGLE_API_KEY)."
            ),
        )
        p.add_argument("args", nargs="+", metavar="IMAGE... WHAT",
                       help="images, folders or image lists, then what to look for")  # fmt: skip
        p.add_argument("--max-items", type=int, default=None, help="cap on items")
        p.add_argument("--concurrency", type=int, default=4, help="requests in flight (4)")
        p.add_argument("--rpm", type=float, default=None, help="requests per minute budget")
        p.add_argument("--tpm", type=float, default=None,
                       help="input tokens per minute budget (estimated from image sizes)")  # fmt: skip
        p.add_argument("--coco", metavar="OUT.json", type=Path, help="also write a COCO dataset")
        p.add_argument("--shard-size", metavar="N", type=int,
                       help="--coco as shards of at most N images + an index, as convert")  # fmt: skip
        p.add_argument("--yolo", metavar="DIR", type=Path, help="also write YOLO labels")
        p.add_argument("--overlay", metavar="DIR", type=Path,
                       help="also draw each image's items into DIR")  # fmt: skip
        p.add_argument("--answers", metavar="PATH.jsonl", type=Path,
                       help="the answers journal (default: beside the first output, "
                       "else ./boxmask-answers.jsonl)")  # fmt: skip
        p.add_argument("--prices", metavar="FILE.json",
                       help='{"model": [input, output]} USD per 1M tokens '
                       "(default: $BOXMASK_PRICES, else the built-in table)")  # fmt: skip
        p.add_argument("--dry-run", action="store_true",
                       help="count images, estimate input tokens and cost; send nothing")  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no progress, no per-image lines")
        p.add_argument("--batch", action="store_true",
                       help="send the images as one Gemini Batch API job (half price, "
                       "answers within 24 h; always generateContent); Ctrl-C leaves the "
                       "job running and rerunning the command reattaches to it")  # fmt: skip
        p.add_argument("--poll-interval", type=float, default=10.0, metavar="SECONDS",
                       help="first wait between polls of a batch job (10; grows x1.5 "
                       "per poll up to 300)")  # fmt: skip
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


def _client(args: argparse.Namespace, max_retries: int = 4) -> Any:
    from boxmask.api import Client

    return Client(
        model=args.model or DEFAULT_MODEL,
        base_url=args.base_url,
        api=args.api,
        timeout=args.timeout,
        max_retries=max_retries,
    )


def run_task(args: argparse.Namespace) -> int:
    """detect / segment / point: journal, resume, stream the outputs (see request_run)."""
    from boxmask import request_run
    from boxmask.api import DEFAULT_MODEL
    from boxmask.batch.run import BatchOptions
    from boxmask.pricing import PriceTable

    arguments, what = _split(args)
    images = request_run.expand_images(arguments)
    if not images:
        print("boxmask: error: no images found in " + " ".join(arguments), file=sys.stderr)
        return 2
    if args.poll_interval < 0:
        print("boxmask: error: --poll-interval must be >= 0 seconds", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("boxmask: error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    if args.shard_size is not None and (args.shard_size < 1 or args.coco is None):
        wrong = "must be at least 1" if args.shard_size < 1 else "splits --coco: give --coco too"
        print(f"boxmask: error: --shard-size {wrong}", file=sys.stderr)
        return 2
    outputs = BatchOptions(
        coco=args.coco,
        overlays=args.overlay,
        yolo=args.yolo,
        yolo_task=_yolo_task(args.task),
        shard_size=args.shard_size,
    )
    plan = request_run.RequestPlan(
        task=args.task,
        what=what,
        images=images,
        journal=args.answers or request_run.default_journal(outputs),
        outputs=outputs,
        model=args.model or DEFAULT_MODEL,
        # The Batch API runs generateContent requests only.
        api="generate_content" if args.batch else args.api,
        base_url=args.base_url,
        timeout=args.timeout,
        max_items=args.max_items,
        upload=args.upload,
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        quiet=args.quiet,
        json_lines=args.json,
        prices=PriceTable.load(args.prices),
        batch=args.batch,
        poll_interval=args.poll_interval,
    )
    if args.dry_run:
        return request_run.dry_run(plan)
    # Online, retries happen in the run, with a backoff shared by every worker; the few
    # calls of a batch job (upload, create, polls, download) are retried by the client.
    retries = 4 if args.batch else 0
    return request_run.run_requests(plan, lambda: _client(args, max_retries=retries))


def _yolo_task(task: str) -> str:
    return {"detect": "detect", "segment": "segment", "point": "detect"}[task]


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
    from boxmask.api.images import ImageRef, is_url

    return [
        ImageRef(image) if is_url(image) or image.startswith("files/") else Path(image)
        for image in images
    ]
