"""Label chips: one per label and anchor, stacked, kept inside the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import boxmask
from boxmask.overlay import render
from boxmask.overlay.chips import (
    Chips,
    chip_texts,
    default_text_size,
    fit_text,
    max_text_width,
    render_chip,
)
from boxmask.overlay.fonts import font_for_text

ROOT = Path(__file__).resolve().parents[1]


def test_text_size_scales_with_the_image() -> None:
    small, hd, large = (default_text_size(*s) for s in ((600, 400), (1920, 1080), (4032, 3024)))
    assert 12 <= small <= 16 < hd < large
    assert 60 <= large <= 75
    assert default_text_size(50, 40) == 12  # never unreadably small


def test_chip_patch_has_background_and_contrasting_text() -> None:
    size = 20
    patch = render_chip("cup", (20, 60, 200), font_for_text("cup", size), size)
    assert patch.dtype == np.uint8 and patch.ndim == 3
    assert patch.shape[0] >= size and patch.shape[1] > patch.shape[0]
    assert (patch[0, 0] == (20, 60, 200)).all()  # padding is background
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
    (stack, x, y, moved), *_ = chips.place()
    assert not moved
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
    for stack, x, y, _ in chips.place():
        w, h = stack.size
        assert y >= 0 and y + h <= 100
        assert x >= 0 and x + w <= 200


def test_a_chip_moves_rather_than_cover_another() -> None:
    chips = Chips(300, 200, size=14)
    chips.add("first", (255, 0, 0), (50, 80, 200, 180), "box")
    chips.add("second", (0, 0, 255), (52, 82, 190, 170), "box")
    (a, ax, ay, _), (b, bx, by, _) = chips.place()
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


def _overlaps(rects: list[tuple[int, int, int, int]]) -> bool:
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                return True
    return False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crowded_chips_never_overlap_and_never_leave_the_image(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width, height = 600, 400
    chips = Chips(width, height, size=14)
    for i in range(40):  # 40 small boxes in one corner, many sharing a box
        x0, y0 = (int(v) for v in rng.integers(0, 150, 2))
        chips.add(f"wooden utensil {i}", (200, 100, 0), (x0, y0, x0 + 30, y0 + 30), "box")
    placed = chips.place()
    rects = []
    for stack, x, y, _ in placed:
        w, h = stack.size
        assert x >= 0 and x + w <= width and y >= 0 and y + h <= height
        rects.append((x, y, x + w, y + h))
    assert not _overlaps(rects)
    assert len(placed) + len(chips.hidden) == 40


def test_a_moved_chip_gets_a_leader_line() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    chips = Chips(300, 200, size=14)
    anchor = (100, 100, 120, 120)
    for k in range(6):  # six labels on six boxes at nearly the same place
        chips.add(f"label {k}", (0, 200, 0), (100 + k, 100, 120 + k, 120), "box")
    placed = chips.place()
    assert any(moved for *_, moved in placed)
    chips.paste(image)
    # The line (dark rim, green core) reaches the anchor's edge.
    assert image[95:125, 95:130].any()
    assert anchor


def test_long_labels_are_elided_at_a_width_that_scales_with_the_image() -> None:
    size = 14
    font = font_for_text("x", size)
    assert fit_text("cup", font, 100) == "cup"
    short = fit_text("a rather long label about wooden utensils", font, 120)
    assert short.endswith(("…", "...")) and len(short) < 30
    scored = fit_text("a rather long label about wooden utensils 93%", font, 120)
    assert scored.endswith(("… 93%", "... 93%")) and scored.startswith("a rather")
    assert max_text_width(600, size) < max_text_width(1920, size)
    assert max_text_width(50, size) <= 50
    small, wide = Chips(600, 400, size=size), Chips(1920, 1080, size=size)
    text = "wooden utensil " * 20
    small.add(text, (255, 0, 0), (10, 100, 50, 150), "box")
    wide.add(text, (255, 0, 0), (10, 100, 50, 150), "box")
    (a, *_), *_ = small.place()
    (b, *_), *_ = wide.place()
    assert a.size[0] <= 0.4 * 600 + 20 < b.size[0] <= 1920


def test_a_huge_label_costs_bounded_work() -> None:
    import tracemalloc

    chips = Chips(600, 400, size=14)
    text = "".join(chr(0x41 + (i * 7919) % 5000) for i in range(100_000))
    tracemalloc.start()
    chips.add(text, (255, 0, 0), (10, 100, 50, 150), "box")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20
    (stack, *_), *_ = chips.place()
    assert stack.size[0] <= 600


def _cookbook() -> list[Path]:
    for root in (ROOT.parent, ROOT.parent.parent):
        folder = root / "shared" / "data" / "gemini-answers"
        if folder.is_dir():
            return sorted(folder.glob("cookbook_spatial_seg_*.txt"))
    return []


@pytest.mark.parametrize("size", [(1024, 768), (600, 400), (400, 300)])
def test_crowded_real_answers_keep_every_chip_apart(size: tuple[int, int]) -> None:
    answers = _cookbook()
    if not answers:
        pytest.skip("real Gemini answers not available at ../shared/data/gemini-answers")
    width, height = size
    image = np.full((height, width, 3), 90, np.uint8)  # the photos are not published
    for path in answers:
        d = boxmask.parse(path.read_text(encoding="utf-8"), width=width, height=height)
        overlay = render(image, d)
        rects = list(overlay.chips)
        assert rects and not _overlaps(rects)
        for x0, y0, x1, y1 in rects:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert not overlay.hidden_labels
