"""Review thumbnails: the overlay of one image, drawn and shrunk to a small JPEG.

The image (read upright by :func:`boxmask.images.open_upright`) is shrunk first and the
items, scaled to the thumbnail, are drawn on it, so the chips are readable at the small
size and drawing costs the thumbnail's pixels (images with RLE masks are drawn at full
size, then shrunk). Jobs are plain dicts (the
image record, its annotations, the categories), so they go to worker processes as is.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from boxmask.errors import BoxmaskError
from boxmask.export.coco import CocoDataset
from boxmask.images import open_upright
from boxmask.io import atomic_write_bytes
from boxmask.overlay.encode import encode_overlay
from boxmask.overlay.palette import Palette
from boxmask.overlay.render import render

__all__ = ["ThumbJob", "make_thumbnail", "make_thumbnails", "thumbnail_jobs"]

ThumbJob = dict[str, Any]


def _scaled_coco(job: ThumbJob, scale: float, width: int, height: int) -> CocoDataset:
    """The job's image as a one-image COCO dataset at the thumbnail's size."""
    image = {**job["image"], "width": width, "height": height}
    anns = []
    for ann in job["annotations"]:
        x, y, w, h = (float(v) * scale for v in ann.get("bbox", (0, 0, 0, 0)))
        scaled = {k: v for k, v in ann.items() if k != "segmentation"}
        scaled["bbox"] = [x, y, w, h]
        seg = ann.get("segmentation")
        if isinstance(seg, list):  # polygons scale exactly (RLE: see _draw_thumbnail)
            scaled["segmentation"] = [[float(v) * scale for v in ring] for ring in seg]
        anns.append(scaled)
    return CocoDataset.from_dict(
        {"images": [image], "annotations": anns, "categories": job["categories"]}
    )


def make_thumbnail(job: ThumbJob) -> str | None:
    """Draw one thumbnail (``job``: ``image``, ``annotations``, ``categories``, ``path``
    of the image file, ``out`` path, ``size`` longest side, ``palette``). Returns None,
    or a one-line reason when the image could not be drawn (the card then says so)."""
    try:
        picture = _draw_thumbnail(job)
        if isinstance(picture, str):
            return picture
        atomic_write_bytes(job["out"], encode_overlay(picture, ".jpg", quality=85), durable=False)
    except (BoxmaskError, OSError, ValueError) as exc:
        return f"no thumbnail: {exc}"
    return None


def _draw_thumbnail(job: ThumbJob) -> npt.NDArray[np.uint8] | str:
    with open_upright(job["path"]) as im:
        full_w, full_h = im.size
        want = (int(job["image"].get("width", full_w)), int(job["image"].get("height", full_h)))
        if want != (full_w, full_h):
            return f"image is {full_w}x{full_h}, the COCO file says {want[0]}x{want[1]}"
        scale = min(1.0, job["size"] / max(full_w, full_h))
        width, height = max(1, round(full_w * scale)), max(1, round(full_h * scale))
        rle = any(isinstance(a.get("segmentation"), dict) for a in job["annotations"])
        if rle:  # RLE masks are drawn at full size, then the picture is shrunk
            full = np.asarray(im.convert("RGB"))
            coco = CocoDataset.from_dict(
                {
                    "images": [job["image"]],
                    "annotations": job["annotations"],
                    "categories": job["categories"],
                }
            )
            overlay = render(
                full,
                coco.to_detections(job["image"]["id"]),
                palette=job["palette"],
                text_size=max(11, round(11 / scale)),
                thickness=max(1, round(1 / scale)),
                scores=False,
            )
            return cv2.resize(overlay.image, (width, height), interpolation=cv2.INTER_AREA)
        small = np.asarray(
            im.convert("RGB").resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
        )
    detections = _scaled_coco(job, width / full_w, width, height).to_detections(job["image"]["id"])
    overlay = render(
        small, detections, palette=job["palette"], text_size=11, thickness=1, scores=False
    )
    return overlay.image


def make_thumbnails(jobs: list[ThumbJob], workers: int = 1) -> list[str | None]:
    """:func:`make_thumbnail` for every job, in order (``workers`` processes)."""
    if workers <= 1 or len(jobs) < 8:
        return [make_thumbnail(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(make_thumbnail, jobs, chunksize=16))


def thumbnail_jobs(
    coco: dict[str, Any],
    paths: dict[Any, Path],
    out_dir: Path,
    palette: Palette,
    size: int,
) -> list[ThumbJob]:
    """One job per COCO image with a file found (``paths``: image id → file)."""
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in coco.get("annotations", []):
        if isinstance(ann, dict):
            by_image.setdefault(ann.get("image_id"), []).append(ann)
    jobs = []
    for img in coco["images"]:
        if not isinstance(img, dict) or img.get("id") not in paths:
            continue
        anns = by_image.get(img["id"], [])
        jobs.append(
            {
                "image": img,
                "annotations": anns,
                "categories": coco.get("categories", []),
                "path": os.fspath(paths[img["id"]]),
                "out": os.fspath(out_dir / f"{_safe(img['id'])}.jpg"),
                "size": size,
                "palette": palette,
            }
        )
    return jobs


def _safe(image_id: Any) -> str:
    text = str(image_id)
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "image"
