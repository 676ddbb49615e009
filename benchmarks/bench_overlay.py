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

Then, in the same process, what overlays add to a batch (``--batch`` only runs this part):

- encoding a 600×400 and a 1920×1080 overlay: PNG at zlib level 6 (the old default)
  vs PNG level 1 (boxmask's PNG) vs JPEG quality 90 (boxmask's default);
- a batch-like loop over 60 answers of 20 masks (parse + COCO fragment per answer, the
  work of a batch worker) without overlays, then with draw + encode per answer as JPEG
  and as fast PNG: the ratio to the loop without overlays (target <= 1.5x, JPEG);
- a 100,000-character label: time and peak traced memory of drawing it.

    .venv/bin/python benchmarks/bench_overlay.py [--repeat 3] [--no-supervision] [--batch]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boxmask
from _common import photo_like
from boxmask.overlay import draw, encode_overlay, overlay_bytes
from boxmask.testing.answers import make_items, to_answer_text

WIDTH, HEIGHT, N_MASKS = 4032, 3024, 200


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def encode_costs(repeat: int) -> None:
    for width, height in ((600, 400), (1920, 1080)):
        picture = photo_like(width, height)
        costs = {}
        for name, fmt, level in (("PNG level 6", ".png", 6), ("PNG level 1", ".png", 1)):
            costs[name] = best_of(
                lambda f=fmt, v=level, p=picture: encode_overlay(p, f, png_level=v), repeat
            )
        costs["JPEG q90"] = best_of(lambda p=picture: encode_overlay(p, ".jpg"), repeat)
        base = costs["PNG level 6"]
        for name, t in costs.items():
            print(
                f"encode {width}x{height} {name:12s} {t * 1000:7.1f} ms  ({t / base:5.2f}x level 6)"
            )


def batch_costs(repeat: int, n_answers: int = 60, width: int = 600, height: int = 400) -> None:
    """A batch worker's work per answer, without and with overlays (1 process)."""
    from boxmask.export.coco import CocoDataset

    texts = [
        to_answer_text(make_items(20, seed=s, min_side=40, max_side=400)) for s in range(n_answers)
    ]
    picture = photo_like(width, height)

    def batch(fmt: str | None) -> None:
        coco = CocoDataset("rle")
        for k, text in enumerate(texts):
            d = boxmask.parse(text, width=width, height=height)
            coco.add(d, f"img{k}.jpg")
            if fmt is not None:
                overlay_bytes(picture, d, fmt)

    plain = best_of(lambda: batch(None), repeat)
    print(f"batch of {n_answers} answers x 20 masks at {width}x{height}, 1 process:")
    print(f"  without overlays            {plain * 1000:8.1f} ms")
    for name, fmt in (
        ("with JPEG overlays (default)", ".jpg"),
        ("with PNG overlays (level 1)", ".png"),
    ):
        t = best_of(lambda f=fmt: batch(f), repeat)
        print(f"  {name:28s}{t * 1000:8.1f} ms  ({t / plain:4.2f}x without; target <= 1.5x)")


def huge_label_cost() -> None:
    import tracemalloc

    text = "".join(chr(0x41 + (i * 7919) % 3000) for i in range(100_000))
    d = boxmask.Detections([[10, 100, 300, 350]], [text], width=600, height=400)
    picture = photo_like(600, 400)
    tracemalloc.start()
    start = time.perf_counter()
    draw(picture, d)
    took = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"a 100,000-character label: {took * 1000:.1f} ms, peak traced memory {peak / 2**20:.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-supervision", action="store_true")
    parser.add_argument("--batch", action="store_true", help="only the batch and encode costs")
    args = parser.parse_args()
    encode_costs(args.repeat)
    batch_costs(args.repeat)
    huge_label_cost()
    if args.batch:
        return 0

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
