"""parse(): answers to pixel Detections, agreement with Google's reference, bad input."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxmask import Detections, ParseError, ProblemKind, parse
from boxmask.testing.answers import encode_png_mask, make_items, random_blob, to_answer_text
from tests.reference import reference_decode, reference_masks


def kinds(d: Detections) -> list[str]:
    return [p.kind.value for p in d.problems]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_boxes_in_pixels() -> None:
    d = parse('[{"box_2d": [100, 200, 300, 400], "label": "cup"}]', width=1000, height=500)
    np.testing.assert_allclose(d.boxes, [[200, 50, 400, 150]])
    assert d.labels == ["cup"] and d.masks is None and d.scores is None and d.points is None
    assert not d.problems and d.has_box.all()


def test_points_and_point_only_items() -> None:
    d = parse('[{"point": [250, 500], "label": "tip"}]', width=800, height=400)
    np.testing.assert_allclose(d.points, [[400, 100]])
    np.testing.assert_allclose(d.boxes, [[400, 100, 400, 100]])
    assert not d.has_box[0]


def test_scores_from_confidence_or_score() -> None:
    text = json.dumps(
        [
            {"box_2d": [0, 0, 10, 10], "label": "a", "confidence": 0.9},
            {"box_2d": [0, 0, 10, 10], "label": "b", "score": "0.5"},
            {"box_2d": [0, 0, 10, 10], "label": "c"},
            {"box_2d": [0, 0, 10, 10], "label": "d", "confidence": 87},
            {"box_2d": [0, 0, 10, 10], "label": "e", "confidence": "high"},
        ]
    )
    d = parse(text, width=100, height=100)
    assert d.scores is not None
    assert d.scores[:2].tolist() == [0.9, 0.5]
    assert math.isnan(d.scores[2]) and d.scores[3] == pytest.approx(0.87)
    assert math.isnan(d.scores[4])
    assert kinds(d) == ["bad_score", "bad_score"]


def test_png_masks_match_reference_decode_exactly_when_upscaling() -> None:
    items = make_items(12, seed=5, min_side=300, max_side=600)
    text = to_answer_text(items)
    d = parse(text, width=1920, height=1080)
    refs = reference_decode(text, 1920, 1080)
    assert d.masks is not None
    dense = d.masks.to_dense()
    for i, ref in enumerate(refs):
        assert iou(dense[i], ref) >= 0.99


@pytest.mark.parametrize(("width", "height"), [(4032, 3024), (640, 480), (300, 200)])
def test_png_masks_agree_with_reference_at_iou_098(width: int, height: int) -> None:
    items = make_items(25, seed=width, min_side=30, max_side=500)
    text = to_answer_text(items)
    d = parse(text, width=width, height=height)
    refs = reference_decode(text, width, height)
    assert d.masks is not None
    for i, ref in enumerate(refs):
        x0, y0, crop = d.masks.crop(i)
        ours = np.zeros((height, width), bool)
        ours[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        assert iou(ours, ref) >= 0.98, (i, iou(ours, ref))


def test_real_cookbook_masks_agree_with_reference(real_answers: Path) -> None:
    for path in sorted(real_answers.glob("cookbook_spatial_seg_*.txt")):
        text = path.read_text()
        for width, height in [(1024, 768), (4032, 3024)]:
            d = parse(text, width=width, height=height)
            assert d.masks is not None and d.masks.has_mask.all(), path.name
            dense = d.masks.to_dense()
            for i, ref in enumerate(reference_decode(text, width, height)):
                assert iou(dense[i], ref) >= 0.98, (path.name, i)


def test_masks_are_crop_native() -> None:
    items = make_items(10, seed=2, min_side=30, max_side=200)
    d = parse(to_answer_text(items), width=4032, height=3024)
    assert d.masks is not None
    box_px = ((d.boxes[:, 2] - d.boxes[:, 0] + 1) * (d.boxes[:, 3] - d.boxes[:, 1] + 1)).sum()
    assert d.masks.stored_pixels <= box_px
    assert d.masks.stored_pixels < 0.05 * 10 * 4032 * 3024


def test_box_partly_outside_image_is_cropped_not_a_crash() -> None:
    mask = encode_png_mask(random_blob(np.random.default_rng(0)))
    item = {"box_2d": [-100, 900, 500, 1200], "mask": mask, "label": "edge"}
    d = parse([item], width=400, height=300)
    assert d.masks is not None
    x0, y0, crop = d.masks.crop(0)
    assert x0 + crop.shape[1] <= 400 and y0 + crop.shape[0] <= 300 and crop.any()
    assert "box_clamped" in kinds(d)
    # Same pixels as decoding the whole box on a bigger canvas and cutting it.
    ref = reference_masks([{**item, "box_2d": [0, 0, 1000, 1000]}], 10, 10)  # smoke
    assert ref[0].shape == (10, 10)


def test_polygon_mask_in_full_image_coordinates() -> None:
    poly = [[100, 100], [400, 100], [400, 500], [100, 500]]
    d = parse(
        {"boxes": [{"box_2d": [100, 100, 500, 400], "label": "r", "mask": poly}]},
        width=1000,
        height=1000,
    )
    assert d.masks is not None
    x0, y0, crop = d.masks.crop(0)
    assert (x0, y0, crop.shape) == (100, 100, (400, 300))
    assert crop.all()


def test_polygon_without_box_gets_box_from_polygon() -> None:
    d = parse([{"label": "p", "mask": [[0, 0], [500, 0], [500, 500]]}], width=100, height=100)
    np.testing.assert_allclose(d.boxes, [[0, 0, 50, 50]])


def test_polygon_forms_flat_and_multipart() -> None:
    flat = [100, 100, 300, 100, 300, 300, 100, 300]
    multi = [[[0, 0], [100, 0], [100, 100], [0, 100]], [[500, 500], [600, 500], [600, 600]]]
    d = parse(
        [{"box_2d": [0, 0, 1, 1], "label": "f", "mask": flat}, {"label": "m", "mask": multi}],
        width=100,
        height=100,
    )
    assert d.masks is not None and d.masks.areas.tolist()[0] == 400
    assert d.masks.areas[1] > 100


def test_seg_tokens_keep_box_and_label() -> None:
    text = (
        '[{"box_2d": [10, 10, 500, 500], "mask": "<start_of_mask><seg_4><seg_20>", "label": "x"}]'
    )
    d = parse(text, width=100, height=100)
    assert len(d) == 1 and d.labels == ["x"]
    assert d.masks is not None and not d.masks.has_mask[0]
    assert kinds(d) == ["mask_tokens"]


BAD_ITEMS = [
    ({"box_2d": [1, 2, 3], "label": "three"}, "bad_box", True),
    ({"box_2d": ["a", 2, 3, 4], "label": "str"}, "bad_box", True),
    ({"box_2d": [float("nan"), 2, 3, 4], "label": "nan"}, "bad_box", True),
    ({"box_2d": [5, 5, 5, 100], "label": "zero"}, "empty_box", True),
    ({"box_2d": [1100, 0, 1200, 100], "label": "outside"}, "empty_box", True),
    ({"box_2d": [1, 2, 30, 40], "label": "badmask", "mask": "!!!"}, "bad_mask", False),
    (
        {
            "box_2d": [1, 2, 30, 40],
            "label": "jpeg",
            "mask": base64.b64encode(b"\xff\xd8\xff0").decode(),
        },
        "bad_mask",
        False,
    ),
    ({"box_2d": [1, 2, 30, 40], "label": "dict", "mask": {"counts": "x"}}, "unknown_mask", False),
    ({"box_2d": [1, 2, 30, 40], "label": "poly2", "mask": [[1, 2], [3, 4]]}, "bad_mask", False),
    ({"box_2d": [1, 2, 30, 40]}, "bad_label", False),
    ({"box_2d": [1, 2, 30, 40], "label": 7}, "bad_label", False),
    ({"box_2d": [40, 30, 2, 1], "label": "swapped"}, "box_swapped", False),
    ({"box_2d": ["10", "20", "30", "40"], "label": "strings"}, "box_coerced", False),
    ({"label": "nothing"}, "no_geometry", True),
    ({"point": [1], "label": "pt"}, "bad_point", True),
    ("just a string", "not_an_object", True),
]


@pytest.mark.parametrize(("item", "kind", "dropped"), BAD_ITEMS)
def test_one_bad_item_costs_nothing_to_the_others(item: object, kind: str, dropped: bool) -> None:
    good = {"box_2d": [100, 100, 200, 200], "label": "good"}
    d = parse([good, item, good], width=640, height=480)
    assert d.labels[0] == "good" and d.labels[-1] == "good"
    assert len(d) == (2 if dropped else 3)
    matching = [p for p in d.problems if p.kind.value == kind]
    assert matching, d.problems
    assert matching[0].index == 1
    if dropped:
        assert matching[-1].dropped or kind in ("bad_box", "bad_point")
    assert d.source_index.tolist() == ([0, 2] if dropped else [0, 1, 2])


def test_problems_messages_are_readable() -> None:
    d = parse([{"box_2d": [1, 2, 3], "label": "x"}], width=10, height=10)
    text = " | ".join(str(p) for p in d.problems)
    assert "item 0" in text and "box_2d" in text


def test_mask_bomb_is_refused_per_item() -> None:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    png += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + b"\x00" * 20
    bomb = base64.b64encode(png).decode()
    good = make_items(1, seed=1)[0].to_json()
    d = parse(
        [good, {"box_2d": [0, 0, 500, 500], "label": "b", "mask": bomb}], width=200, height=200
    )
    assert kinds(d) == ["mask_too_large"]
    assert d.masks is not None and d.masks.has_mask.tolist() == [True, False]


def test_invalid_sizes_raise_value_error() -> None:
    for w, h in [(0, 10), (10, -1), (10.5, 10), (True, 10)]:
        with pytest.raises(ValueError):
            parse("[]", width=w, height=h)  # type: ignore[arg-type]


def test_threshold_and_probabilities() -> None:
    items = make_items(3, seed=9)
    low = parse(to_answer_text(items), width=500, height=500, threshold=0)
    high = parse(
        to_answer_text(items), width=500, height=500, threshold=254, keep_probabilities=True
    )
    assert low.masks is not None and high.masks is not None
    assert (low.masks.areas >= high.masks.areas).all()
    prob = high.masks.probabilities(0)
    assert prob is not None and prob[2].dtype == np.uint8
    with pytest.raises(ValueError):
        parse("[]", width=5, height=5, threshold=300)


def test_empty_list_is_empty_detections() -> None:
    d = parse("```json\n[]\n```", width=10, height=10)
    assert len(d) == 0 and not d.problems


def test_nothing_readable_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        parse("The image shows three cupcakes.", width=10, height=10)


def test_answer_info_is_attached() -> None:
    resp = {
        "candidates": [{"content": {"parts": [{"text": "[]"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"totalTokenCount": 3},
    }
    d = parse(resp, width=10, height=10)
    assert d.answer is not None and d.answer.finish_reason == "STOP"
    assert d.answer.usage == {"totalTokenCount": 3}


@pytest.mark.parametrize("finish", ["STOP", "MAX_TOKENS", "SAFETY"])
@pytest.mark.parametrize("fenced", [False, True])
def test_text_with_info_parses_like_the_whole_response(finish: str, fenced: bool) -> None:
    from boxmask.envelopes import read_generate_content

    text = to_answer_text(make_items(3, seed=5, min_side=60, max_side=200))
    if fenced:
        text = f"Here they are:\n```json\n{text}\n```"
    if finish == "MAX_TOKENS":
        text = text[: len(text) * 2 // 3]
    resp = {
        "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": finish}],
        "usageMetadata": {"totalTokenCount": 7},
        "modelVersion": "gemini-x",
    }
    whole = parse(resp, width=320, height=240)
    reading = read_generate_content(resp)  # what the client has already read
    once = parse(reading.text, width=320, height=240, info=reading.info())
    assert once.labels == whole.labels and once.answer == whole.answer
    np.testing.assert_array_equal(once.boxes, whole.boxes)
    assert [p.to_dict() for p in once.problems] == [p.to_dict() for p in whole.problems]
    assert once.masks is not None and whole.masks is not None
    assert once.masks.to_rle() == whole.masks.to_rle()


def test_info_goes_with_the_answer_text() -> None:
    from boxmask.detections import AnswerInfo

    info = AnswerInfo(text="", finish_reason="STOP")
    with pytest.raises(ParseError, match="holds no answer text"):
        parse("  ", width=5, height=5, info=info)
    with pytest.raises(TypeError, match="model's text"):
        parse({"candidates": []}, width=5, height=5, info=info)


@settings(max_examples=80, deadline=None)
@given(cut_fraction=st.floats(0.05, 0.999))
def test_random_truncation_keeps_complete_masks_identical(cut_fraction: float) -> None:
    items = make_items(4, seed=11, min_side=100, max_side=300)
    text = to_answer_text(items)
    full = parse(text, width=640, height=480)
    cut = text[: max(1, int(len(text) * cut_fraction))]
    try:
        part = parse(cut, width=640, height=480)
    except ParseError:
        return
    n = len(part)
    assert n <= 4
    assert part.labels == full.labels[:n]
    assert full.masks is not None
    if n:
        assert part.masks is not None
        for i in range(n):
            np.testing.assert_array_equal(part.masks.crop(i)[2], full.masks.crop(i)[2])
    if n < 4:
        assert any(p.kind is ProblemKind.TRUNCATED for p in part.problems)


@settings(max_examples=100, deadline=None)
@given(
    box=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-5000, 5000),
            st.text(max_size=3),
        ),
        min_size=0,
        max_size=6,
    ),
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
)
def test_any_box_value_never_raises(box: list[object], width: int, height: int) -> None:
    d = parse([{"box_2d": box, "label": "x"}], width=width, height=height)
    assert len(d) <= 1
    if len(d):
        b = d.boxes[0]
        assert 0 <= b[0] < b[2] <= width and 0 <= b[1] < b[3] <= height
    else:
        assert d.problems


@pytest.mark.parametrize(("seed", "low", "high"), [(0, 2, 10), (1, 5, 15), (2, 10, 21)])
def test_small_boxes_equal_the_pillow_reference(seed: int, low: int, high: int) -> None:
    """Boxes under 64 px a side are resized by Pillow itself: the very reference pixels
    (OpenCV's resize had drifted to IoU 0.91-0.955 there)."""
    width, height = 4032, 3024
    text = to_answer_text(make_items(30, seed=seed, min_side=low, max_side=high))
    d = parse(text, width=width, height=height)
    assert d.masks is not None
    for i, reference in enumerate(reference_decode(text, width, height)):
        x0, y0, crop = d.masks.crop(i)
        assert min(crop.shape) < 64
        ours = np.zeros((height, width), dtype=bool)
        ours[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        np.testing.assert_array_equal(ours, reference)


@settings(max_examples=80, deadline=None)
@given(
    boxes=st.lists(
        st.lists(st.integers(-300, 1300) | st.floats(-5, 1005), min_size=4, max_size=4),
        max_size=12,
    )
)
def test_box_only_fast_path_equals_the_item_by_item_reading(boxes: list[list[float]]) -> None:
    """A well-formed box-only answer takes one vectorized step; its result and problems
    equal what reading the items one by one gives."""
    from boxmask.answer import read_answer
    from boxmask.items import ItemReader
    from boxmask.masks.decode import MaskOptions

    items = [{"box_2d": b, "label": f"l{i}"} for i, b in enumerate(boxes)]
    fast = parse(items, width=640, height=480)
    raw = read_answer(items)
    reader = ItemReader(raw.mask_map, list(raw.problems), "auto")
    for index, item in enumerate(raw.items):
        reader.add(index, item)
    slow = reader.finish(640, 480, None, MaskOptions(127, False, 1 << 24), raw.info)
    np.testing.assert_array_equal(fast.boxes, slow.boxes)
    assert fast.labels == slow.labels and fast.problems == slow.problems
    np.testing.assert_array_equal(fast.source_index, slow.source_index)
    np.testing.assert_array_equal(fast.has_box, slow.has_box)
