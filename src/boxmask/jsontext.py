"""Finding the JSON in a model's text: fences, prose, truncated and sloppy JSON.

:func:`scan_region` walks one region of text (a fenced block or the whole answer) and
returns the JSON values found in it that hold detection items; a value that is cut off
(token limit) or invalid is salvaged item by item (:class:`BadItem` keeps the index of
an item that could not be read). It knows nothing about what an item means: see
:mod:`boxmask.answer`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BadItem",
    "Found",
    "fenced_blocks",
    "literal_value",
    "loads",
    "raw_decode",
    "scan_region",
]

_TOKEN = re.compile(r'[\[\]{}"]')
_START = re.compile(r"[\[{]")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
#: JSON starts tried per region (each a decode attempt, or a salvage walk).
_MAX_START_TRIES = 64
#: Longest text handed to ``ast.literal_eval`` (Python-literal answers): its syntax tree
#: costs ~200 bytes per token, so a 10 MB list of numbers would take 2 GB.
_MAX_LITERAL_CHARS = 1 << 20
#: Nesting the salvage walk keeps track of; deeper levels are only counted (no JSON
#: parser reads them anyway), so a run of ``[`` costs no memory per bracket.
_MAX_WALK_DEPTH = 1000


def _long_int(digits: str) -> int | float:
    """An integer literal; one longer than Python's 4,300-digit conversion limit (say in
    ``usageMetadata``) becomes a float (``inf`` past 1e308) instead of failing the whole
    answer. Boxes holding such a value are then reported as not finite."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


_DECODER = json.JSONDecoder()
_LONG_INT_DECODER = json.JSONDecoder(parse_int=_long_int)


def loads(text: str) -> Any:
    """json.loads that turns deep nesting into a ValueError instead of RecursionError and
    reads integers of any length (see :func:`_long_int`)."""
    try:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past the digit limit, not a syntax error
            return json.loads(text, parse_int=_long_int)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


def raw_decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        try:
            return _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past the digit limit, not a syntax error
            return _LONG_INT_DECODER.raw_decode(text, pos)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


# ------------------------------------------------------------------------- text
_FENCE_TAG = re.compile(r"[ \t]*[A-Za-z_+-]*[ \t]*")


def fenced_blocks(text: str) -> list[str]:
    """Bodies of ``` fences, in order. Any opener spelling (```json, ```JSON, ``` json,
    indented, JSON on the opener's line); a missing closing fence runs to the end; a
    fence inside a JSON string (a label) does not close the block. Plain str.find: the
    answers can be megabytes of base64."""
    blocks = []
    pos = text.find("```")
    while pos != -1:
        line_end = text.find("\n", pos + 3)
        if line_end == -1:
            line_end = len(text)
        tag = _FENCE_TAG.match(text, pos + 3)
        after_tag = tag.end() if tag else pos + 3
        on_opener_line = after_tag < line_end and text[after_tag] in "[{"
        body_start = after_tag if on_opener_line else line_end + 1
        close = _fence_close(text, body_start)
        blocks.append(text[body_start : len(text) if close == -1 else close])
        if close == -1:
            break
        pos = text.find("```", close + 3)
    return blocks


def _fence_close(text: str, body_start: int) -> int:
    """The closing ``` of a block whose body starts at ``body_start``: for a JSON body,
    the first one outside a JSON string (a label may hold a fence); -1 if none."""
    close = text.find("```", body_start)
    first = text[body_start : body_start + 64].lstrip()[:1]
    if close == -1 or first not in ("[", "{"):
        return close
    if text.find("\\", body_start, close) == -1:  # no escapes: parity of the quotes
        in_string = text.count('"', body_start, close) % 2 == 1
        if not in_string:
            return close
    earliest = close
    in_string = False
    pos = body_start
    while close != -1:
        quote = text.find('"', pos, close)
        while quote != -1:
            if not in_string:
                in_string = True
            else:
                before = quote - 1
                while text[before] == "\\":  # stops at the opening quote at the latest
                    before -= 1
                in_string = (quote - 1 - before) % 2 == 1  # odd backslashes: escaped
            quote = text.find('"', quote + 1, close)
        if not in_string:
            return close
        pos = close
        close = text.find("```", close + 3)
    return earliest  # an unterminated string: the first fence closes


@dataclass
class _Salvage:
    items: list[Any]
    truncated: bool
    lost_item: bool
    end: int
    found: bool = True  # False: the walk met no list of item objects


def _loads_item(snippet: str) -> Any:
    try:
        return loads(snippet)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", snippet)
    try:
        return loads(repaired)
    except ValueError:
        pass
    if len(snippet) > _MAX_LITERAL_CHARS:
        raise ValueError("item is not valid JSON")
    try:
        return ast.literal_eval(snippet)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ValueError("item is not valid JSON") from None


def _tokens(text: str, start: int) -> Iterator[tuple[str, int]]:
    """The brackets and braces outside strings from ``start``, with their positions, and
    a ``'"'`` for a string that never closes (then nothing more).

    Strings are skipped with ``str.find`` and a backslash count. A regex matching them
    whole kept a backtracking frame per escape: 244 MB for 4 MB of ``\\"``.
    """
    pos = start
    search = _TOKEN.search
    while (match := search(text, pos)) is not None:
        at = match.start()
        if text[at] != '"':
            yield text[at], at
            pos = at + 1
            continue
        close = at
        while True:
            close = text.find('"', close + 1)
            if close == -1:
                yield '"', at
                return
            before = close - 1
            while text[before] == "\\":  # stops at the opening quote at the latest
                before -= 1
            if (close - 1 - before) % 2 == 0:  # an even run of backslashes: it closes
                break
        pos = close + 1


def _salvage(text: str, start: int) -> _Salvage:
    """Walk the JSON structure from ``start`` and keep every complete item object.

    Strings are skipped whole (a bracket inside a label does not count). ``found`` is
    False when no item list was met; ``end`` is where the walk stopped either way.
    """
    stack: list[tuple[str, int]] = []
    deeper = 0  # levels opened beyond _MAX_WALK_DEPTH: counted, not stored
    item_depth: int | None = None
    items: list[Any] = []
    truncated = False
    open_item = False
    end = len(text)
    for tok, at in _tokens(text, start):
        if tok == '"':  # an opening quote that never closes
            truncated = True
            break
        if tok in "[{":
            if len(stack) >= _MAX_WALK_DEPTH:
                deeper += 1
                continue
            if tok == "{" and item_depth is None and stack and stack[-1][0] == "[":
                item_depth = len(stack)
            stack.append((tok, at))
            if item_depth is not None and tok == "{" and len(stack) == item_depth + 1:
                open_item = True
            continue
        if deeper:
            deeper -= 1
            continue
        if not stack:
            end = at
            break
        opener, pos = stack.pop()
        if item_depth is not None and opener == "{" and len(stack) == item_depth:
            open_item = False
            snippet = text[pos : at + 1]
            try:
                items.append(_loads_item(snippet))
            except ValueError as exc:
                items.append(BadItem(str(exc)))
        if not stack:
            end = at + 1
            break
    else:
        truncated = bool(stack)
    if item_depth is None:
        return _Salvage([], truncated, False, end, found=False)
    return _Salvage(items, truncated, truncated and open_item, end)


class BadItem:
    """Placeholder for an item object whose JSON could not be read (kept for indices)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class Found:
    """One JSON value found in a region: the decoded ``value`` (a salvaged list of items
    when the JSON was cut off or invalid), whether it was ``truncated`` (and an item cut
    off, ``lost_item``) or ``repaired`` item by item, and the region's length."""

    value: Any
    truncated: bool = False
    lost_item: bool = False
    repaired: bool = False
    chars: int = 0


def scan_region(
    region: str, holds_items: Callable[[Any], bool]
) -> tuple[list[Found], Found | None]:
    """The JSON values in ``region`` that hold items, in order, and the first value found
    of any kind (the fallback when none holds items; None when nothing decodes).

    A value that holds no items (``normalized to [0, 1000]``, a footnote ``[1]``) is
    skipped and the scan goes on after it; values after the first item-bearing one are
    kept when they hold items too. A salvaged (invalid or cut) value ends the scan. A
    start inside a structure already walked is skipped: it cannot hold an item list the
    walk missed, and retrying every nested bracket made a run of 10 MB of ``[`` cost 64
    full walks (minutes).
    """
    found: list[Found] = []
    fallback: Found | None = None
    walked = 0
    for _ in range(_MAX_START_TRIES):
        match = _START.search(region, walked)
        if match is None:
            break
        start = match.start()
        try:
            value, end = raw_decode(region, start)
        except ValueError:
            salvage = _salvage(region, start)
            walked = max(salvage.end, start + 1)
            if not salvage.found:
                continue
            result = Found(
                salvage.items,
                truncated=salvage.truncated,
                lost_item=salvage.lost_item,
                repaired=not salvage.truncated,
                chars=len(region),
            )
            if holds_items(salvage.items):
                found.append(result)
            fallback = fallback or result
            break
        walked = end
        result = Found(value, chars=len(region))
        if holds_items(value):
            found.append(result)
        fallback = fallback or result
    return found, fallback


def literal_value(region: str) -> Any:
    """A Python literal (single quotes, ``True``/``None``) in ``region``, as printed by
    some pipelines: the first list or dict from one of the first four starts, or None."""
    pos = 0
    for _ in range(4):
        match = _START.search(region, pos)
        if match is None or len(region) - match.start() > _MAX_LITERAL_CHARS:
            return None
        pos = match.start() + 1
        try:
            value = ast.literal_eval(region[match.start() :].strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
        if isinstance(value, (list, dict)):
            return value
    return None
