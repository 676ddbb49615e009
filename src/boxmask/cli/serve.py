"""``boxmask serve-fake``: run the local Gemini-protocol server for offline tests and demos."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve-fake",
        help="run a local fake Gemini API (127.0.0.1) for offline use",
        description=(
            "Serve the Gemini wire protocol on 127.0.0.1: both model endpoints, the Files "
            "API and auth. The fake model segments coloured shapes on plain backgrounds."
        ),
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks one)")
    p.add_argument("--key", action="append", default=None,
                   help="accepted API key (repeatable; default: any non-empty key)")  # fmt: skip
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to model calls")
    p.add_argument("--mask-format", choices=("png", "polygon", "tokens"), default=None,
                   help="segmentation mask format (default: as the model would)")  # fmt: skip
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from boxmask.testing.server import FakeGemini

    server = FakeGemini(
        api_keys=args.key, port=args.port, latency=args.latency, mask_format=args.mask_format
    )
    with server:
        url = server.base_url
        keys = "any non-empty API key" if args.key is None else "the given API key(s)"
        print(f"Fake Gemini API on {url} (accepts {keys}). Try:", flush=True)
        print(f'  GEMINI_API_KEY=fake boxmask detect IMAGE "the shapes" --base-url {url}')
        print("Ctrl-C stops it.", flush=True)
        try:
            if args.duration is not None:
                time.sleep(max(0.0, args.duration))
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0
