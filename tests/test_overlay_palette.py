"""Colours: distinct within a picture, stable per label across images and processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from boxmask.overlay.palette import (
    DEFAULT_PALETTE,
    Palette,
    color_for_label,
    delta_e,
    label_palette,
    outline_color_for,
    parse_color,
    text_color_for,
    to_lab,
)

LABELS = ["cup", "spoon", "猫", "café", "launch tower", ""]


def test_label_colour_does_not_depend_on_the_process() -> None:
    code = (
        "from boxmask.overlay.palette import color_for_label\n"
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
    colors = {color_for_label(f"label {i}") for i in range(400)}
    assert colors <= set(DEFAULT_PALETTE)
    assert len(colors) == len(DEFAULT_PALETTE) == 64
    assert len(set(DEFAULT_PALETTE)) == len(DEFAULT_PALETTE)


def test_every_pair_of_palette_colours_is_perceptually_distinct() -> None:
    lab = to_lab(np.array(DEFAULT_PALETTE))
    pairs = delta_e(lab[:, None], lab[None])
    np.fill_diagonal(pairs, np.inf)
    assert pairs.min() >= 10
    cie76 = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(cie76, np.inf)
    assert cie76.min() >= 10
    assert pairs[:8, :8].min() >= 25  # the first colours are the farthest apart


def test_delta_e_matches_published_ciede2000_pairs() -> None:
    # Sharma, Wu, Dalal (2005), test data pairs 1, 7 and 17.
    pairs = [
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ]
    for a, b, want in pairs:
        assert float(delta_e(a, b)) == pytest.approx(want, abs=1e-3)


def test_thirty_labels_in_one_picture_get_distinct_colours() -> None:
    labels = [f"label {i}" for i in range(30)]
    for palette in (Palette(), Palette(labels)):
        colors = palette.colors_for(labels)
        lab = to_lab(np.array(colors))
        pairs = delta_e(lab[:, None], lab[None])
        np.fill_diagonal(pairs, np.inf)
        assert pairs.min() >= 10


def test_labels_of_one_picture_never_share_a_colour() -> None:
    # Labels whose hash slots collide still differ within a picture.
    by_slot: dict[tuple[int, int, int], list[str]] = {}
    for i in range(500):
        by_slot.setdefault(color_for_label(f"x{i}"), []).append(f"x{i}")
    clash = next(v for v in by_slot.values() if len(v) >= 3)[:3]
    colors = Palette().colors_for([*clash, clash[0]])
    assert len(set(colors[:3])) == 3 and colors[3] == colors[0]
    # The set decides, not the order.
    assert Palette().colors_for(clash[::-1]) == colors[:3][::-1]


def test_a_run_palette_is_the_same_in_every_worker_process() -> None:
    labels = ["cup", "spoon", "saucer", "tabby cat", "pink nose"]
    palette = Palette(labels)
    code = (
        "import pickle, sys\n"
        "p = pickle.loads(sys.stdin.buffer.read())\n"
        "print(p.colors_for(['pink nose']), p.colors_for(['cup', 'tabby cat']))"
    )
    outputs = set()
    for seed in ("0", "7"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=pickle.dumps(palette),
            capture_output=True,
            env=env,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    want = f"{palette.colors_for(['pink nose'])} {palette.colors_for(['cup', 'tabby cat'])}"
    assert outputs.pop().decode().strip() == want
    # A known label has one colour whatever else the picture holds.
    assert palette.colors_for(["cup"]) == palette.colors_for(["spoon", "cup", "x"])[1:2]
    assert len(set(palette.mapping().values())) == len(labels)


def test_palette_mapping_and_list() -> None:
    assert color_for_label("cup", {"cup": "#ff0000"}) == (255, 0, 0)
    assert color_for_label("mug", {"cup": "#ff0000"}) == color_for_label("mug")
    own = ["#000000", (1, 2, 3)]
    assert color_for_label("cup", own) in {(0, 0, 0), (1, 2, 3)}
    with pytest.raises(ValueError, match="palette"):
        color_for_label("cup", [])
    pinned = Palette(["cup", "mug"], fixed={"cup": "#ff0000"})
    assert pinned["cup"] == (255, 0, 0) and pinned["mug"] != (255, 0, 0)


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


def test_text_and_outline_colours_contrast_with_every_fill() -> None:
    assert text_color_for((255, 210, 0)) == (20, 20, 20)
    assert text_color_for((20, 60, 200)) == (255, 255, 255)
    for color in DEFAULT_PALETTE:
        text = text_color_for(color)
        assert _contrast(text, color) >= 4.3
        fill, edge = to_lab(np.array([color, outline_color_for(color)]))
        assert float(delta_e(fill, edge)) >= 15


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def lum(c: tuple[int, int, int]) -> float:
        lin = [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_label_palette_gives_distinct_colours_for_any_order() -> None:
    labels = ["cup", "spoon", "saucer", "cat", "rocket", "helmet", "flag"]
    mapping = label_palette(labels)
    assert len(set(mapping.values())) == len(labels)
    assert label_palette(reversed(labels)) == mapping
    assert label_palette([*labels, "cup"]) == mapping
    # More labels than colours: each colour is used at most twice for 2x as many labels.
    many = label_palette(f"thing {i}" for i in range(2 * len(DEFAULT_PALETTE)))
    counts = [list(many.values()).count(c) for c in DEFAULT_PALETTE]
    assert counts == [2] * len(DEFAULT_PALETTE)
    assert label_palette(["a", "b"], ["#000000"]) == {"a": (0, 0, 0), "b": (0, 0, 0)}
    with pytest.raises(ValueError, match="palette"):
        label_palette(["a"], [])
