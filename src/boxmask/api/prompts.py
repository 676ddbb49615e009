"""Task prompts and JSON schemas, following Google's spatial-understanding cookbook.

- Boxes: the cookbook's system instruction (JSON array, no code fences, an item cap,
  unique labels for repeated objects) and ``box_2d`` = ``[ymin, xmin, ymax, xmax]`` in
  0–1000, with a JSON schema so the answer is bare JSON.
- Segmentation: the cookbook's mask prompt ("box_2d", "mask", "label"), thinking off
  (segmentation is documented for Gemini 2.5 Flash with thinking off). No schema: the
  ``mask`` is a PNG string on 2.5 but a polygon list on 3.x, and a schema forcing either
  would break the other.
- Points: the Robotics-ER pointing prompt, ``point`` = ``[y, x]`` in 0–1000, with a schema.

Every part can be overridden: pass your own ``prompt`` (``{what}`` is replaced by the
request's subject), ``system_instruction`` or ``schema`` to the client's task methods.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from boxmask.api.wire import Thinking

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "TaskPrompt",
    "box_schema",
    "detect_prompt",
    "point_prompt",
    "point_schema",
    "segment_prompt",
    "task_prompt",
]

#: Item caps per task (cookbook: 25 boxes, 10 points) — they also guard against loops.
DEFAULT_MAX_ITEMS = {"detect": 25, "segment": 25, "point": 10}

BOX_SYSTEM_INSTRUCTION = (
    "Return bounding boxes as a JSON array with labels. Never return masks or code fencing. "
    "Limit to {max_items} objects. If an object is present multiple times, name each "
    "according to its unique characteristics (color, size, position, and so on)."
)
DETECT_TEMPLATE = (
    'Detect the 2d bounding boxes of {what} (with "label" as a short description). '
    'Each "box_2d" is [ymin, xmin, ymax, xmax] normalized to 0-1000.'
)
SEGMENT_TEMPLATE = (
    "Give the segmentation masks for {what}. Output a JSON list of segmentation masks where "
    'each entry contains the 2D bounding box in the key "box_2d", the segmentation mask in '
    'key "mask", and the text label in the key "label". Use descriptive labels. '
    "Limit to {max_items} objects."
)
POINT_TEMPLATE = (
    "Point to {what} with no more than {max_items} items. The answer should follow the json "
    'format: [{{"point": <point>, "label": <label1>}}, ...]. The points are in [y, x] format '
    "normalized to 0-1000."
)


@dataclass(frozen=True)
class TaskPrompt:
    """Everything a task sends besides the image: user text, system instruction, schema,
    whether to ask for JSON, thinking, temperature (generateContent only)."""

    text: str
    system_instruction: str | None = None
    schema: dict[str, Any] | None = None
    json_output: bool = True
    thinking: Thinking | None = None
    temperature: float | None = None

    def with_overrides(
        self,
        *,
        prompt: str | None = None,
        what: str = "",
        system_instruction: str | None = None,
        schema: dict[str, Any] | None = None,
        thinking: Thinking | None = None,
    ) -> TaskPrompt:
        """A copy with the caller's replacements (``{what}`` in ``prompt`` is filled in)."""
        result = self
        if prompt is not None:
            result = replace(result, text=prompt.replace("{what}", what))
        if system_instruction is not None:
            result = replace(result, system_instruction=system_instruction or None)
        if schema is not None:
            result = replace(result, schema=schema or None)
        if thinking is not None:
            result = replace(result, thinking=thinking)
        return result

    def generate_keywords(self, api: str) -> dict[str, Any]:
        """The keywords of ``Client.generate`` (and ``generate_request``) that send this
        prompt's settings on ``api`` (temperature on generateContent only)."""
        return {
            "system_instruction": self.system_instruction,
            "schema": self.schema,
            "json_output": self.json_output,
            "thinking": self.thinking,
            "temperature": self.temperature if api == "generate_content" else None,
        }


def task_prompt(
    task: str, what: str, max_items: int | None = None, prompt: str | None = None
) -> TaskPrompt:
    """The prompt of ``task`` (``detect``, ``segment``, ``point``) for ``what``, with the
    task's default item cap unless ``max_items``, and ``prompt`` replacing the user text."""
    factories = {"detect": detect_prompt, "segment": segment_prompt, "point": point_prompt}
    if task not in factories:
        raise ValueError(f"task must be one of {', '.join(factories)}, got {task!r}")
    factory = factories[task]
    base = factory(what) if max_items is None else factory(what, max_items)
    return base.with_overrides(prompt=prompt, what=what)


def _item_list_schema(key: str, length: int, max_items: int) -> dict[str, Any]:
    """``[{key: [length ints], "label": str}]`` with at most ``max_items`` items."""
    return {
        "type": "array",
        "maxItems": max_items,
        "items": {
            "type": "object",
            "properties": {
                key: {
                    "type": "array",
                    "items": {"type": "integer"},
                    "minItems": length,
                    "maxItems": length,
                },
                "label": {"type": "string"},
            },
            "required": [key, "label"],
        },
    }


def box_schema(max_items: int) -> dict[str, Any]:
    """JSON schema of a box list: ``[{"box_2d": [4 ints], "label": str}]``."""
    return _item_list_schema("box_2d", 4, max_items)


def point_schema(max_items: int) -> dict[str, Any]:
    """JSON schema of a point list: ``[{"point": [y, x], "label": str}]``."""
    return _item_list_schema("point", 2, max_items)


def _check(what: str, max_items: int) -> None:
    if not what.strip():
        raise ValueError("say what to look for, e.g. 'the cups' or 'every person'")
    if max_items < 1:
        raise ValueError("max_items must be >= 1")


def detect_prompt(what: str, max_items: int = DEFAULT_MAX_ITEMS["detect"]) -> TaskPrompt:
    """Bounding boxes of ``what`` (cookbook prompt, schema, low thinking, temperature 0.5)."""
    _check(what, max_items)
    return TaskPrompt(
        text=DETECT_TEMPLATE.format(what=what),
        system_instruction=BOX_SYSTEM_INSTRUCTION.format(max_items=max_items),
        schema=box_schema(max_items),
        thinking="low",
        temperature=0.5,
    )


def segment_prompt(what: str, max_items: int = DEFAULT_MAX_ITEMS["segment"]) -> TaskPrompt:
    """Segmentation masks of ``what`` (cookbook prompt, JSON output, thinking off)."""
    _check(what, max_items)
    return TaskPrompt(
        text=SEGMENT_TEMPLATE.format(what=what, max_items=max_items),
        thinking="off",
        temperature=0.5,
    )


def point_prompt(what: str, max_items: int = DEFAULT_MAX_ITEMS["point"]) -> TaskPrompt:
    """Points on ``what`` (Robotics-ER prompt, schema, low thinking)."""
    _check(what, max_items)
    return TaskPrompt(
        text=POINT_TEMPLATE.format(what=what, max_items=max_items),
        schema=point_schema(max_items),
        thinking="low",
        temperature=0.5,
    )
