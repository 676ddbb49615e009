"""Entry point of the ``boxmask`` command.

Each command lives in its own module exposing ``register(subparsers)``; the module adds
its parser and sets ``handler`` to a function ``(args) -> int`` (the exit code).
Exit codes: 0 success, 1 failure (or problems with ``--strict``), 2 usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from boxmask import __version__
from boxmask.cli.common import safe_text
from boxmask.errors import BoxmaskError

#: Command modules, in the order ``boxmask --help`` lists them.
COMMAND_MODULES = [
    "boxmask.cli.parse_cmd",
    "boxmask.cli.demo",
    "boxmask.cli.request",
    "boxmask.cli.serve",
    "boxmask.cli.overlay",
    "boxmask.cli.convert",
    "boxmask.cli.bench",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boxmask",
        description="Turn Gemini-style spatial answers into pixels, masks, datasets and pictures.",
    )
    parser.add_argument("--version", action="version", version=f"boxmask {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args))
    except BoxmaskError as exc:
        print(safe_text(f"boxmask: error: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
    except FileNotFoundError as exc:
        print(safe_text(f"boxmask: error: file not found: {exc.filename}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("boxmask: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
