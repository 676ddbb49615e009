"""grid(): several images side by side or in rows."""

from __future__ import annotations

import numpy as np
import pytest

from boxmask.overlay import grid
from tests.fixture_paths import FIXTURE_IMAGES

IMAGES = FIXTURE_IMAGES


def test_side_by_side_at_a_common_height() -> None:
    a = np.full((100, 200, 3), 10, np.uint8)
    b = np.full((50, 50, 3), 200, np.uint8)
    out = grid([a, b], gap=4)
    assert out.shape == (50, 100 + 4 + 50, 3)
    assert (out[:, :100] == 10).all() and (out[:, 104:] == 200).all()
    assert (out[:, 100:104] == 255).all()  # white gap


def test_columns_titles_and_files() -> None:
    out = grid(
        [IMAGES / "coffee.jpg", IMAGES / "chelsea.jpg", IMAGES / "rocket.jpg"],
        columns=2,
        titles=["coffee", "", "rocket"],
        height=120,
        background="#000000",
    )
    assert out.dtype == np.uint8 and out.ndim == 3
    assert out.shape[0] > 2 * 120  # two rows plus a title band


def test_default_layout_for_many_images() -> None:
    tiles = [np.full((10, 10, 3), i * 20, np.uint8) for i in range(9)]
    assert grid(tiles, gap=0).shape == (30, 30, 3)  # 3 x 3


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        grid([])
    with pytest.raises(ValueError, match="titles"):
        grid([np.zeros((5, 5, 3), np.uint8)], titles=["a", "b"])
    with pytest.raises(ValueError, match="columns"):
        grid([np.zeros((5, 5, 3), np.uint8)], columns=0)
