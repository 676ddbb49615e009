"""Chip placement geometry (boxmask.overlay.layout)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxmask.overlay import layout
from boxmask.overlay.layout import Layout, Spot, leader_line


def _overlaps(a: layout.Rect, b: layout.Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_the_first_chip_goes_above_its_box_left_aligned() -> None:
    placed = Layout(200, 100).place(30, 10, (50, 40, 120, 90), "box")
    assert placed == Spot(50, 30, False)


def test_a_chip_at_the_top_edge_goes_inside_its_box() -> None:
    assert Layout(200, 100).place(30, 10, (50, 0, 120, 90), "box") == Spot(50, 0, False)


def test_a_taken_spot_sends_the_next_chip_elsewhere_and_obstacles_count() -> None:
    marker = (45, 25, 60, 40)
    grid = Layout(200, 100, obstacles=[marker])
    spot = grid.place(30, 10, (50, 40, 120, 90), "box")
    assert spot is not None
    assert not _overlaps((spot.x, spot.y, spot.x + 30, spot.y + 10), marker)


def test_no_spot_left_hides_the_chip() -> None:
    grid = Layout(40, 10)
    assert grid.place(40, 10, (0, 0, 40, 10), "box") == Spot(0, 0, False)
    assert grid.place(5, 5, (0, 0, 40, 10), "box") is None
    assert grid.place(50, 5, (0, 0, 40, 10), "box") is None  # wider than the image


def test_leader_line_joins_the_nearest_edges() -> None:
    assert leader_line((0, 0, 10, 10), (20, 0, 30, 10)) == ((9, 4), (20, 4))


rects = st.tuples(
    st.integers(-20, 220), st.integers(-20, 140), st.integers(1, 90), st.integers(1, 60)
)


@settings(max_examples=150, deadline=None)
@given(chips=st.lists(st.tuples(rects, st.integers(4, 60), st.integers(4, 20)), max_size=40))
def test_plain_python_and_numpy_tests_pick_the_same_spots(
    chips: list[tuple[tuple[int, int, int, int], int, int]],
) -> None:
    """The plain loop over the preferred spots (few chips placed) is a shortcut for the
    numpy test (many placed): same spot, same ``moved`` flag, for every chip."""
    fast, vectorized = Layout(200, 120), Layout(200, 120)
    with pytest.MonkeyPatch.context() as patch:
        for (x, y, w, h), chip_w, chip_h in chips:
            anchor = (x, y, x + w, y + h)
            kind = "point" if w < 8 else "box"
            patch.setattr(layout, "_PYTHON_TAKEN", 10**9)
            a = fast.place(chip_w, chip_h, anchor, kind)
            patch.setattr(layout, "_PYTHON_TAKEN", -1)
            b = vectorized.place(chip_w, chip_h, anchor, kind)
            assert a == b


@pytest.mark.parametrize("seed", range(3))
def test_many_chips_never_overlap_and_stay_inside(seed: int) -> None:
    """Past the plain-Python limit too (150 chips on a small picture)."""
    rng = np.random.default_rng(seed)
    grid = Layout(640, 480)
    placed: list[layout.Rect] = []
    for _ in range(150):
        x, y = (int(v) for v in rng.integers(0, 600, 2))
        w, h = (int(v) for v in rng.integers(4, 80, 2))
        cw, ch = int(rng.integers(10, 70)), 12
        spot = grid.place(cw, ch, (x, y, x + w, y + h), "box")
        if spot is None:
            continue
        rect = (spot.x, spot.y, spot.x + cw, spot.y + ch)
        assert rect[0] >= 0 and rect[1] >= 0 and rect[2] <= 640 and rect[3] <= 480
        assert not any(_overlaps(rect, other) for other in placed)
        placed.append(rect)
    assert len(placed) > layout._PYTHON_TAKEN
