"""export.fragments: per-image COCO annotations; the box-only path against the definition."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

import boxmask
from boxmask.export.fragments import Annotation, ExportOptions, box_xywh, coco_annotations
from boxmask.export.rle import boxes_to_rle
from boxmask.problems import ExportKind

coordinate = st.integers(min_value=0, max_value=1000)


@st.composite
def box_only_answers(draw: st.DrawFn) -> tuple[str, int, int]:
    """A detection answer: boxes (some with a confidence, some out of range or NaN-free
    odd values), point-only items mixed in; and an image size."""
    items = []
    for k in range(draw(st.integers(min_value=0, max_value=12))):
        if draw(st.integers(0, 5)) == 0:
            items.append({"point": [draw(coordinate), draw(coordinate)], "label": f"p{k}"})
            continue
        y0, x0, y1, x1 = (draw(coordinate) for _ in range(4))
        item: dict[str, object] = {"box_2d": [y0, x0, y1, x1], "label": f"obj {k % 3}"}
        if draw(st.booleans()):
            item["confidence"] = draw(st.floats(min_value=0, max_value=1))
        items.append(item)
    width = draw(st.integers(min_value=1, max_value=2000))
    height = draw(st.integers(min_value=1, max_value=2000))
    return json.dumps(items), width, height


def _expected(d: boxmask.Detections, mask_format: str) -> list[Annotation]:
    """Each boxed item as the module docs define it, one at a time."""
    out = []
    for i in range(len(d)):
        if not d.has_box[i]:
            continue
        x0, y0, x1, y1 = (float(v) for v in d.boxes[i])
        if mask_format == "rle":
            segmentation: object = boxes_to_rle([d.boxes[i]], d.width, d.height)[0]
        else:
            segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]]
        score = None
        if d.scores is not None and math.isfinite(d.scores[i]):
            score = float(d.scores[i])
        area = (x1 - x0) * (y1 - y0)
        label = d.labels[i]
        index = int(d.source_index[i])
        out.append(Annotation(index, label, box_xywh(d.boxes[i]), area, segmentation, score))  # type: ignore[arg-type]
    return out


@settings(max_examples=150, deadline=None)
@given(answer=box_only_answers(), mask_format=st.sampled_from(["rle", "polygon"]))
def test_box_only_annotations_follow_the_definition(
    answer: tuple[str, int, int], mask_format: str
) -> None:
    text, width, height = answer
    d = boxmask.parse(text, width=width, height=height)
    assert d.masks is None
    annotations, problems = coco_annotations(d, "a.jpg", ExportOptions(mask_format=mask_format))  # type: ignore[arg-type]
    assert annotations == _expected(d, mask_format)
    point_only = [int(d.source_index[i]) for i in range(len(d)) if not d.has_box[i]]
    assert [(p.index, p.kind) for p in problems] == [(i, ExportKind.POINT_ONLY) for i in point_only]
    assert all(type(a.index) is int and type(a.area) is float for a in annotations)


def test_box_only_rle_is_what_pycocotools_fills_for_the_box_polygon() -> None:
    d = boxmask.Detections(
        [[0, 0, 10, 5], [3.4, 2.5, 17.6, 9.5], [19.5, 0, 20, 12]],
        ["a", "b", "c"],
        width=20,
        height=12,
    )
    annotations, problems = coco_annotations(d, "a.jpg", ExportOptions())
    assert problems == []
    for a in annotations:
        x, y, w, h = a.bbox
        polygon = mask_utils.frPyObjects([[x, y, x + w, y, x + w, y + h, x, y + h]], 12, 20)
        want = mask_utils.decode(mask_utils.merge(polygon))
        assert isinstance(a.segmentation, dict)
        got = mask_utils.decode({"size": [12, 20], "counts": a.segmentation["counts"].encode()})
        np.testing.assert_array_equal(got, want)


def test_fragments_pickle_to_equal_values() -> None:
    import pickle

    from boxmask.export.fragments import image_fragment

    text = json.dumps([{"box_2d": [10, 20, 300, 400], "label": "cup", "confidence": 0.5}])
    fragment = image_fragment(boxmask.parse(text, width=64, height=48), "a.jpg", ExportOptions())
    again = pickle.loads(pickle.dumps(fragment, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == fragment and again.annotations[0].score == 0.5
