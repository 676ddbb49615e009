"""Label chips: text on a filled background, rendered small and pasted, kept in the image.

Each chip is rendered once with Pillow into a patch the size of the chip and pasted into
the numpy image, so no full-frame conversion to PIL happens. Chips that belong to the
same anchor (one box, or one point) form a vertical stack: the same label twice is one
chip, different labels are stacked. A stack is put at the first candidate position that
is inside the image and does not cover a stack placed before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from boxmask.draw.fonts import FontLike, LoadedFont, drawable_text, font_for_text
from boxmask.draw.palette import RGB, text_color_for

__all__ = ["ChipStack", "Chips", "default_text_size", "render_chip"]

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def default_text_size(width: int, height: int) -> int:
    """Text em size in pixels for a ``width × height`` image: ~14 px at 600×400, ~31 px
    at 1920×1080, ~68 px at 4032×3024 — about the same size once the image is shown
    fitted to a screen."""
    return max(12, round(0.018 * math.sqrt(width * height) + 5))


def render_chip(text: str, background: RGB, font: LoadedFont, size: int) -> npt.NDArray[np.uint8]:
    """``(h, w, 3)`` uint8 patch: ``text`` in white or near-black on ``background``."""
    text = drawable_text(font, text)
    pad_x = max(2, round(size * 0.3))
    pad_y = max(1, round(size * 0.15))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        text_h = ascent + descent
        text_w = max(math.ceil(font.getlength(text)), int(right))
        top = 0
    else:
        text_h = int(bottom)
        text_w = int(right)
        top = 0
    shift_x = -min(0, int(left))
    width = text_w + shift_x + 2 * pad_x
    height = int(text_h) + 2 * pad_y
    ink = Image.new("L", (width, height))
    ImageDraw.Draw(ink).text((pad_x + shift_x, pad_y - top), text, font=font, fill=255)
    alpha = np.asarray(ink, dtype=np.uint16)[:, :, None]
    bg = np.array(background, dtype=np.uint16)
    fg = np.array(text_color_for(background), dtype=np.uint16)
    patch = (bg * (255 - alpha) + fg * alpha + 127) // 255
    return patch.astype(np.uint8)


@dataclass
class ChipStack:
    """Chips drawn together at one anchor. ``candidates`` are top-left corners to try,
    best first, for a stack of the given size (see :meth:`Chips.place`)."""

    patches: list[npt.NDArray[np.uint8]]
    anchor: Rect
    kind: str  # "box" or "point"
    texts: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (
            max(p.shape[1] for p in self.patches),
            sum(p.shape[0] for p in self.patches),
        )

    def candidates(self, gap: int) -> list[tuple[int, int]]:
        w, h = self.size
        x0, y0, x1, y1 = self.anchor
        if self.kind == "point":
            cy = (y0 + y1) // 2
            cx = (x0 + x1) // 2
            return [
                (x1 + gap, cy - h // 2),  # right of the marker
                (x0 - gap - w, cy - h // 2),  # left
                (cx - w // 2, y0 - gap - h),  # above
                (cx - w // 2, y1 + gap),  # below
            ]
        return [
            (x0, y0 - h),  # above the box, outside
            (x0, y0),  # inside, top-left
            (x0, y1),  # below the box, outside
            (x0, y1 - h),  # inside, bottom-left
        ]


class Chips:
    """Collects chip stacks for one image, then places and pastes them."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        size: int,
        font: FontLike | None = None,
    ) -> None:
        self.width = width
        self.height = height
        self.size = size
        self.font = font
        self._stacks: dict[tuple[str, Rect], ChipStack] = {}
        self._fonts: dict[str, LoadedFont] = {}
        self._patches: dict[tuple[str, RGB], npt.NDArray[np.uint8]] = {}

    def _patch(self, text: str, color: RGB) -> npt.NDArray[np.uint8]:
        key = (text, color)
        patch = self._patches.get(key)
        if patch is None:
            font = self._fonts.get(text)
            if font is None:
                font = font_for_text(text, self.size, self.font)
                self._fonts[text] = font
            patch = render_chip(text, color, font, self.size)
            self._patches[key] = patch
        return patch

    def add(self, text: str, color: RGB, anchor: Rect, kind: str) -> None:
        """Add a chip at ``anchor`` (a box, or the square around a point marker).
        Identical text at the same anchor is kept once; other texts are stacked."""
        if not text:
            return
        key = (kind, anchor)
        stack = self._stacks.get(key)
        if stack is None:
            stack = ChipStack([], anchor, kind)
            self._stacks[key] = stack
        if text in stack.texts:
            return
        stack.texts.append(text)
        stack.patches.append(self._patch(text, color))

    def __len__(self) -> int:
        return sum(len(s.patches) for s in self._stacks.values())

    def _clamp(self, x: int, y: int, w: int, h: int) -> tuple[int, int]:
        x = min(max(x, 0), max(self.width - w, 0))
        y = min(max(y, 0), max(self.height - h, 0))
        return x, y

    def place(self, gap: int = 2) -> list[tuple[ChipStack, int, int]]:
        """Top-left corner of every stack, in insertion order.

        A stack goes to its first candidate that fits in the image as it is and covers
        neither a stack placed before it nor a point marker; failing that, to the first
        candidate (moved into the image) that covers nothing; failing that, to its first
        candidate moved into the image.
        """
        markers = [s.anchor for s in self._stacks.values() if s.kind == "point"]
        taken = np.zeros((len(markers) + len(self._stacks), 4), dtype=np.int64)
        taken[: len(markers)] = np.array(markers, dtype=np.int64).reshape(-1, 4)
        count = len(markers)
        out: list[tuple[ChipStack, int, int]] = []
        for stack in self._stacks.values():
            w, h = stack.size
            raw = stack.candidates(gap)
            clamped = [self._clamp(x, y, w, h) for x, y in raw]
            fits = [r == c for r, c in zip(raw, clamped, strict=True)]
            before = taken[:count]
            free = [
                not (
                    (before[:, 0] < x + w)
                    & (x < before[:, 2])
                    & (before[:, 1] < y + h)
                    & (y < before[:, 3])
                ).any()
                for x, y in clamped
            ]
            ranked = [k for k in range(len(raw)) if fits[k] and free[k]]
            ranked += [k for k in range(len(raw)) if free[k]]
            x, y = clamped[ranked[0] if ranked else 0]
            taken[count] = (x, y, x + w, y + h)
            count += 1
            out.append((stack, x, y))
        return out

    def paste(self, image: npt.NDArray[np.uint8], gap: int = 2, *, bgr: bool = False) -> None:
        """Place every stack and paste it into ``image`` (``(H, W, 3)``, in place;
        ``bgr=True`` when the image is in BGR order). Stacks added later are on top."""
        for stack, x, y in self.place(gap):
            for patch in stack.patches:
                _paste(image, patch[:, :, ::-1] if bgr else patch, x, y)
                y += patch.shape[0]


def _paste(image: npt.NDArray[np.uint8], patch: npt.NDArray[np.uint8], x: int, y: int) -> None:
    h, w = patch.shape[:2]
    H, W = image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    image[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def chip_texts(
    labels: Sequence[str], scores: Sequence[float] | npt.NDArray[np.float64] | None
) -> list[str]:
    """``"cup"`` or ``"cup 93%"`` per item (scores outside 0-1 print as ``"cup 1.70"``)."""
    out = []
    for i, label in enumerate(labels):
        score = None if scores is None else float(scores[i])
        if score is None or not math.isfinite(score):
            out.append(label)
        elif not label:
            out.append(f"{round(score * 100)}%" if 0.0 <= score <= 1.0 else f"{score:.2f}")
        elif 0.0 <= score <= 1.0:
            out.append(f"{label} {round(score * 100)}%")
        else:
            out.append(f"{label} {score:.2f}")
    return out
