"""Synthetic model answers in the formats Gemini really emits, with known ground truth.

PNG masks are 256×256 8-bit grayscale with values {0, 255} (as measured on real answers),
base64 with the ``data:image/png;base64,`` prefix; boxes are 0–1000 ``[ymin, xmin, ymax,
xmax]``. Deterministic for a given seed.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "SyntheticItem",
    "encode_png_mask",
    "make_items",
    "png_gray8",
    "random_blob",
    "to_answer_text",
]


@dataclass(frozen=True)
class SyntheticItem:
    """One generated item: its model-space box, label, and the 256×256 mask it carries."""

    box_2d: tuple[int, int, int, int]
    label: str
    mask_png: npt.NDArray[np.uint8] | None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"box_2d": list(self.box_2d), "label": self.label}
        if self.mask_png is not None:
            item["mask"] = encode_png_mask(self.mask_png)
        return item


def png_gray8(mask: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes laid out as Gemini's masks are: 8-bit gray (color type 0), no
    interlace, filter type 0 on every row, one IDAT chunk."""
    pixels = np.ascontiguousarray(mask, dtype=np.uint8)
    if pixels.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {pixels.shape}")
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)
    rows[:, 1:] = pixels

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def encode_png_mask(mask: npt.NDArray[np.uint8], *, prefix: bool = True) -> str:
    """Base64 of :func:`png_gray8`, with the ``data:image/png;base64,`` prefix by default."""
    text = base64.b64encode(png_gray8(mask)).decode("ascii")
    return f"data:image/png;base64,{text}" if prefix else text


def random_blob(rng: np.random.Generator, size: int = 256) -> npt.NDArray[np.uint8]:
    """A {0, 255} mask of one to three overlapping ellipses filling most of the square."""
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = (int(v) for v in rng.integers(size // 5, size - size // 5, 2))
        ax, ay = (int(v) for v in rng.integers(size // 10, size // 2, 2))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(mask, (cx, cy), (ax, ay), angle, 0, 360, 255, -1)
    return mask


def make_items(
    n: int,
    *,
    seed: int = 0,
    min_side: int = 30,
    max_side: int = 500,
    masks: bool = True,
    labels: tuple[str, ...] = ("cup", "spoon", "saucer", "cat", "rocket", "helmet", "flag"),
) -> list[SyntheticItem]:
    """``n`` items with boxes ``min_side..max_side`` per side in 0–1000 space, inside 0–1000."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
        y0 = int(rng.integers(0, 1000 - h + 1))
        x0 = int(rng.integers(0, 1000 - w + 1))
        mask = random_blob(rng) if masks else None
        items.append(SyntheticItem((y0, x0, y0 + h, x0 + w), labels[i % len(labels)], mask))
    return items


def to_answer_text(items: list[SyntheticItem], *, fence: bool = True) -> str:
    """The answer as a model writes it: one item per line, optionally in a ```json fence."""
    body = "[\n" + ",\n".join("  " + json.dumps(it.to_json()) for it in items) + "\n]"
    return f"```json\n{body}\n```" if fence else body
