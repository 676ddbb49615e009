"""``boxmask serve-fake``: run the local Gemini-protocol server for offline tests and demos."""

from __future__ import annotations

import argparse
import errno
import sys
import time
from typing import Any


def _port(text: str) -> int:
    """A TCP port number, 0 (pick a free one) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve-fake",
        help="run a local fake Gemini API (127.0.0.1) for offline use",
        description=(
            "Serve the Gemini wire protocol on 127.0.0.1 (under /v1/ and /v1beta/): "
            "generateContent (also streamed), countTokens, models, Interactions, the Files "
            "API, the Batch API and auth. The official google-genai SDK works against it "
            "with base_url set. The fake model segments coloured shapes on plain backgrounds."
        ),
    )
    p.add_argument("--port", type=_port, default=8765,
                   help="port (default 8765; 0 picks a free one, printed at start)")  # fmt: skip
    p.add_argument("--key", action="append", default=None,
                   help="accepted API key (repeatable; default: any non-empty key)")  # fmt: skip
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to model calls")
    p.add_argument("--mask-format", choices=("png", "polygon", "tokens"), default=None,
                   help="segmentation mask format (default: as the model would)")  # fmt: skip
    p.add_argument("--batch-polls", type=int, default=1, metavar="N",
                   help="the poll that finds a batch job done (default 1; 0: done at create)")  # fmt: skip
    p.add_argument("--lenient", action="store_true",
                   help="accept unknown request fields (the service refuses them)")  # fmt: skip
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from boxmask.testing.server import FakeGemini

    server = FakeGemini(
        api_keys=args.key,
        port=args.port,
        latency=args.latency,
        mask_format=args.mask_format,
        strict=not args.lenient,
        batch_polls=max(0, args.batch_polls),
    )
    try:
        server.start()
    except OSError as exc:
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        print(f"boxmask: error: cannot listen on 127.0.0.1:{args.port}: {why}", file=sys.stderr)
        return 1
    with server:
        url = server.base_url
        keys = "any non-empty API key" if args.key is None else "the given API key(s)"
        print(f"Fake Gemini API on {url} (accepts {keys}). Try:", flush=True)
        print(f'  GEMINI_API_KEY=fake boxmask detect IMAGE "the shapes" --base-url {url}')
        print(f'  genai.Client(api_key="fake", http_options={{"base_url": "{url}"}})')
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
