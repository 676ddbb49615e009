"""Colours: stable per label across images and processes, overridable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from boxmask.draw.palette import (
    DEFAULT_PALETTE,
    color_for_label,
    label_palette,
    parse_color,
    text_color_for,
)

LABELS = ["cup", "spoon", "猫", "café", "launch tower", ""]


def test_label_colour_does_not_depend_on_the_process() -> None:
    code = (
        "from boxmask.draw.palette import color_for_label\n"
        f"print([color_for_label(x) for x in {LABELS!r}])"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([color_for_label(x) for x in LABELS])


def test_colours_come_from_the_palette_and_spread_over_it() -> None:
    colors = {color_for_label(f"label {i}") for i in range(200)}
    assert colors <= set(DEFAULT_PALETTE)
    assert len(colors) == len(DEFAULT_PALETTE)
    assert len(set(DEFAULT_PALETTE)) == len(DEFAULT_PALETTE)


def test_palette_mapping_and_list() -> None:
    assert color_for_label("cup", {"cup": "#ff0000"}) == (255, 0, 0)
    assert color_for_label("mug", {"cup": "#ff0000"}) == color_for_label("mug")
    own = ["#000000", (1, 2, 3)]
    assert color_for_label("cup", own) in {(0, 0, 0), (1, 2, 3)}
    with pytest.raises(ValueError, match="palette"):
        color_for_label("cup", [])


@pytest.mark.parametrize(
    ("value", "rgb"),
    [
        ("#ff8800", (255, 136, 0)),
        ("f80", (255, 136, 0)),
        ((1, 2, 3), (1, 2, 3)),
        ([0, 0, 0], (0, 0, 0)),
    ],
)
def test_parse_color(value: object, rgb: tuple[int, int, int]) -> None:
    assert parse_color(value) == rgb  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["#ff88", "#gggggg", (1, 2), (0, 0, 256)])
def test_parse_color_errors(value: object) -> None:
    with pytest.raises(ValueError, match="colour"):
        parse_color(value)  # type: ignore[arg-type]


def test_text_colour_contrasts() -> None:
    assert text_color_for((255, 210, 0)) == (20, 20, 20)
    assert text_color_for((20, 120, 255)) == (255, 255, 255)


def test_label_palette_gives_distinct_colours_for_any_order() -> None:
    labels = ["cup", "spoon", "saucer", "cat", "rocket", "helmet", "flag"]
    mapping = label_palette(labels)
    assert len(set(mapping.values())) == len(labels)
    assert label_palette(reversed(labels)) == mapping
    assert label_palette([*labels, "cup"]) == mapping
    # A label alone keeps its usual colour.
    assert label_palette(["cup"]) == {"cup": color_for_label("cup")}
    # More labels than colours: each colour is used at most twice for 2x as many labels.
    many = label_palette(f"thing {i}" for i in range(2 * len(DEFAULT_PALETTE)))
    counts = [list(many.values()).count(c) for c in DEFAULT_PALETTE]
    assert counts == [2] * len(DEFAULT_PALETTE)
    assert label_palette(["a", "b"], ["#000000"]) == {"a": (0, 0, 0), "b": (0, 0, 0)}
    with pytest.raises(ValueError, match="palette"):
        label_palette(["a"], [])
