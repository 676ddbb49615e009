"""Label chips: one per label and anchor, stacked, kept inside the image."""

from __future__ import annotations

import numpy as np
import pytest

from boxmask.draw.chips import Chips, chip_texts, default_text_size, render_chip
from boxmask.draw.fonts import font_for_text


def test_text_size_scales_with_the_image() -> None:
    small, hd, large = (default_text_size(*s) for s in ((600, 400), (1920, 1080), (4032, 3024)))
    assert 12 <= small <= 16 < hd < large
    assert 60 <= large <= 75
    assert default_text_size(50, 40) == 12  # never unreadably small


def test_chip_patch_has_background_and_contrasting_text() -> None:
    size = 20
    patch = render_chip("cup", (20, 120, 255), font_for_text("cup", size), size)
    assert patch.dtype == np.uint8 and patch.ndim == 3
    assert patch.shape[0] >= size and patch.shape[1] > patch.shape[0]
    assert (patch[0, 0] == (20, 120, 255)).all()  # padding is background
    assert patch.reshape(-1, 3).max(axis=0)[0] > 200  # white text on blue
    light = render_chip("cup", (255, 210, 0), font_for_text("cup", size), size)
    assert light.reshape(-1, 3).sum(axis=1).min() < 150  # dark text on yellow


def test_same_text_at_same_anchor_is_one_chip_and_others_stack() -> None:
    chips = Chips(200, 100, size=14)
    chips.add("cup", (255, 0, 0), (10, 50, 80, 90), "box")
    chips.add("cup", (255, 0, 0), (10, 50, 80, 90), "box")
    assert len(chips) == 1
    chips.add("mug", (0, 0, 255), (10, 50, 80, 90), "box")
    assert len(chips) == 2
    chips.add("", (0, 0, 255), (10, 50, 80, 90), "box")
    assert len(chips) == 2
    (stack, x, y), *_ = chips.place()
    _, h = stack.size
    assert x == 10 and y + h == 50  # the stack sits on the box, above it


@pytest.mark.parametrize(
    "anchor",
    [(0, 0, 30, 30), (170, 80, 200, 100), (-20, -20, 250, 130), (195, 0, 200, 5)],
)
def test_chips_stay_inside_the_image(anchor: tuple[int, int, int, int]) -> None:
    chips = Chips(200, 100, size=14)
    chips.add("a long label for a small image", (255, 0, 0), anchor, "box")
    chips.add("point label", (0, 255, 0), anchor, "point")
    for stack, x, y in chips.place():
        w, h = stack.size
        assert y >= 0 and y + h <= 100
        assert x >= 0 and (x + w <= 200 or x == 0)


def test_a_chip_moves_rather_than_cover_another() -> None:
    chips = Chips(300, 200, size=14)
    chips.add("first", (255, 0, 0), (50, 80, 200, 180), "box")
    chips.add("second", (0, 0, 255), (52, 82, 190, 170), "box")
    (a, ax, ay), (b, bx, by) = chips.place()
    aw, ah = a.size
    bw, bh = b.size
    overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
    assert not overlap


def test_chip_texts_with_scores() -> None:
    nan = float("nan")
    assert chip_texts(["cup", "mug", "pot", ""], [0.934, nan, 1.7, 0.5]) == [
        "cup 93%",
        "mug",
        "pot 1.70",
        "50%",
    ]
    assert chip_texts(["cup"], None) == ["cup"]


def test_chips_paste_in_bgr_order() -> None:
    image = np.zeros((60, 120, 3), np.uint8)
    chips = Chips(120, 60, size=14)
    chips.add("x", (255, 0, 0), (10, 30, 50, 50), "box")
    chips.paste(image, bgr=True)
    colors = {tuple(int(v) for v in px) for px in image.reshape(-1, 3)}
    assert (0, 0, 255) in colors and (255, 0, 0) not in colors
