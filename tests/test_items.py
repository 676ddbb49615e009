"""Every format neighbour of Gemini's answer is read, or named in a problem (issue 18).

One fixture per format under ``tests/data/answer_formats/`` (``tools/make_fixture_answers.py
--formats``); the rule checked for each: every item of the model's list is either kept
or reported dropped, and whatever was guessed or not read is a problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxmask import ProblemKind, parse
from boxmask.answer import read_answer
from boxmask.coords import qwen_input_size
from tests.fixture_paths import ANSWER_FORMATS

W, H = 640, 480


def _read(fixtures_dir: Path, name: str, **options: object):  # type: ignore[no-untyped-def]
    return parse((ANSWER_FORMATS / name).read_text(), width=W, height=H, **options)


def kinds(d) -> list[ProblemKind]:  # type: ignore[no-untyped-def]
    return [p.kind for p in d.problems]


def test_box_3d_is_kept_in_its_own_field(fixtures_dir: Path) -> None:
    d = _read(fixtures_dir, "box3d_only.txt")
    assert d.labels == ["mug", "laptop"] and not d.problems
    assert d.boxes_3d is not None and d.boxes_3d.shape == (2, 9)
    np.testing.assert_allclose(d.boxes_3d[0], [0.12, -0.05, 0.85, 0.09, 0.11, 0.09, 0, 0, 30])
    assert not d.has_box.any()
    both = _read(fixtures_dir, "box3d_with_box2d.json")
    assert both.has_box.all() and both.boxes_3d is not None
    np.testing.assert_allclose(both.boxes[0], [320, 192, 416, 288])
    assert both[1:].boxes_3d is not None and len(both[1:].boxes_3d) == 1


def test_points_lists_are_kept_per_item(fixtures_dir: Path) -> None:
    d = _read(fixtures_dir, "points_list.txt")
    assert d.labels == ["gripper path", "handles"] and not d.problems
    assert d.point_lists is not None
    np.testing.assert_allclose(d.point_lists[0][0], [200 / 1000 * W, 500 / 1000 * H])
    np.testing.assert_allclose(d.point_lists[1][1], [784 / 1000 * W, 427 / 1000 * H])
    assert not d.has_box.any()
    np.testing.assert_allclose(d.boxes[0], [128, 182.4, 358.4, 240])  # the points' bounds


@pytest.mark.parametrize("name", ["mask_objects.json", "mask_map.json"])
def test_mask_objects_and_mask_maps_are_decoded(fixtures_dir: Path, name: str) -> None:
    d = _read(fixtures_dir, name)
    assert d.masks is not None and not d.problems
    assert d.masks.has_mask.all() and (d.masks.areas > 0).all()


def test_unknown_mask_key_is_named() -> None:
    answer = {"items": [{"box_2d": [0, 0, 500, 500], "label": "a", "mask": "m7"}], "masks": {}}
    d = parse(answer, width=W, height=H)
    answer["masks"] = {"m1": "x"}
    d = parse(answer, width=W, height=H)
    assert kinds(d) == [ProblemKind.UNKNOWN_MASK]
    assert "'m7' names no entry" in d.problems[0].message


def test_xy_objects_for_points_and_vertices(fixtures_dir: Path) -> None:
    d = _read(fixtures_dir, "xy_objects.json")
    assert not d.problems
    np.testing.assert_allclose(d.points[0], [610 / 1000 * W, 230 / 1000 * H])
    assert d.masks is not None and d.masks.areas[1] > 0


def test_normalized_boxes_are_guessed_and_reported(fixtures_dir: Path) -> None:
    d = _read(fixtures_dir, "normalized_0_1.txt")
    assert kinds(d) == [ProblemKind.COORDS_GUESSED]
    assert "0-1 normalized" in d.problems[0].message and "coords='0-1'" in d.problems[0].message
    np.testing.assert_allclose(d.boxes[0], [0.2 * W, 0.12 * H, 0.61 * W, 0.55 * H])
    quiet = _read(fixtures_dir, "normalized_0_1.txt", coords="0-1")
    assert not quiet.problems and np.allclose(quiet.boxes, d.boxes)
    literal = _read(fixtures_dir, "normalized_0_1.txt", coords="0-1000")
    assert literal.boxes.max() < 1


def test_y_first_polygon_is_swapped_and_reported(fixtures_dir: Path) -> None:
    d = _read(fixtures_dir, "polygon_y_first.json")
    assert kinds(d) == [ProblemKind.POLYGON_ORDER]
    assert "read as [y, x]" in d.problems[0].message
    x0, y0, crop = d.masks.crop(0)
    assert (x0, y0) == (384, 48) and crop.shape == (96, 192)
    kept = _read(fixtures_dir, "polygon_y_first.json", polygon_order="xy")
    assert not kept.problems and kept.masks.crop(0)[:2] == (64, 288)


@pytest.mark.parametrize(
    ("name", "labels", "problem"),
    [
        ("prose_brackets.txt", ["cat", "dog"], None),
        ("example_fence.txt", ["cat"], ProblemKind.SKIPPED_TEXT),
        ("split_fences.txt", ["person", "car", "bike"], ProblemKind.MERGED_LISTS),
        ("fence_in_label.txt", ["sign reading ```code```", "cup"], None),
        ("long_integer.response.json", ["a"], None),
    ],
)
def test_json_region_is_chosen_by_what_holds_items(
    fixtures_dir: Path, name: str, labels: list[str], problem: ProblemKind | None
) -> None:
    d = _read(fixtures_dir, name)
    assert d.labels == labels
    assert kinds(d) == ([] if problem is None else [problem])


def test_qwen_bbox_2d_needs_an_explicit_choice(fixtures_dir: Path) -> None:
    guessed = _read(fixtures_dir, "qwen3_bbox_2d.txt")
    assert kinds(guessed) == [ProblemKind.COORDS_GUESSED]
    assert "model='qwen2.5-vl'" in guessed.problems[0].message
    qwen3 = _read(fixtures_dir, "qwen3_bbox_2d.txt", model="qwen3-vl")
    assert not qwen3.problems
    np.testing.assert_allclose(qwen3.boxes[0], [97 / 1000 * W, 71 / 1000 * H, 447 / 1000 * W, 240])
    np.testing.assert_allclose(qwen3.points[0], [270 / 1000 * W, 280 / 1000 * H])
    qwen25 = _read(fixtures_dir, "qwen25_bbox_2d.txt", model="qwen2.5-vl")
    iw, ih = qwen_input_size(W, H)
    assert (iw, ih) == (644, 476) and not qwen25.problems
    np.testing.assert_allclose(
        qwen25.boxes[0], [62 * W / iw, 34 * H / ih, 286 * W / iw, 240 * H / ih]
    )
    given_size = _read(fixtures_dir, "qwen25_bbox_2d.txt", model="qwen2.5-vl", input_size=(W, H))
    np.testing.assert_allclose(given_size.boxes[0], [62, 34, 286, 240])
    with pytest.raises(ValueError, match="model must be one of"):
        _read(fixtures_dir, "qwen25_bbox_2d.txt", model="llava")


def test_unread_fields_are_named() -> None:
    d = parse(
        {"boxes": [{"box_2d": [1, 2, 300, 400], "label": "a", "color": "red"}], "note": "x"},
        width=W,
        height=H,
    )
    assert kinds(d) == [ProblemKind.UNREAD_FIELDS, ProblemKind.UNREAD_FIELDS]
    assert {"answer fields not read: 'note'", "item fields not read: 'color' (1 item)"} == {
        p.message for p in d.problems
    }


def test_paste_box_truncates_toward_zero_like_int() -> None:
    from boxmask.boxes import paste_boxes

    boxes = paste_boxes([[-5.5, -9.2, 500, 500]], 640, 480)
    assert boxes.tolist() == [[int(-9.2 / 1000 * 640), int(-5.5 / 1000 * 480), 320, 240]]


pairs = st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(pairs=pairs, as_objects=st.booleans())
def test_points_as_pairs_or_objects_read_alike(
    pairs: list[tuple[int, int]], as_objects: bool
) -> None:
    listed = [
        {"label": "p", "point": [y, x], "points": [[y, x] for y, x in pairs]} for y, x in pairs
    ]
    objects = [
        {"label": "p", "point": {"y": y, "x": x}, "points": [{"x": x, "y": y} for y, x in pairs]}
        for y, x in pairs
    ]
    a = parse(listed, width=W, height=H)
    b = parse(objects if as_objects else listed, width=W, height=H)
    np.testing.assert_array_equal(a.points, b.points)
    assert a.point_lists is not None and b.point_lists is not None
    for p, q in zip(a.point_lists, b.point_lists, strict=True):
        np.testing.assert_array_equal(p, q)


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(
        st.fixed_dictionaries(
            {
                "box_2d": st.lists(st.integers(-50, 1050), min_size=4, max_size=4),
                "label": st.text(max_size=4),
            }
        ),
        max_size=12,
    ),
    fences=st.integers(1, 3),
)
def test_items_split_over_fences_are_all_read(items: list[dict[str, object]], fences: int) -> None:
    import json

    items = [{**item, "label": f"{item['label']}{i}"} for i, item in enumerate(items)]
    chunks = [items[i::fences] for i in range(fences)]  # distinct: a repeated block is read once
    text = "\n".join(f"Part {k}:\n```json\n{json.dumps(c)}\n```" for k, c in enumerate(chunks) if c)
    if not text:
        return
    raw = read_answer(text)
    assert sorted(map(json.dumps, raw.items)) == sorted(map(json.dumps, items))


def test_a_repeated_code_block_is_read_once_and_named() -> None:
    block = '```json\n[{"box_2d": [1, 2, 300, 400], "label": "a"}]\n```'
    d = parse(f"Result:\n{block}\nSame again:\n{block}", width=W, height=H)
    assert d.labels == ["a"] and kinds(d) == [ProblemKind.SKIPPED_TEXT]
    assert "repeats an earlier block" in d.problems[0].message
