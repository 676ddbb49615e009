"""Checks shared by the fake-server tests: an answer, parsed by ``boxmask.parse``, holds
the shapes drawn in the scene."""

from __future__ import annotations

import numpy as np

import boxmask
from boxmask.testing.scenes import Scene

#: Pixel slack of a box: the 0-1000 grid rounds each edge by up to width/1000.
BOX_SLACK = 3.0


def assert_drawn_shapes(text: str, scene: Scene, task: str) -> boxmask.Detections:
    """``text`` parses without problems into exactly the scene's shapes: boxes within
    ``BOX_SLACK`` px (``task`` ``boxes``), masks with IoU > 0.85 (``masks``), or points
    inside the shape's box (``points``)."""
    d = boxmask.parse(text, width=scene.width, height=scene.height)
    assert not d.problems, d.problems
    assert sorted(d.labels) == sorted(s.label for s in scene.shapes)
    truth = dict(zip((s.label for s in scene.shapes), scene.boxes(), strict=True))
    masks = dict(zip((s.label for s in scene.shapes), scene.masks(), strict=True))
    dense = d.masks.to_dense() if task == "masks" and d.masks is not None else None
    for i, label in enumerate(d.labels):
        x0, y0, x1, y1 = truth[label]
        if task == "points":
            assert d.points is not None
            x, y = d.points[i]
            assert x0 <= x <= x1 and y0 <= y <= y1, (label, x, y)
            continue
        assert np.abs(d.boxes[i] - truth[label]).max() <= BOX_SLACK, (label, d.boxes[i])
        if task == "masks":
            assert dense is not None
            got = dense[i]
            iou = (got & masks[label]).sum() / (got | masks[label]).sum()
            assert iou > 0.85, (label, iou)
    return d
