"""``build_review``: a COCO file (and its report) → a static review site in a folder.

::

    out/index.html     the page (open it from the file system)
    out/data.js        the page data (labels, images, items, problems)
    out/thumbs/*.jpg   one overlay thumbnail per image whose file was found
    out/report.json    a copy of the report, which problems link to

Every file is written atomically. Images that cannot be found or drawn still get a
card, which says why.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxmask.io import atomic_write_bytes, atomic_write_text
from boxmask.review.data import image_paths, load_review_data
from boxmask.review.page import index_html
from boxmask.review.thumbs import make_thumbnails, thumbnail_jobs

__all__ = ["ReviewSite", "build_review"]

THUMB_SIZE = 360


@dataclass(frozen=True)
class ReviewSite:
    """What :func:`build_review` wrote: ``index`` (the page), the counts, and a note
    per image without a thumbnail (image id → why)."""

    index: Path
    images: int
    thumbnails: int
    problems: int
    without_thumbnail: dict[Any, str]
    seconds: float


def _relative(target: Path, start: Path) -> str:
    """A ``/``-separated link from folder ``start`` to ``target`` (absolute if none)."""
    try:
        return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return target.resolve().as_uri()


def build_review(
    coco: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    report: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    thumbnails: bool = True,
    thumb_size: int = THUMB_SIZE,
    workers: int = 1,
    title: str | None = None,
) -> ReviewSite:
    """Write the review site of ``coco`` (a COCO JSON file) into ``out_dir``.

    ``report``: the JSON report of ``boxmask convert --report`` (problems are shown on
    their images and linked to it). ``images``: the folder of the images (default:
    the report's image paths, then beside the COCO file). ``thumbnails=False`` skips
    drawing (cards without pictures; seconds for 10,000 images); ``workers`` processes
    draw the thumbnails. Raises :class:`~boxmask.ExportError` for an unreadable input
    or an output that cannot be written.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    data = load_review_data(coco, report)
    notes: dict[Any, str] = {}
    made = 0
    if thumbnails:
        paths = image_paths(data, coco, images)
        for row in data.images:
            if row["id"] not in paths:
                notes[row["id"]] = f"image {row['file_name']} not found (pass --images DIR)"
        (out / "thumbs").mkdir(parents=True, exist_ok=True)
        jobs = thumbnail_jobs(data.coco, paths, out / "thumbs", data.palette, thumb_size)
        rows = {row["id"]: row for row in data.images}
        for job, failure in zip(jobs, make_thumbnails(jobs, workers), strict=True):
            image_id = job["image"]["id"]
            if failure is not None:
                notes[image_id] = failure
                continue
            made += 1
            rows[image_id]["thumb"] = _relative(Path(job["out"]), out)
            rows[image_id]["full"] = _relative(paths[image_id], out)
    report_link = None
    if report is not None:
        target = out / "report.json"
        if Path(report).resolve() != target.resolve():
            atomic_write_bytes(target, Path(report).read_bytes())
        report_link = "report.json"
    payload = data.to_payload(
        {
            "title": title or f"boxmask review: {Path(coco).name}",
            "coco": _relative(Path(coco), out),
            "report": report_link,
            "thumb_notes": {str(k): v for k, v in notes.items()},
        }
    )
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    atomic_write_text(out / "data.js", f"window.BOXMASK_REVIEW={text};\n")
    index = atomic_write_text(out / "index.html", index_html(payload))
    return ReviewSite(
        index=index,
        images=len(data.images),
        thumbnails=made,
        problems=len(data.problems),
        without_thumbnail=notes,
        seconds=time.perf_counter() - start,
    )
