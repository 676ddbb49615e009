"""Entry point of the ``boxmask`` command.

Each command lives in its own module exposing ``register(subparsers)``; the module adds
its parser and sets ``handler`` to a function ``(args) -> int`` (the exit code).

Exit codes (every command):

====  =======================================================================
0     done; whatever was degraded is listed (and in ``--report``)
1     done, but some input failed or an output was not written (an unreadable
      image or answer, an unpaired answer, an overlay not drawn), or, with
      ``--strict``, some item was degraded; everything else was written
2     usage error or unusable input: nothing was done
3     an output could not be written (read-only folder, disk full)
130   interrupted (Ctrl-C); 143: terminated (SIGTERM). Partial outputs removed
141   the reader of the output went away (``boxmask ... | head``)
====  =======================================================================

No command prints a Python traceback for anything a user can type; set
``BOXMASK_DEBUG=1`` to see one for an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from types import FrameType

from boxmask import __version__
from boxmask.errors import BoxmaskError, ExportError
from boxmask.terminal import safe_text

#: Command modules, in the order ``boxmask --help`` lists them.
COMMAND_MODULES = [
    "boxmask.cli.parse_cmd",
    "boxmask.cli.demo",
    "boxmask.cli.request",
    "boxmask.cli.serve",
    "boxmask.cli.overlay",
    "boxmask.cli.convert",
    "boxmask.cli.eval",
    "boxmask.cli.review",
    "boxmask.cli.bench",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_OUTPUT = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that the same clean-up as Ctrl-C runs."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


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
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(handler(args))
    except ExportError as exc:  # from writing (disk full, read-only) or a refused output
        return _error(str(exc), EXIT_OUTPUT if isinstance(exc.__cause__, OSError) else 1)
    except BoxmaskError as exc:
        return _error(str(exc), EXIT_FAILURE)
    except FileNotFoundError as exc:
        return _error(f"file not found: {exc.filename}", EXIT_USAGE)
    except IsADirectoryError as exc:
        return _error(f"{exc.filename} is a folder, not a file", EXIT_USAGE)
    except BrokenPipeError:
        # The reader left (``| head``): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        return _error(f"{exc.strerror or exc}{where}", EXIT_OUTPUT)
    except Terminated:
        print("boxmask: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("boxmask: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, the trace only when asked for
        if os.environ.get("BOXMASK_DEBUG"):
            traceback.print_exc()
        return _error(f"internal error: {exc!r} (BOXMASK_DEBUG=1 shows the trace)", 1)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str, code: int) -> int:
    print(safe_text(f"boxmask: error: {message}"), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
