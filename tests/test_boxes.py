"""0–1000 yxyx model space ⇄ pixel xyxy."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from boxmask.boxes import (
    boxes_xyxy_to_yxyx_1000,
    boxes_yxyx_1000_to_xyxy,
    paste_boxes,
    points_yx_1000_to_xy,
)


def test_axis_order_and_scale() -> None:
    xyxy = boxes_yxyx_1000_to_xyxy([[100, 200, 300, 400]], 1000, 500)
    np.testing.assert_allclose(xyxy, [[200.0, 50.0, 400.0, 150.0]])


def test_corners_sorted_and_clamped() -> None:
    xyxy = boxes_yxyx_1000_to_xyxy([[300, 400, 100, 200], [-10, -5, 1005, 1200]], 640, 480)
    np.testing.assert_allclose(xyxy[0], [128.0, 48.0, 256.0, 144.0])
    np.testing.assert_allclose(xyxy[1], [0.0, 0.0, 640.0, 480.0])


def test_paste_boxes_match_reference_int_truncation() -> None:
    box = [393, 67, 574, 206]
    width, height = 1024, 768
    expected = [
        int(box[1] / 1000 * width),
        int(box[0] / 1000 * height),
        int(box[3] / 1000 * width),
        int(box[2] / 1000 * height),
    ]
    assert paste_boxes([box], width, height)[0].tolist() == expected


def test_points_are_x_then_y() -> None:
    np.testing.assert_allclose(points_yx_1000_to_xy([[250, 500]], 800, 400), [[400.0, 100.0]])


@given(
    hnp.arrays(np.float64, (7, 4), elements=st.floats(-500, 1500, allow_nan=False)),
    st.integers(1, 5000),
    st.integers(1, 5000),
)
def test_boxes_always_sorted_and_inside(values: np.ndarray, width: int, height: int) -> None:
    xyxy = boxes_yxyx_1000_to_xyxy(values, width, height)
    assert (xyxy[:, 0] <= xyxy[:, 2]).all() and (xyxy[:, 1] <= xyxy[:, 3]).all()
    assert (xyxy >= 0).all()
    assert (xyxy[:, [0, 2]] <= width).all() and (xyxy[:, [1, 3]] <= height).all()


@given(
    hnp.arrays(np.float64, (5, 4), elements=st.floats(0, 1000, allow_nan=False)),
    st.integers(1, 5000),
    st.integers(1, 5000),
)
def test_round_trip_within_range(values: np.ndarray, width: int, height: int) -> None:
    sorted_values = values.copy()
    sorted_values[:, [0, 2]] = np.sort(values[:, [0, 2]], axis=1)
    sorted_values[:, [1, 3]] = np.sort(values[:, [1, 3]], axis=1)
    back = boxes_xyxy_to_yxyx_1000(
        boxes_yxyx_1000_to_xyxy(sorted_values, width, height), width, height
    )
    np.testing.assert_allclose(back, sorted_values, atol=1e-9)
