"""Review site speed and size: ``build_review`` for a 10,000-image COCO file.

A synthetic COCO file (10,000 images of 1920×1080, 20 box annotations each, 12 labels)
and a report with a problem on every 10th image. Measures, in one process:

- the site without thumbnails (data + page): seconds and sizes of index.html / data.js;
- as a baseline in the same process, ``json.load`` of the COCO file itself;
- thumbnails: seconds per image for 20 real 1920×1080 JPEGs (workers 1).

    .venv/bin/python benchmarks/bench_review.py [--images 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from boxmask.review import build_review

LABELS = [f"label {k}" for k in range(12)]


def synthetic(n: int, folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    images, anns, files = [], [], []
    for i in range(1, n + 1):
        images.append({"id": i, "file_name": f"img{i:05d}.jpg", "width": 1920, "height": 1080})
        xy = rng.integers(0, 1500, (20, 2))
        wh = rng.integers(20, 400, (20, 2))
        for k in range(20):
            x, y = (int(v) for v in xy[k])
            w, h = (int(v) for v in wh[k])
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(rng.integers(1, 13)),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        problems = (
            [] if i % 10 else [{"index": 3, "kind": "bad_box", "message": "x", "dropped": True}]
        )
        files.append({"answer": f"img{i:05d}.txt", "image_id": i, "problems": problems})
    cats = [{"id": k + 1, "name": name, "supercategory": ""} for k, name in enumerate(LABELS)]
    coco = folder / "coco.json"
    coco.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    report = folder / "report.json"
    report.write_text(json.dumps({"summary": {}, "files": files}))
    return coco, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        coco, report = synthetic(args.images, folder)
        start = time.perf_counter()
        json.loads(coco.read_text())
        t_load = time.perf_counter() - start
        site = build_review(coco, folder / "site", report=report, thumbnails=False)
        index = (folder / "site" / "index.html").stat().st_size
        data = (folder / "site" / "data.js").stat().st_size
        print(f"{args.images} images, {args.images * 20} items, {site.problems} problems")
        print(
            f"json.load of the COCO file (baseline): {t_load:6.2f} s ({coco.stat().st_size / 2**20:.1f} MiB)"
        )
        print(
            f"review site without thumbnails:       {site.seconds:6.2f} s "
            f"({site.seconds / t_load:.1f}x the load); index.html {index / 2**20:.2f} MiB, "
            f"data.js {data / 2**20:.2f} MiB"
        )
        small = folder / "small"
        small.mkdir()
        rng = np.random.default_rng(1)
        noise = cv2.resize(rng.integers(0, 256, (34, 60, 3), np.uint8), (1920, 1080))
        for i in range(1, 21):
            cv2.imwrite(str(small / f"img{i:05d}.jpg"), noise)
        few_coco, few_report = synthetic(20, small)
        site = build_review(few_coco, small / "site", report=few_report, images=small)
        print(
            f"thumbnails: {site.thumbnails} in {site.seconds:.2f} s "
            f"({site.seconds / max(site.thumbnails, 1) * 1000:.0f} ms per 1920x1080 image)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
