"""Reading a model answer: from text, dict or whole API response to a list of raw items.

Handles code fences of any spelling, prose around the JSON, wrapper objects, API
envelopes (via :mod:`boxmask.envelopes`), truncated output (complete items are salvaged),
common JSON slips (trailing commas, unquoted ``<start_of_mask>`` tokens, Python repr).
It knows nothing about boxes or masks: see :mod:`boxmask.parse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from boxmask.detections import AnswerInfo
from boxmask.envelopes import NORMAL_REASONS, is_envelope, is_truncation_reason, unwrap_envelope
from boxmask.errors import ParseError
from boxmask.jsontext import BadItem, Found, fenced_blocks, literal_value, loads, scan_region
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
#: Keys that make a dict look like one detection item (``points`` only when it holds
#: coordinate pairs, not item objects: ``{"points": [...]}`` is also a wrapper).
ITEM_KEYS = frozenset({"box_2d", "bbox_2d", "point", "point_2d", "mask", "box_3d"})

_UNQUOTED_TOKENS = re.compile(r'(:\s*)(<start_of_mask>[^,}\]"\n]*)')
_EXCERPT = 80


@dataclass
class RawAnswer:
    """Raw items of one answer plus answer-level problems and provenance.

    ``mask_map`` is a top-level ``masks`` object (or list) that items' ``mask`` values
    name by key (or index); empty when the answer has none."""

    items: list[Any]
    info: AnswerInfo
    problems: list[Problem] = field(default_factory=list)
    mask_map: dict[str, Any] | list[Any] = field(default_factory=dict)


def _excerpt(text: str) -> str:
    flat = " ".join(text[: _EXCERPT * 2].split())
    return flat[:_EXCERPT]


def _note(problems: list[Problem], kind: ProblemKind, message: str) -> None:
    problems.append(Problem(index=None, kind=kind, message=message))


# ------------------------------------------------------------------------- text
def _found_values(text: str, problems: list[Problem]) -> list[Found]:
    """The JSON values of the answer that hold items, chosen by what parses into items.

    Every fenced block that holds items counts (items split over fences are all read;
    a block repeating an earlier one is read once); blocks that hold none (an example,
    a template) are skipped and named. Without such a block the whole text is scanned,
    skipping bracketed prose (``[0, 1000]``, a footnote ``[1]``). With no item anywhere,
    the first JSON value found is returned, for the caller to report.
    """
    fallback: Found | None = None
    if "```" in text:
        chosen: list[Found] = []
        read: list[str] = []
        skipped: list[int] = []
        repeated: list[int] = []
        blocks = [b for b in fenced_blocks(text) if "[" in b or "{" in b]
        for number, block in enumerate(blocks, 1):
            values, first = scan_region(block, _holds_items)
            if not values:
                skipped.append(number)
                fallback = fallback or first
            elif any(len(b) == len(block) and b == block for b in read):
                repeated.append(number)
            else:
                read.append(block)
                chosen.extend(values)
        if chosen:
            if skipped:
                _note(
                    problems,
                    ProblemKind.SKIPPED_TEXT,
                    f"code block {_numbers(skipped)} of {len(blocks)} holds no detection items "
                    "(an example or a template?); skipped",
                )
            if repeated:
                _note(
                    problems,
                    ProblemKind.SKIPPED_TEXT,
                    f"code block {_numbers(repeated)} repeats an earlier block; read once",
                )
            return chosen
    values, first = scan_region(text, _holds_items)
    if values:
        return values
    fallback = fallback or first
    return [fallback] if fallback is not None else []


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:8])) + (", ..." if len(numbers) > 8 else "")


def _decode_text(text: str, problems: list[Problem]) -> list[Found]:
    if "<start_of_mask>" in text and _UNQUOTED_TOKENS.search(text):
        repaired = _UNQUOTED_TOKENS.sub(lambda m: f'{m.group(1)}"{m.group(2).strip()}"', text)
        if repaired != text:
            _note(
                problems,
                ProblemKind.REPAIRED_JSON,
                "quoted bare <start_of_mask> tokens to read the JSON",
            )
            text = repaired
    found = _found_values(text, problems)
    if found:
        for f in found:
            if f.repaired:
                _note(
                    problems,
                    ProblemKind.REPAIRED_JSON,
                    "answer JSON was invalid; items were read one by one",
                )
        return found
    # Python repr (single quotes, True/None), as printed by some pipelines.
    regions = [b for b in fenced_blocks(text) if "[" in b or "{" in b] if "```" in text else []
    for region in [*regions, text]:
        value = literal_value(region)
        if value is not None:
            _note(problems, ProblemKind.REPAIRED_JSON, "answer was a Python literal, not JSON")
            return [Found(value)]
    raise ParseError("no JSON list or object found in the answer", _excerpt(text))


# ------------------------------------------------------------------------ items
def _is_pair(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return True
    return isinstance(value, dict) and "x" in value and "y" in value


def _looks_like_item(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if ITEM_KEYS & value.keys():
        return True
    points = value.get("points")
    return isinstance(points, list) and bool(points) and _is_pair(points[0])


def _holds_items(value: Any) -> bool:
    """True when a decoded JSON value holds at least one detection item."""
    if isinstance(value, list):
        return any(_looks_like_item(v) or (isinstance(v, dict) and "label" in v) for v in value)
    if isinstance(value, dict):
        return _looks_like_item(value) or any(
            isinstance(v, list) and any(isinstance(x, dict) for x in v) for v in value.values()
        )
    return False


@dataclass
class _Items:
    items: list[Any]
    mask_map: dict[str, Any] | list[Any]


def _items_from_value(value: Any, text: str, problems: list[Problem]) -> _Items:
    if isinstance(value, list):
        return _Items(value, {})
    if not isinstance(value, dict):
        raise ParseError("the answer's JSON is neither a list nor an object", _excerpt(text))
    if _looks_like_item(value):
        return _Items([value], {})
    masks = next((v for k, v in value.items() if str(k).lower() == "masks"), None)
    mask_map: dict[str, Any] | list[Any] = {}
    if isinstance(masks, dict) or (
        isinstance(masks, list) and masks and not any(isinstance(m, dict) for m in masks)
    ):
        mask_map = masks
    lists = [
        k
        for k, v in value.items()
        if isinstance(v, list)
        and v is not mask_map
        and (str(k).lower() in WRAPPER_KEYS or any(_looks_like_item(x) for x in v))
    ]
    if not lists:
        if "label" in value:
            return _Items([value], mask_map)
        raise ParseError(
            "the JSON object holds no detection items (expected a list, an item with "
            f"box_2d/point/mask, or a wrapper such as {{'boxes': [...]}}); keys: "
            f"{sorted(map(str, value))[:8]}",
            _excerpt(text),
        )
    if len(lists) > 1:
        sizes = ", ".join(f"{k!r} ({len(value[k])})" for k in lists[:8])
        _note(
            problems,
            ProblemKind.MERGED_LISTS,
            f"items read from {len(lists)} lists: {sizes}; item indices run on across them",
        )
    used = {*lists, *(k for k, v in value.items() if v is mask_map and mask_map)}
    unread = [str(k) for k in value if k not in used]
    if unread:
        _note(
            problems,
            ProblemKind.UNREAD_FIELDS,
            f"answer fields not read: {', '.join(map(repr, unread[:8]))}",
        )
    return _Items([x for k in lists for x in value[k]], mask_map)


def _truncation(found: Found | None, first_index: int, info: AnswerInfo) -> Problem | None:
    """The one place that decides whether an answer is truncated, and why: the text
    ends mid-way (the last JSON value was cut) or the API's finish reason says the model
    hit its output limit. ``first_index`` is the item index where ``found`` starts."""
    if found is not None and found.truncated:
        kept = len(found.value) if isinstance(found.value, list) else 0
        lost = first_index + kept
        return Problem(
            index=lost if found.lost_item else None,
            kind=ProblemKind.TRUNCATED,
            message=(
                f"answer ends mid-way (after {found.chars} characters); "
                f"kept the {kept} complete item(s)"
                + (f", item {lost} was cut off" if found.lost_item else "")
            ),
            dropped=found.lost_item,
        )
    if is_truncation_reason(info.finish_reason):
        return Problem(
            index=None,
            kind=ProblemKind.TRUNCATED,
            message=f"finish reason {info.finish_reason}: the model hit its output limit",
        )
    return None


def _answer_value(
    answer: str | bytes | dict[str, Any] | list[Any],
    problems: list[Problem],
    info: AnswerInfo | None = None,
) -> tuple[list[Found], str, AnswerInfo | None]:
    """The decoded JSON values of any answer form, its text and (for API responses) info.

    With ``info``, ``answer`` is the model's text already read out of its API response
    (the caller read the envelope; it is not looked for again)."""
    if isinstance(answer, (bytes, bytearray, memoryview)):
        answer = bytes(answer).decode("utf-8", errors="replace")
    if info is not None:
        if not isinstance(answer, str):
            raise TypeError(
                "with info=, answer must be the model's text (str or bytes), "
                f"not {type(answer).__name__}"
            )
        if not answer.strip():
            raise ParseError("the API response holds no answer text")
        return _decode_text(answer, problems), answer, info
    if isinstance(answer, str):
        stripped = answer.strip()
        if not stripped:
            raise ParseError("the answer is empty")
        value = None
        if stripped[0] in "[{":
            try:
                value = loads(stripped)
            except ValueError:
                value = None
        if value is None:
            return _decode_text(answer, problems), answer, None
        if not is_envelope(value):
            return [Found(value, chars=len(answer))], answer, None
        answer = value
    elif not isinstance(answer, (dict, list)):
        raise TypeError(f"answer must be str, bytes, dict or list, not {type(answer).__name__}")
    if not is_envelope(answer):
        return [Found(answer)], "", None
    text, info = unwrap_envelope(answer)
    if not text.strip():
        raise ParseError("the API response holds no answer text")
    return _decode_text(text, problems), text, info


def read_answer(
    answer: str | bytes | dict[str, Any] | list[Any], *, info: AnswerInfo | None = None
) -> RawAnswer:
    """Turn any supported answer form into raw items. Raises :class:`ParseError` only when
    nothing can be read at all. ``info``: the answer is the text of an API response whose
    envelope the caller has read (see :func:`boxmask.parse`)."""
    problems: list[Problem] = []
    found, text, info = _answer_value(answer, problems, info)
    if not found:
        raise ParseError("no JSON list or object found in the answer", _excerpt(text))
    items: list[Any] = []
    mask_map: dict[str, Any] | list[Any] = {}
    for value in found:
        start = len(items)
        read = _items_from_value(value.value, text, problems)
        items.extend(read.items)
        mask_map = read.mask_map or mask_map
    if len(found) > 1:
        _note(
            problems,
            ProblemKind.MERGED_LISTS,
            f"items read from {len(found)} separate JSON values in the answer; "
            "item indices run on across them",
        )
    if info is None:
        info = AnswerInfo(text=text)
    truncation = _truncation(found[-1], start, info)
    if truncation is not None:
        problems.append(truncation)
    reason = (info.finish_reason or "").upper()
    if reason and reason not in NORMAL_REASONS and not is_truncation_reason(reason):
        _note(
            problems,
            ProblemKind.FINISH_REASON,
            f"the API reports finish reason {info.finish_reason}",
        )
    if (truncation is not None) != info.truncated:
        info = replace(info, truncated=truncation is not None)
    return RawAnswer(items=items, info=info, problems=problems, mask_map=mask_map)
