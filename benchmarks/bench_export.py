"""Exports: 200 real-format masks on a 4032×3024 (12 MP) image, straight from crops.

Run: ``.venv/bin/python benchmarks/bench_export.py`` (``make bench`` runs every benchmark).

Everything is timed in this one process (best of several runs; supervision once, it
takes seconds), against baselines measured in the same run:

- ``Masks.to_rle`` vs ``pycocotools.mask.encode`` on dense masks, counting the dense
  build (one Fortran-ordered ``H × W`` mask at a time — the cheapest dense route, no
  ``N × H × W`` array); also rlemasklib ``encode(crop)`` + ``pad`` when installed (the
  alternative the numpy crop encoder was chosen over). Target >= 10×.
- ``Masks.to_polygons`` (exact, half-pixel corrected) vs ``cv2.findContours`` on dense
  masks (dense build counted; raw contours, no correction). Target >= 20×.
- boxmask spreads per-crop work over its thread pool (``boxmask.threads``; OpenCV and
  numpy release the GIL); the "1 thread" rows give the serial figures, the baselines
  are serial.
- answer text → COCO dict: ``boxmask.parse`` + ``CocoDataset.add`` + ``to_dict`` vs
  supervision ``Detections.from_vlm(GOOGLE_GEMINI_2_5)`` + ``detections_to_coco_annotations``.
  Target >= 100×.
- Peak memory of the boxmask answer → COCO dict path (and of supervision's) in a fresh
  subprocess each: peak resident set (Linux ``VmHWM``, reset just before the conversion)
  minus the resident set before it; imports and a warm-up run excluded. Target <= 300 MB
  for boxmask.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boxmask
from _common import best_of, machine, table
from boxmask import CocoDataset
from boxmask.testing.answers import make_items, to_answer_text

N, WIDTH, HEIGHT = 200, 4032, 3024


def once(fn: Callable[[], object]) -> float:
    """Wall time of one run, in seconds (for baselines that take seconds)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def single_thread(fn: Callable[[], float]) -> float:
    """Run ``fn`` with boxmask's thread pool limited to one thread (the serial figure)."""
    from boxmask.threads import using

    with using(1):
        return fn()


def answer_text() -> str:
    return to_answer_text(make_items(N, seed=0, min_side=30, max_side=500))


def pycocotools_dense(masks: boxmask.Masks) -> list[bytes]:
    from pycocotools import mask as mask_utils

    out = []
    for i in range(len(masks)):
        dense = np.zeros((HEIGHT, WIDTH), dtype=np.uint8, order="F")
        masks.paste(i, dense, 1)
        out.append(mask_utils.encode(dense)["counts"])
    return out


def rlemasklib_crops(masks: boxmask.Masks) -> list[bytes] | None:
    try:
        import rlemasklib
    except ImportError:
        return None
    out = []
    for x0, y0, crop in masks:
        h, w = crop.shape
        rle = rlemasklib.encode(crop)
        out.append(rlemasklib.pad(rle, [x0, WIDTH - x0 - w, y0, HEIGHT - y0 - h])["counts"])
    return out


def findcontours_dense(masks: boxmask.Masks) -> int:
    points = 0
    for i in range(len(masks)):
        dense = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        masks.paste(i, dense, 1)
        contours, _ = cv2.findContours(dense, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        points += sum(len(c) for c in contours)
    return points


def boxmask_coco(text: str) -> dict:
    d = boxmask.parse(text, width=WIDTH, height=HEIGHT)
    ds = CocoDataset()
    ds.add(d, "photo.jpg")
    return ds.to_dict()


def supervision_coco(text: str) -> list:
    import supervision as sv
    from supervision.dataset.formats.coco import detections_to_coco_annotations

    d = sv.Detections.from_vlm(
        vlm=sv.VLM.GOOGLE_GEMINI_2_5, result=text, resolution_wh=(WIDTH, HEIGHT)
    )
    annotations, _ = detections_to_coco_annotations(d, image_id=1, annotation_id=1)
    return annotations


MEMORY_CHILD = """
import sys
sys.path.insert(0, {bench!r})
import bench_export as b

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

text = b.answer_text()
b.{fn}(b.to_answer_text(b.make_items(4, seed=1)))  # warm up imports and pools
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
b.{fn}(text)
print(status("VmHWM") - before)
"""


def peak_memory(fn: str) -> int:
    """Peak resident memory growth (bytes) of ``fn(answer)`` in a fresh subprocess.

    Linux ``VmHWM`` after resetting it with ``/proc/self/clear_refs`` (``ru_maxrss`` is
    no use here: it survives ``exec`` and so starts at the parent's peak).
    """
    code = MEMORY_CHILD.format(bench=str(Path(__file__).resolve().parent), fn=fn)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def main() -> None:
    text = answer_text()
    d = boxmask.parse(text, width=WIDTH, height=HEIGHT)
    assert d.masks is not None
    masks = d.masks
    print(
        f"bench_export: {N} masks (256x256 PNG) on {WIDTH}x{HEIGHT}, "
        f"{masks.stored_pixels / 1e6:.0f} M crop pixels; {machine()}"
    )

    # --- RLE
    ours_rle = [r["counts"].encode() for r in masks.to_rle()]
    assert ours_rle == pycocotools_dense(masks), "RLE differs from pycocotools"
    t_rle = best_of(masks.to_rle, repeat=5)
    t_coco_rle = best_of(lambda: pycocotools_dense(masks), repeat=2)
    rle_rows = [
        ["pycocotools encode, dense build", t_coco_rle * 1e3, t_coco_rle / t_rle],
        ["boxmask Masks.to_rle (numpy, crops)", t_rle * 1e3, 1.0],
    ]
    rlemask = rlemasklib_crops(masks)
    if rlemask is not None:
        assert rlemask == ours_rle, "rlemasklib differs"
        t_rlemask = best_of(lambda: rlemasklib_crops(masks), repeat=5)
        rle_rows.append(["rlemasklib encode(crop)+pad", t_rlemask * 1e3, t_rlemask / t_rle])

    # --- polygons
    t_poly = best_of(masks.to_polygons, repeat=5)
    t_poly_simple = best_of(lambda: masks.to_polygons(tolerance=0.5), repeat=3)
    t_contours = best_of(lambda: findcontours_dense(masks), repeat=2)
    t_poly_1, t_rle_1 = (
        single_thread(lambda: best_of(masks.to_polygons, repeat=5)),
        single_thread(lambda: best_of(masks.to_rle, repeat=5)),
    )
    rle_rows.append(["boxmask Masks.to_rle, 1 thread", t_rle_1 * 1e3, t_rle_1 / t_rle])
    poly_rows = [
        ["cv2.findContours, dense build", t_contours * 1e3, t_contours / t_poly],
        ["boxmask Masks.to_polygons (exact)", t_poly * 1e3, 1.0],
        ["boxmask to_polygons, 1 thread", t_poly_1 * 1e3, t_poly_1 / t_poly],
        ["boxmask to_polygons(tolerance=0.5)", t_poly_simple * 1e3, t_poly_simple / t_poly],
    ]

    # --- answer -> COCO dict
    t_ours_coco = best_of(lambda: boxmask_coco(text), repeat=3)
    t_sv_coco = once(lambda: supervision_coco(text))
    coco_rows = [
        ["supervision from_vlm + coco anns", t_sv_coco * 1e3, t_sv_coco / t_ours_coco],
        ["boxmask parse + CocoDataset (rle)", t_ours_coco * 1e3, 1.0],
    ]
    ours_peak = peak_memory("boxmask_coco")
    sv_peak = peak_memory("supervision_coco")

    print(table(["Masks.to_rle vs", "ms", "x boxmask"], rle_rows))
    print()
    print(table(["Masks.to_polygons vs", "ms", "x boxmask"], poly_rows))
    print()
    print(table(["answer -> COCO dict", "ms", "x boxmask"], coco_rows))
    print()
    print(
        f"to_rle vs pycocotools (dense build counted): {t_coco_rle / t_rle:.1f}x (target >= 10); "
        f"{t_coco_rle / t_rle_1:.1f}x on one thread"
    )
    if rlemask is not None:
        print(f"to_rle vs rlemasklib crop+pad:               {t_rlemask / t_rle:.2f}x")
    print(
        f"to_polygons vs cv2.findContours on dense:    {t_contours / t_poly:.1f}x (target >= 20); "
        f"{t_contours / t_poly_1:.1f}x on one thread"
    )
    print(
        f"answer -> COCO vs supervision:               {t_sv_coco / t_ours_coco:.0f}x (target >= 100)"
    )
    print(
        f"peak memory answer -> COCO (VmHWM growth, subprocess): boxmask "
        f"{ours_peak / 2**20:.0f} MiB (target <= 300 MB), supervision {sv_peak / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
