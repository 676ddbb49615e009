"""A static review site for a dataset: ``boxmask review COCO.json -o DIR``.

:func:`build_review` writes ``DIR/index.html`` (a grid of overlay thumbnails with
per-image item tables, problems highlighted and linked to the report, counts per label,
filters by label and by problem), ``DIR/data.js`` and ``DIR/thumbs/``. It opens from
the file system: no server, no network.
"""

from __future__ import annotations

from boxmask.review.site import ReviewSite, build_review

__all__ = ["ReviewSite", "build_review"]
