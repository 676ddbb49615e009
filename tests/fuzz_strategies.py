"""Hypothesis strategies for model answers: items with every kind of broken field.

Used by ``tests/test_reliability_fuzz.py``. They complement the byte-driven fuzz
targets of ``fuzz/targets.py`` with values hypothesis can shrink to a readable example.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fuzz.targets import SEED_PNGS
from hypothesis import strategies as st

#: JSON-ish numbers, including the ones models and pipelines get wrong.
numbers = st.one_of(
    st.integers(-50, 1050),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12", " 3.5 ", "nan", "inf", "1e400", "abc", "", "１２"]),
    st.sampled_from([None, True, False, 10**30, -(10**30), 1e308, -0.0]),
)

#: Well-formed 0-1000 boxes, [ymin, xmin, ymax, xmax], possibly inverted.
good_boxes = st.lists(st.integers(0, 1000), min_size=4, max_size=4)

#: Anything that may sit in ``box_2d``.
boxes = st.one_of(
    good_boxes,
    st.lists(numbers, min_size=4, max_size=4),
    st.lists(numbers, max_size=6),
    numbers,
    st.dictionaries(st.sampled_from(["ymin", "x"]), numbers, max_size=2),
)

#: PNG masks (valid in every layout, damaged, cut short) as base64 text, polygons
#: (0-1000 ``[x, y]`` pairs, flat, several rings, broken), tokens and other types.
png_masks = st.builds(
    lambda png, cut, flip, prefix: (
        ("data:image/png;base64," if prefix else "")
        + base64.b64encode(
            bytes(b ^ 0xFF if i == flip else b for i, b in enumerate(png))[: cut or None]
        ).decode()
    ),
    st.sampled_from(SEED_PNGS),
    st.integers(0, 80),
    st.integers(-1, 80),
    st.booleans(),
)
points = st.lists(st.one_of(st.integers(-20, 1020), numbers), min_size=2, max_size=2)
polygons = st.one_of(
    st.lists(points, max_size=8),
    st.lists(st.lists(points, min_size=3, max_size=6), min_size=1, max_size=3),
    st.lists(st.integers(0, 1000), max_size=12),
)
masks = st.one_of(
    png_masks,
    polygons,
    st.sampled_from(["<start_of_mask><seg_1>", "", "!!!", "iVBORw0KGgo", "a"]),
    st.sampled_from([5, 1.5, True, {"counts": "abc"}, ["a"]]),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
)
labels = st.one_of(st.text(max_size=12), numbers, st.lists(st.integers(), max_size=3))


@st.composite
def items(draw: st.DrawFn) -> Any:
    """One element of the model's list: usually an object, sometimes not."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.one_of(numbers, st.text(max_size=5), st.lists(st.integers(), max_size=3)))
    item: dict[str, Any] = {}
    if draw(st.booleans()):
        item["box_2d"] = draw(boxes)
    if draw(st.integers(0, 3)) == 0:
        item["point"] = draw(points)
    if draw(st.integers(0, 2)) == 0:
        item["mask"] = draw(masks)
    if draw(st.integers(0, 4)) > 0:
        item["label"] = draw(labels)
    if draw(st.integers(0, 3)) == 0:
        item[draw(st.sampled_from(["confidence", "score"]))] = draw(numbers)
    return item


@st.composite
def answers(draw: st.DrawFn) -> Any:
    """A whole answer: a list or wrapper object, as a value or as (damaged) text."""
    listed = draw(st.lists(items(), max_size=6))
    value: Any = draw(
        st.sampled_from(
            [listed, {"boxes": listed}, {"Items": listed}, {"notes": "x", "found": listed}]
        )
    )
    form = draw(st.integers(0, 3))
    if form == 0:
        return value
    text = json.dumps(value)  # NaN and Infinity come out as the JSON extensions
    if form == 2:
        text = "Here:\n```json\n" + text + "\n```"
    if form == 3:
        text = text[: draw(st.integers(0, len(text)))]
    return text
