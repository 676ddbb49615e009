"""Helpers shared by CLI commands: reading answers, image sizes, tables, and text safe
to print to a terminal.

Model answers (labels, messages, captions) and file names can hold terminal control
sequences (``ESC [2J`` clears the screen, ``ESC ] 52`` writes the clipboard). Everything
a command prints goes through :func:`safe_text` (or :func:`safe_json`): control
characters are shown as Python-style escapes (``\\x1b``), never sent raw.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from boxmask.images import image_size

__all__ = [
    "format_table",
    "image_size",
    "parse_size",
    "positive_int",
    "read_answer_arg",
    "safe_json",
    "safe_text",
]

# C0 controls (tab and newline are handled apart), DEL, C1 controls (0x9b is a one-byte
# CSI on some terminals), bidi embeddings/overrides/isolates (text shown reordered), line
# and paragraph separators, and lone surrogates (which cannot even be encoded).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\\t\\n]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x09:
        return "\\t"
    if code == 0x0A:
        return "\\n"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(value: object, *, multiline: bool = False) -> str:
    """``str(value)`` with control characters escaped, safe to print to a terminal.

    ``multiline`` keeps newlines and tabs (free text such as an ``ask`` answer);
    otherwise they are escaped too, so one value stays on one line (table cells,
    labels, file names).
    """
    text = str(value)
    pattern = _UNSAFE if multiline else _UNSAFE_LINE
    return pattern.sub(_escape, text)


def safe_json(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON (UTF-8 text kept readable) with the characters JSON leaves raw
    but terminals act on (DEL, C1 controls, bidi controls, lone surrogates) written as
    ``\\uXXXX`` escapes: the same JSON value, safe to print."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


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


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[safe_text(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) and rows for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(widths[i]) if numeric[i] and n else c.ljust(widths[i])
            for i, c in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return safe_text(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
