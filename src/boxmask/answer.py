"""Reading a model answer: from text, dict or whole API response to a list of raw items.

Handles code fences of any spelling, prose around the JSON, wrapper objects, API
envelopes (via :mod:`boxmask.envelopes`), truncated output (complete items are salvaged),
common JSON slips (trailing commas, unquoted ``<start_of_mask>`` tokens, Python repr).
It knows nothing about boxes or masks: see :mod:`boxmask.parse`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from boxmask.detections import AnswerInfo
from boxmask.envelopes import NORMAL_REASONS, TRUNCATED_REASONS, is_envelope, unwrap_envelope
from boxmask.errors import ParseError
from boxmask.problems import Problem, ProblemKind

__all__ = ["BadItem", "RawAnswer", "read_answer"]

#: Keys whose list value holds the items, when a model wraps them in an object.
WRAPPER_KEYS = (
    "boxes",
    "detections",
    "items",
    "masks",
    "segmentation_masks",
    "objects",
    "points",
    "results",
    "predictions",
    "annotations",
    "bounding_boxes",
)
#: Keys that make a dict look like one detection item.
ITEM_KEYS = frozenset({"box_2d", "point", "mask"})


_TOKEN = re.compile(r'[\[\]{}"]')
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_UNQUOTED_TOKENS = re.compile(r'(:\s*)(<start_of_mask>[^,}\]"\n]*)')
_EXCERPT = 80
_MAX_START_TRIES = 64
#: Longest text handed to ``ast.literal_eval`` (Python-literal answers): its syntax tree
#: costs ~200 bytes per token, so a 10 MB list of numbers would take 2 GB.
_MAX_LITERAL_CHARS = 1 << 20
#: Nesting the salvage walk keeps track of; deeper levels are only counted (no JSON
#: parser reads them anyway), so a run of ``[`` costs no memory per bracket.
_MAX_WALK_DEPTH = 1000


@dataclass
class RawAnswer:
    """Raw items of one answer plus answer-level problems and provenance."""

    items: list[Any]
    info: AnswerInfo
    problems: list[Problem] = field(default_factory=list)


def _excerpt(text: str) -> str:
    flat = " ".join(text[: _EXCERPT * 2].split())
    return flat[:_EXCERPT]


# --------------------------------------------------------------------------- JSON
def _loads(text: str) -> Any:
    """json.loads that turns deep nesting into a ValueError instead of RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


def _raw_decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return json.JSONDecoder().raw_decode(text, pos)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


# ------------------------------------------------------------------------- text
def _fenced_blocks(text: str) -> list[str]:
    """Bodies of ``` fences, in order. Any opener spelling (```json, ```JSON, ``` json,
    indented); a missing closing fence runs to the end. Plain str.find, no regex: the
    answers can be megabytes of base64."""
    blocks = []
    pos = text.find("```")
    while pos != -1:
        line_end = text.find("\n", pos + 3)
        if line_end == -1:
            line_end = len(text)
        opener = text[pos + 3 : line_end]
        close_inline = opener.find("```")
        if close_inline != -1:  # ```[...]``` on one line
            blocks.append(
                opener[:close_inline].lstrip(
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_ "
                )
            )
            pos = text.find("```", pos + 3 + close_inline + 3)
            continue
        stripped = opener.strip()
        if stripped[:1] in ("[", "{"):  # JSON right after the fence, same line
            body_start = pos + 3 + opener.index(stripped[0])
        else:
            body_start = line_end + 1
        close = text.find("```", body_start)
        blocks.append(text[body_start : len(text) if close == -1 else close])
        if close == -1:
            break
        pos = text.find("```", close + 3)
    return blocks


def _candidate_regions(text: str) -> list[str]:
    """Fenced blocks that hold JSON (in order), then the whole text."""
    regions = []
    if "```" in text:
        regions = [body for body in _fenced_blocks(text) if "[" in body or "{" in body]
    regions.append(text)
    return regions


def _json_starts(region: str) -> list[int]:
    starts = []
    for match in re.finditer(r"[\[{]", region):
        starts.append(match.start())
        if len(starts) >= _MAX_START_TRIES:
            break
    return starts


@dataclass
class _Salvage:
    items: list[Any]
    truncated: bool
    lost_item: bool
    end: int
    found: bool = True  # False: the walk met no list of item objects


def _loads_item(snippet: str) -> Any:
    try:
        return _loads(snippet)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", snippet)
    try:
        return _loads(repaired)
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


def _decode_region(region: str, problems: list[Problem]) -> tuple[Any, bool] | None:
    """Decode the JSON value in ``region``. Returns (value, truncated) or None.

    A start inside a structure that an earlier salvage walk already covered is skipped:
    it cannot hold an item list the walk missed, and retrying every nested bracket made
    a run of 10 MB of ``[`` cost 64 full walks (minutes).
    """
    walked = 0
    for start in _json_starts(region):
        if start < walked:
            continue
        try:
            value, _ = _raw_decode(region, start)
        except ValueError:
            salvage = _salvage(region, start)
            if not salvage.found:
                walked = salvage.end
                continue
            items: list[Any] = salvage.items
            if salvage.truncated:
                lost = len(items)
                problems.append(
                    Problem(
                        index=lost if salvage.lost_item else None,
                        kind=ProblemKind.TRUNCATED,
                        message=(
                            f"answer ends mid-way (after {len(region)} characters); "
                            f"kept the {len(items)} complete item(s)"
                            + (f", item {lost} was cut off" if salvage.lost_item else "")
                        ),
                        dropped=salvage.lost_item,
                    )
                )
            else:
                problems.append(
                    Problem(
                        index=None,
                        kind=ProblemKind.REPAIRED_JSON,
                        message="answer JSON was invalid; items were read one by one",
                    )
                )
            return items, salvage.truncated
        if isinstance(value, (list, dict)):
            return value, False
    return None


def _decode_text(text: str, problems: list[Problem]) -> tuple[Any, bool]:
    if "<start_of_mask>" in text and _UNQUOTED_TOKENS.search(text):
        repaired = _UNQUOTED_TOKENS.sub(lambda m: f'{m.group(1)}"{m.group(2).strip()}"', text)
        if repaired != text:
            problems.append(
                Problem(
                    index=None,
                    kind=ProblemKind.REPAIRED_JSON,
                    message="quoted bare <start_of_mask> tokens to read the JSON",
                )
            )
            text = repaired
    for region in _candidate_regions(text):
        decoded = _decode_region(region, problems)
        if decoded is not None:
            return decoded
    # Python repr (single quotes, True/None), as printed by some pipelines.
    for region in _candidate_regions(text):
        for start in _json_starts(region)[:4]:
            if len(region) - start > _MAX_LITERAL_CHARS:
                break
            try:
                value = ast.literal_eval(region[start:].strip())
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                continue
            if isinstance(value, (list, dict)):
                problems.append(
                    Problem(
                        index=None,
                        kind=ProblemKind.REPAIRED_JSON,
                        message="answer was a Python literal, not JSON",
                    )
                )
                return value, False
    raise ParseError("no JSON list or object found in the answer", _excerpt(text))


# ------------------------------------------------------------------------ items
def _looks_like_item(value: Any) -> bool:
    return isinstance(value, dict) and bool(ITEM_KEYS & value.keys())


def _items_from_value(value: Any, text: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if _looks_like_item(value):
            return [value]
        lowered = {k.lower(): k for k in value if isinstance(k, str)}
        for key in WRAPPER_KEYS:
            if key in lowered and isinstance(value[lowered[key]], list):
                return list(value[lowered[key]])
        for v in value.values():
            if isinstance(v, list) and any(_looks_like_item(x) for x in v):
                return v
        if "label" in value:
            return [value]
        raise ParseError(
            "the JSON object holds no detection items (expected a list, an item with "
            f"box_2d/point/mask, or a wrapper such as {{'boxes': [...]}}); keys: "
            f"{sorted(map(str, value))[:8]}",
            _excerpt(text),
        )
    raise ParseError("the answer's JSON is neither a list nor an object", _excerpt(text))


def read_answer(answer: str | bytes | dict[str, Any] | list[Any]) -> RawAnswer:
    """Turn any supported answer form into raw items. Raises :class:`ParseError` only when
    nothing can be read at all."""
    problems: list[Problem] = []
    info: AnswerInfo | None = None
    value: Any
    truncated = False
    if isinstance(answer, (bytes, bytearray, memoryview)):
        answer = bytes(answer).decode("utf-8", errors="replace")
    if isinstance(answer, str):
        text = answer
        stripped = text.strip()
        if not stripped:
            raise ParseError("the answer is empty")
        value = None
        if stripped[0] in "[{":
            try:
                value = _loads(stripped)
            except ValueError:
                value = None
        if value is not None and is_envelope(value):
            text, info = unwrap_envelope(value)
            value = None
        if value is None:
            if not text.strip():
                raise ParseError("the API response holds no answer text")
            value, truncated = _decode_text(text, problems)
    elif isinstance(answer, (dict, list)):
        if is_envelope(answer):
            text, info = unwrap_envelope(answer)
            if not text.strip():
                raise ParseError("the API response holds no answer text")
            value, truncated = _decode_text(text, problems)
        else:
            value = answer
            text = ""
    else:
        raise TypeError(f"answer must be str, bytes, dict or list, not {type(answer).__name__}")
    items = _items_from_value(value, text)
    if info is None:
        info = AnswerInfo(text=text)
    reason = (info.finish_reason or "").upper()
    if reason in TRUNCATED_REASONS and not truncated:
        truncated = True
        problems.append(
            Problem(
                index=None,
                kind=ProblemKind.TRUNCATED,
                message=f"finish reason {info.finish_reason}: the model hit its output limit",
            )
        )
    elif reason and reason not in NORMAL_REASONS | TRUNCATED_REASONS:
        problems.append(
            Problem(
                index=None,
                kind=ProblemKind.FINISH_REASON,
                message=f"the API reports finish reason {info.finish_reason}",
            )
        )
    if truncated != info.truncated:
        info = AnswerInfo(
            text=info.text,
            finish_reason=info.finish_reason,
            usage=info.usage,
            model=info.model,
            truncated=truncated,
            extra=info.extra,
        )
    return RawAnswer(items=items, info=info, problems=problems)
