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
- a real ``boxmask convert`` batch: 60 answers of 6 PNG masks on 1600×1200 JPEG photos
  (shapes from ``boxmask.testing.scenes`` on a textured background), ``--workers 1``, a
  fresh CLI process per run, with ``--overlay DIR`` (JPEG, and ``--overlay-format png``)
  vs without, runs interleaved, best of ``--repeat``: the ratio (target <= 1.5x, JPEG);
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
from boxmask.overlay import draw, encode_overlay
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


def write_batch(folder: Path, n_answers: int, width: int, height: int) -> None:
    """``n_answers`` photo-sized JPEGs (scene shapes from :mod:`boxmask.testing.scenes`
    on a textured background) and their segmentation answers (PNG masks), paired by name."""
    import json

    from PIL import Image

    from boxmask.testing.scenes import PALETTE, find_regions, make_scene, masks_answer

    texture = photo_like(width, height)
    for k in range(n_answers):
        scene = make_scene(k, width=width, height=height, n_shapes=6, min_side=60)
        picture = texture.copy()
        for shape, mask in zip(scene.shapes, scene.masks(), strict=True):
            picture[mask] = PALETTE[shape.color]
        Image.fromarray(picture).save(folder / f"photo{k:03d}.jpg", quality=90)
        items = masks_answer(find_regions(scene.render()), width, height)
        (folder / f"photo{k:03d}.json").write_text(json.dumps(items))


def batch_costs(repeat: int, n_answers: int = 60, width: int = 1600, height: int = 1200) -> None:
    """A real ``boxmask convert`` batch (workers 1, a fresh process per run, start-up
    included) with ``--overlay DIR`` vs without, runs interleaved, best of ``repeat``."""
    import subprocess
    import tempfile

    cli = [sys.executable, "-m", "boxmask.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "batch"
        data.mkdir()
        write_batch(data, n_answers, width, height)

        def convert(overlay: str | None) -> float:
            out = Path(tempfile.mkdtemp(dir=tmp))  # a fresh output folder per run
            command = [*cli, "convert", str(data), "--coco", str(out / "coco.json")]
            command += ["--workers", "1", "--quiet"]
            if overlay is not None:
                command += ["--overlay", str(out / "overlays"), "--overlay-format", overlay]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            took = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"convert failed ({done.returncode}): {done.stderr[-2000:]}")
            if overlay is not None:
                assert len(list((out / "overlays").glob(f"*.{overlay}"))) == n_answers
            return took

        runs: dict[str, list[float]] = {"plain": [], "jpg": [], "png": []}
        for _ in range(max(1, repeat)):
            for key in runs:
                runs[key].append(convert(None if key == "plain" else key))
        floor = codec_floor(sorted(data.glob("*.jpg")), repeat)
    plain = min(runs["plain"])
    print(
        f"boxmask convert, {n_answers} answers x 6 PNG masks on {width}x{height} JPEGs, "
        f"--workers 1, best of {repeat} interleaved runs (process start-up included):"
    )
    print(f"  without overlays              {plain:7.2f} s")
    for name, key in (("--overlay DIR (JPEG, default)", "jpg"), ("--overlay-format png", "png")):
        t = min(runs[key])
        print(
            f"  {name:30s}{t:7.2f} s  ({t / plain:4.2f}x without; target <= 1.5x for JPEG; "
            f"+{(t - plain) / n_answers * 1000:.1f} ms per answer)"
        )
    with_floor = plain + floor * n_answers
    print(
        f"  codec floor: decoding each photo and encoding it as JPEG q90 (no drawing) costs "
        f"{floor * 1000:.2f} ms per answer, so no overlay batch can beat "
        f"{with_floor / plain:4.2f}x without"
    )


def codec_floor(photos: list[Path], repeat: int) -> float:
    """Seconds per photo to decode it (Pillow, as every reader of a path does) and
    encode it as a JPEG q90 overlay: what any overlay costs before it draws a pixel."""
    from boxmask.images import read_image

    def once() -> None:
        for path in photos:
            encode_overlay(read_image(path), ".jpg")

    return best_of(once, max(1, repeat)) / len(photos)


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
    parser.add_argument("--batch-width", type=int, default=1600)
    parser.add_argument("--batch-height", type=int, default=1200)
    args = parser.parse_args()
    encode_costs(args.repeat)
    batch_costs(args.repeat, width=args.batch_width, height=args.batch_height)
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
