"""What the review page shows, read from a COCO file and a ``boxmask convert`` report.

Everything is reduced to compact, JSON-ready rows (:class:`ReviewData`), so that the
page data for 10,000 images stays a few MB and is written in well under a second:

- ``labels``: category names (COCO order), their counts and overlay colours;
- ``images``: one row per COCO image: id, file name, size, items
  ``[label index, area, x, y, w, h, score or None]`` and problem indices;
- ``problems``: one row per problem of the report: ``[kind index, image id or None,
  item index or None, message, dropped, "files[i].problems[j]"]`` (where it is in the
  report), so the page can link a problem to its image and to the report entry.

The report is read leniently: per-file entries (``files[i]`` with ``image_id``,
``problems`` and possibly ``error``) and a top-level ``problems`` list are both
understood; unknown fields are ignored.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boxmask.errors import ExportError
from boxmask.overlay.palette import Palette

__all__ = ["ReviewData", "image_paths", "load_review_data"]


@dataclass
class ReviewData:
    """The page's data; see the module docstring."""

    coco: dict[str, Any]
    labels: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)
    label_colors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    problems: list[list[Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    report_files: list[dict[str, Any]] = field(default_factory=list)
    palette: Palette = field(default_factory=Palette)

    def to_payload(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The page data as a JSON-ready dict (``extra`` adds title, paths, ...)."""
        kind_counts = Counter(p[0] for p in self.problems)
        payload = {
            **extra,
            "labels": self.labels,
            "label_counts": self.label_counts,
            "label_colors": self.label_colors,
            "kinds": self.kinds,
            "kind_counts": [kind_counts.get(k, 0) for k in range(len(self.kinds))],
            "images": [
                [
                    im["id"],
                    im["file_name"],
                    im["width"],
                    im["height"],
                    im.get("thumb", ""),
                    im.get("full", ""),
                    im["items"],
                    im["problems"],
                ]
                for im in self.images
            ],
            "problems": self.problems,
        }
        return payload


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ExportError(f"cannot read {what} {str(path)!r}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {what} {str(path)!r}: {exc}") from None


def _item_row(ann: dict[str, Any], label_index: dict[int, int]) -> list[Any]:
    x, y, w, h = (round(float(v), 1) for v in ann.get("bbox", (0, 0, 0, 0)))
    score = ann.get("score")
    return [
        label_index.get(int(ann.get("category_id", -1)), -1),
        round(float(ann.get("area", w * h))),
        x,
        y,
        w,
        h,
        None if score is None else round(float(score), 3),
    ]


def load_review_data(
    coco_path: str | os.PathLike[str], report_path: str | os.PathLike[str] | None = None
) -> ReviewData:
    """Read the COCO file (and the report) into :class:`ReviewData`. Raises
    :class:`~boxmask.ExportError` for a missing or malformed file."""
    coco = _read_json(coco_path, "COCO file")
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise ExportError(f"{str(coco_path)!r} is not a COCO file (no 'images' list)")
    categories = [c for c in coco.get("categories", []) if isinstance(c, dict)]
    data = ReviewData(coco=coco)
    data.labels = [str(c.get("name", c.get("id"))) for c in categories]
    label_index = {int(c["id"]): k for k, c in enumerate(categories) if "id" in c}
    data.palette = Palette(data.labels)
    data.label_colors = ["#{:02x}{:02x}{:02x}".format(*data.palette[n]) for n in data.labels]
    counts = [0] * len(data.labels)
    by_id: dict[Any, dict[str, Any]] = {}
    for img in coco["images"]:
        if not isinstance(img, dict) or "id" not in img:
            continue
        row = {
            "id": img["id"],
            "file_name": str(img.get("file_name", img["id"])),
            "width": int(img.get("width", 0)),
            "height": int(img.get("height", 0)),
            "items": [],
            "problems": [],
        }
        by_id[img["id"]] = row
        data.images.append(row)
    for ann in coco.get("annotations", []):
        owner = by_id.get(ann.get("image_id")) if isinstance(ann, dict) else None
        if owner is None:
            continue
        item = _item_row(ann, label_index)
        owner["items"].append(item)
        if item[0] >= 0:
            counts[item[0]] += 1
    data.label_counts = counts
    if report_path is not None:
        _read_report(data, _read_json(report_path, "report"), by_id)
    return data


def _read_report(data: ReviewData, report: Any, by_id: dict[Any, dict[str, Any]]) -> None:
    """Attach every problem of the report to its image (see the module docstring)."""
    if not isinstance(report, dict):
        raise ExportError("the report is not a boxmask report (a JSON object)")
    kinds: dict[str, int] = {}

    def add(problem: Any, image_id: Any, where: str) -> None:
        if not isinstance(problem, dict):
            problem = {"kind": "problem", "message": str(problem)}
        kind = str(problem.get("kind", "problem"))
        k = kinds.setdefault(kind, len(kinds))
        image = problem.get("image_id", image_id)
        item = problem.get("index", problem.get("item"))
        message = str(problem.get("message", ""))
        row = by_id.get(image)
        data.problems.append(
            [
                k,
                image if row is not None else None,
                item,
                message,
                bool(problem.get("dropped")),
                where,
            ]
        )
        if row is not None:
            row["problems"].append(len(data.problems) - 1)

    files = report.get("files", [])
    for i, entry in enumerate(files if isinstance(files, list) else []):
        if not isinstance(entry, dict):
            continue
        data.report_files.append(entry)
        image_id = entry.get("image_id")
        name = entry.get("answer") or entry.get("image") or f"files[{i}]"
        if entry.get("error"):
            add(
                {"kind": "failed", "message": f"{name}: {entry['error']}", "dropped": True},
                image_id,
                f"files[{i}].error",
            )
        for j, problem in enumerate(entry.get("problems", []) or []):
            add(problem, image_id, f"files[{i}].problems[{j}]")
    top = report.get("problems", [])
    for j, problem in enumerate(top if isinstance(top, list) else []):
        add(problem, None, f"problems[{j}]")
    data.kinds = list(kinds)


def image_paths(
    data: ReviewData,
    coco_path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None,
) -> dict[Any, Path]:
    """Image id → the image file found for it: ``images_dir/file_name`` (then its base
    name), the report's ``image`` path for that id, or beside the COCO file (also in an
    ``images/`` folder)."""
    from_report: dict[Any, str] = {}
    for entry in data.report_files:
        if entry.get("image_id") is not None and isinstance(entry.get("image"), str):
            from_report.setdefault(entry["image_id"], entry["image"])
    roots = [Path(images_dir)] if images_dir is not None else []
    coco_dir = Path(coco_path).parent
    out: dict[Any, Path] = {}
    for row in data.images:
        name = row["file_name"]
        candidates = [r / name for r in roots] + [r / Path(name).name for r in roots]
        if row["id"] in from_report:
            candidates.append(Path(from_report[row["id"]]))
        candidates += [coco_dir / name, coco_dir / "images" / name]
        for candidate in candidates:
            if candidate.is_file():
                out[row["id"]] = candidate
                break
    return out
