"""Try evaluation without a dataset: synthetic scenes, their exact COCO ground truth, and
what the fake Gemini model (:mod:`boxmask.testing.scenes`, behind ``boxmask serve-fake``)
answers about them.

Example::

    from boxmask.testing.scenes import make_scene
    scenes = {f"s{i}.png": make_scene(i, n_shapes=4) for i in range(20)}
    report = evaluate(scene_ground_truth(scenes), fake_model_answers(scenes))
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from boxmask.detections import Detections
from boxmask.masks.store import Masks
from boxmask.testing.scenes import Scene, find_regions, masks_answer

__all__ = ["fake_model_answers", "scene_ground_truth"]


def scene_ground_truth(scenes: Mapping[str, Scene], *, by: str = "label") -> dict[str, Any]:
    """COCO instances for ``{file name: Scene}``: one object per shape, its exact mask as
    compressed RLE, ``bbox`` the mask's pixel-edge box. Categories are the shape labels
    (``by="label"``: ``"red circle"``) or kinds (``by="kind"``: ``"ellipse"``), ids in
    first-seen order."""
    if by not in ("label", "kind"):
        raise ValueError(f"by must be 'label' or 'kind', not {by!r}")
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    categories: dict[str, int] = {}
    for image_id, (name, scene) in enumerate(scenes.items(), start=1):
        images.append(
            {"id": image_id, "file_name": name, "width": scene.width, "height": scene.height}
        )
        if not scene.shapes:
            continue
        masks = Masks.from_dense(np.stack(scene.masks()))
        rles, areas = masks.to_rle(), masks.areas
        for k, (shape, box) in enumerate(zip(scene.shapes, scene.boxes(), strict=True)):
            category = shape.label if by == "label" else shape.kind
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": categories.setdefault(category, len(categories) + 1),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": int(areas[k]),
                    "segmentation": rles[k],
                    "iscrowd": 0,
                }
            )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for n, i in categories.items()],
    }


def fake_model_answers(
    scenes: Mapping[str, Scene], *, mask_format: str = "png", jpeg_quality: int | None = None
) -> dict[str, Detections]:
    """What the fake model answers for each rendered scene, parsed: ``{file name:
    Detections}`` (its labels are colour + shape as it sees them, masks ``png`` or
    ``polygon`` as Gemini 2.5 / 3.x send them). With ``jpeg_quality`` the model sees the
    scene JPEG-compressed at that quality (1-95): blurred edges, some shapes misnamed."""
    from boxmask.parse import parse

    out: dict[str, Detections] = {}
    for name, scene in scenes.items():
        rgb = scene.render()
        if jpeg_quality is not None:
            with Image.open(io.BytesIO(scene.encode("JPEG", quality=jpeg_quality))) as im:
                rgb = np.asarray(im.convert("RGB"))
        regions = find_regions(rgb)
        items = masks_answer(regions, scene.width, scene.height, mask_format=mask_format)
        out[name] = parse(items, width=scene.width, height=scene.height)
    return out
