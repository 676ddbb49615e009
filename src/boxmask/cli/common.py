"""Helpers shared by CLI commands: reading answers and image sizes.

What a command prints goes through :mod:`boxmask.terminal` (``safe_text``,
``safe_json``, ``format_table``), which library modules use too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from boxmask.images import image_size

__all__ = ["image_size", "parse_size", "positive_int", "read_answer_arg"]


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` → ``(1920, 1080)``; an argparse type."""
    try:
        w, h = text.lower().split("x")
        width, height = int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def positive_int(text: str) -> int:
    """A whole number of at least 1 (counts, pixel sizes, workers); an argparse type."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def read_answer_arg(value: str) -> str:
    """Read an answer file, or standard input for ``-``."""
    if value == "-":
        return sys.stdin.read()
    return Path(value).read_text(encoding="utf-8", errors="replace")
