"""Overlay speed: 200 masks on a 4032×3024 (12 MP) photo, boxmask vs supervision.

Both draw the same 200 masks (synthetic Gemini answers from
``boxmask.testing.answers``) at opacity 0.5 on the same image, in one process:

- boxmask: ``draw(image, d, outline=False, boxes=False, labels=False, points=False)``,
  which is what supervision's ``MaskAnnotator`` draws (fill only), and the default
  ``draw(image, d)`` with outlines, boxes and label chips on top;
- supervision: ``MaskAnnotator(opacity=0.5).annotate(image.copy(), detections)``.
  It needs dense ``(N, H, W)`` masks: they are built with ``Masks.to_dense()`` *before*
  its timed region, so that conversion (and its 2.4 GB) is not counted against it.

Every timing is the best of ``--repeat`` runs. Prints the times and the ratio; the
target is boxmask fill-only >= 20x faster than MaskAnnotator.

    .venv/bin/python benchmarks/bench_overlay.py [--repeat 3] [--no-supervision]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

import boxmask
from boxmask.overlay import draw
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT, N_MASKS = 4032, 3024, 200


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def photo_like(width: int, height: int) -> np.ndarray:
    """A smooth, textured RGB image (so encoders and blends see realistic data)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 64, width // 64, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 16, (height, width, 3), dtype=np.uint8)
    return cv2.add(image, noise)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-supervision", action="store_true")
    args = parser.parse_args()

    items = make_items(N_MASKS, seed=0, min_side=30, max_side=500)
    detections = boxmask.parse(to_answer_text(items), width=WIDTH, height=HEIGHT)
    assert detections.masks is not None and detections.masks.has_mask.all()
    image = photo_like(WIDTH, HEIGHT)
    crop_px = int(detections.masks.stored_pixels)
    print(
        f"{N_MASKS} masks on {WIDTH}x{HEIGHT}; crops hold {crop_px / 1e6:.0f} M pixels "
        f"({crop_px / (WIDTH * HEIGHT):.1f}x the image), masks cover "
        f"{int(detections.masks.areas.sum()) / 1e6:.0f} M"
    )

    def fill_only() -> Any:
        return draw(image, detections, outline=False, boxes=False, labels=False, points=False)

    def full() -> Any:
        return draw(image, detections)

    fill_only()  # warm caches (fonts, kernels) outside the timed runs
    full()
    t_fill = best_of(fill_only, args.repeat)
    t_full = best_of(full, args.repeat)
    print(f"boxmask draw, fill only (what MaskAnnotator draws): {t_fill * 1000:8.1f} ms")
    print(f"boxmask draw, defaults (fill+outline+box+label):   {t_full * 1000:8.1f} ms")

    if args.no_supervision:
        return 0
    try:
        import supervision as sv
    except ImportError:
        print("supervision is not installed: pip install supervision", file=sys.stderr)
        return 1
    dense = detections.masks.to_dense()  # built outside the timed region
    labels = detections.class_names
    sv_detections = sv.Detections(
        xyxy=detections.boxes.astype(np.float32),
        mask=dense,
        class_id=np.array([labels.index(label) for label in detections.labels]),
    )
    annotator = sv.MaskAnnotator(opacity=0.5)
    t_sv = best_of(lambda: annotator.annotate(image.copy(), sv_detections), args.repeat)
    print(f"supervision {sv.__version__} MaskAnnotator:              {t_sv * 1000:8.1f} ms")
    stack = [
        sv.MaskAnnotator(opacity=0.5),
        sv.PolygonAnnotator(thickness=5),
        sv.BoxAnnotator(thickness=5),
        sv.LabelAnnotator(text_scale=1.5, text_thickness=3),
    ]

    def sv_full() -> Any:
        scene = image.copy()
        for annotator in stack:
            if isinstance(annotator, sv.LabelAnnotator):
                scene = annotator.annotate(scene, sv_detections, labels=detections.labels)
            else:
                scene = annotator.annotate(scene, sv_detections)
        return scene

    t_sv_full = best_of(sv_full, 1)
    print(f"supervision Mask+Polygon+Box+Label annotators:    {t_sv_full * 1000:8.1f} ms")
    print(f"speed-up, fill only vs MaskAnnotator: {t_sv / t_fill:6.1f}x (target >= 20x)")
    print(f"speed-up, defaults vs the four annotators: {t_sv_full / t_full:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
