"""Several images side by side (or in a grid), each scaled to a common row height."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from boxmask.images import Channels, ImageSource, read_image
from boxmask.overlay.chips import default_text_size, render_chip
from boxmask.overlay.fonts import FontLike, font_for_text
from boxmask.overlay.palette import ColorLike, parse_color

__all__ = ["grid"]


def grid(
    images: Sequence[ImageSource],
    *,
    columns: int | None = None,
    titles: Sequence[str] | None = None,
    height: int | None = None,
    gap: int | None = None,
    background: ColorLike = (255, 255, 255),
    font: FontLike | None = None,
    channels: Channels = "RGB",
) -> npt.NDArray[np.uint8]:
    """Put ``images`` in rows of ``columns`` and return one ``(H, W, 3)`` uint8 image.

    Every image (a path, PIL image or array in ``channels`` order, as for
    :func:`boxmask.overlay.draw`) is scaled, keeping its aspect ratio, to ``height`` pixels
    (default: the smallest input height, capped at 1080). ``columns`` defaults to all
    images in one row up to 4, else a near-square grid. Rows are centred; ``titles``
    (one per image, ``""`` for none) are drawn as dark chips above each image.
    """
    if not images:
        raise ValueError("grid() needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    arrays = [read_image(im, channels=channels) for im in images]
    n = len(arrays)
    cols = columns if columns is not None else (n if n <= 4 else math.ceil(math.sqrt(n)))
    if cols < 1:
        raise ValueError(f"columns must be at least 1, got {cols}")
    cell_h = height if height is not None else min(min(a.shape[0] for a in arrays), 1080)
    if cell_h < 1:
        raise ValueError(f"height must be at least 1, got {cell_h}")
    space = gap if gap is not None else max(4, cell_h // 60)
    bg = np.array(parse_color(background), dtype=np.uint8)
    if channels == "BGR":
        bg = bg[::-1]

    cells = []
    for k, a in enumerate(arrays):
        w = max(1, round(a.shape[1] * cell_h / a.shape[0]))
        if (w, cell_h) != (a.shape[1], a.shape[0]):
            shrinking = cell_h < a.shape[0]
            a = cv2.resize(
                a, (w, cell_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            )
        title = titles[k] if titles is not None else ""
        if title:
            size = default_text_size(w, cell_h)
            chip = render_chip(title, (40, 40, 40), font_for_text(title, size, font), size)
            if channels == "BGR":
                chip = chip[:, :, ::-1]
            chip = chip[:, :w]
            band = np.empty((chip.shape[0], w, 3), dtype=np.uint8)
            band[:] = bg
            band[:, : chip.shape[1]] = chip
            a = np.concatenate([band, a], axis=0)
        cells.append(a)

    rows = [cells[i : i + cols] for i in range(0, n, cols)]
    row_sizes = [
        (sum(c.shape[1] for c in row) + space * (len(row) - 1), max(c.shape[0] for c in row))
        for row in rows
    ]
    total_w = max(w for w, _ in row_sizes)
    total_h = sum(h for _, h in row_sizes) + space * (len(rows) - 1)
    canvas = np.empty((total_h, total_w, 3), dtype=np.uint8)
    canvas[:] = bg
    y = 0
    for row, (row_w, row_h) in zip(rows, row_sizes, strict=True):
        x = (total_w - row_w) // 2
        for c in row:
            top = y + row_h - c.shape[0]  # bottom-align, so titles sit above images
            canvas[top : top + c.shape[0], x : x + c.shape[1]] = c
            x += c.shape[1] + space
        y += row_h + space
    return canvas
