"""Google's reference decode (Gemini cookbook, "Spatial understanding"), for comparison.

Slow on purpose: Pillow, one full-image canvas per mask, ``int()`` paste boxes,
BILINEAR resize, ``> 127``. Only PNG masks with the data-URI prefix, as the cookbook.
Used as the test oracle and as a benchmark baseline.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["parse_json", "reference_decode", "reference_masks"]

PREFIX = "data:image/png;base64,"


def parse_json(text: str) -> str:
    """The cookbook's fence stripper: the text after a line that is exactly ```json."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == "```json":
            text = "\n".join(lines[i + 1 :])
            text = text.split("```")[0]
            break
    return text


def reference_masks(
    items: list[dict[str, Any]], width: int, height: int
) -> list[npt.NDArray[np.bool_]]:
    """One full ``(H, W)`` bool mask per item, computed as the cookbook does."""
    out = []
    for item in items:
        box = item["box_2d"]
        y0 = int(box[0] / 1000 * height)
        x0 = int(box[1] / 1000 * width)
        y1 = int(box[2] / 1000 * height)
        x1 = int(box[3] / 1000 * width)
        canvas = np.zeros((height, width), dtype=np.uint8)
        if y0 >= y1 or x0 >= x1:
            out.append(canvas.astype(bool))
            continue
        png = item["mask"]
        if png.startswith(PREFIX):
            png = png[len(PREFIX) :]
        decoded = Image.open(io.BytesIO(base64.b64decode(png)))
        mask = decoded.resize((x1 - x0, y1 - y0), resample=Image.Resampling.BILINEAR)
        canvas[y0:y1, x0:x1] = np.array(mask)
        out.append(canvas > 127)
    return out


def reference_decode(text: str, width: int, height: int) -> list[npt.NDArray[np.bool_]]:
    """Cookbook decode of a fenced (or bare) JSON answer with PNG masks."""
    return reference_masks(json.loads(parse_json(text)), width, height)
