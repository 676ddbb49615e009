"""Label chips: text on a filled background, rendered small and pasted, kept in the image.

Each chip is rendered once with Pillow into a patch the size of the chip and pasted into
the numpy image, so no full-frame conversion to PIL happens. Chips that belong to the
same anchor (one box, or one point) form a vertical stack: the same label twice is one
chip, different labels are stacked. Stacks are placed by :mod:`boxmask.overlay.layout`
(never on top of each other, never outside the image); a stack that had to move away
from its anchor is joined to it by a thin leader line.

A label costs bounded work whatever its length: it is cut to what can fit before any
font lookup, then elided with "…" to the chip width limit, which scales with the image
(:func:`max_text_width`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from boxmask.overlay.fonts import FontLike, LoadedFont, drawable_text, font_for_text, missing_chars
from boxmask.overlay.layout import Layout, Rect, leader_line
from boxmask.overlay.palette import RGB, text_color_for

__all__ = [
    "ChipStack",
    "Chips",
    "chip_texts",
    "default_text_size",
    "fit_text",
    "max_text_width",
    "render_chip",
]

ELLIPSIS = "…"
_SCORE = re.compile(r"\d{1,3}%|-?\d+\.\d\d")  # what chip_texts appends

# Rendered chips, shared by every image of this process (labels repeat over a dataset):
# (text, colour, size, width limit, font) → (patch, characters no font had). Read only.
_RENDERED: dict[tuple[object, ...], tuple[npt.NDArray[np.uint8], str]] = {}
_RENDERED_MAX = 2048


def default_text_size(width: int, height: int) -> int:
    """Text em size in pixels for a ``width × height`` image: ~14 px at 600×400, ~31 px
    at 1920×1080, ~68 px at 4032×3024 — about the same size once the image is shown
    fitted to a screen."""
    return max(12, round(0.018 * math.sqrt(width * height) + 5))


def max_text_width(width: int, size: int) -> int:
    """Widest label text in pixels on a ``width``-pixel-wide image: 40 % of the width
    (at least 6 em), never wider than the image less the chip padding."""
    return max(1, min(max(round(0.4 * width), 6 * size), width - 2 * _pad(size)[0]))


def _pad(size: int) -> tuple[int, int]:
    return max(2, round(size * 0.3)), max(1, round(size * 0.15))


def _text_width(font: LoadedFont, text: str) -> float:
    if isinstance(font, ImageFont.FreeTypeFont):
        return float(font.getlength(text))
    return float(font.getbbox(text)[2])


def fit_text(text: str, font: LoadedFont, max_width: int) -> str:
    """``text`` if it fits in ``max_width`` pixels, else its longest prefix that fits
    with "…" appended (cut at a space when one is near the end); a trailing score
    ("93%") is kept after the "…"."""
    text = drawable_text(font, text)
    if _text_width(font, text) <= max_width:
        return text
    mark = ELLIPSIS if not missing_chars(font, ELLIPSIS) else "..."
    mark = drawable_text(font, mark)
    head, sep, tail = text.rpartition(" ")
    if sep and _SCORE.fullmatch(tail) and head:  # "long label 93%": keep the score
        mark = mark + " " + tail
        text = head
    low, high = 0, len(text)  # longest prefix length that fits, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if _text_width(font, text[:mid].rstrip() + mark) <= max_width:
            low = mid
        else:
            high = mid - 1
    prefix = text[:low]
    space = prefix.rfind(" ")
    if space >= max(1, int(0.7 * low)):
        prefix = prefix[:space]
    return prefix.rstrip() + mark


def render_chip(text: str, background: RGB, font: LoadedFont, size: int) -> npt.NDArray[np.uint8]:
    """``(h, w, 3)`` uint8 patch: ``text`` in white or near-black on ``background``."""
    text = drawable_text(font, text)
    pad_x, pad_y = _pad(size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, _, right, bottom = probe.textbbox((0, 0), text, font=font)
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        text_h = ascent + descent
        text_w = max(math.ceil(font.getlength(text)), int(right))
    else:
        text_h = int(bottom)
        text_w = int(right)
    shift_x = -min(0, int(left))
    width = text_w + shift_x + 2 * pad_x
    height = int(text_h) + 2 * pad_y
    ink = Image.new("L", (width, height))
    ImageDraw.Draw(ink).text((pad_x + shift_x, pad_y), text, font=font, fill=255)
    alpha = np.asarray(ink, dtype=np.uint16)[:, :, None]
    bg = np.array(background, dtype=np.uint16)
    fg = np.array(text_color_for(background), dtype=np.uint16)
    patch = (bg * (255 - alpha) + fg * alpha + 127) // 255
    return patch.astype(np.uint8)


@dataclass
class ChipStack:
    """Chips drawn together at one anchor, stacked top to bottom."""

    patches: list[npt.NDArray[np.uint8]]
    anchor: Rect
    kind: str  # "box" or "point"
    color: RGB = (0, 0, 0)
    texts: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (
            max(p.shape[1] for p in self.patches),
            sum(p.shape[0] for p in self.patches),
        )


class Chips:
    """Collects chip stacks for one image, then places and pastes them.

    After :meth:`paste`, ``hidden`` lists the texts that found no free place and
    ``missing`` the characters no font could draw.
    """

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
        self.text_width = max_text_width(width, size)
        # No glyph is narrower than ~0.15 em: longer texts cannot fit, cut them first.
        self.max_chars = math.ceil(self.text_width / max(1.0, 0.15 * size)) + 1
        self.hidden: list[str] = []
        self.missing = ""
        self._stacks: dict[tuple[str, Rect], ChipStack] = {}
        self._patches: dict[tuple[str, RGB], npt.NDArray[np.uint8]] = {}

    def _patch(self, text: str, color: RGB) -> npt.NDArray[np.uint8]:
        key = (text, color)
        patch = self._patches.get(key)
        if patch is None:
            font_key = self.font if isinstance(self.font, (str, type(None))) else id(self.font)
            shared = (text[: self.max_chars], color, self.size, self.text_width, font_key)
            cached = _RENDERED.get(shared)
            if cached is None:
                short = shared[0]
                font = font_for_text(short, self.size, self.font)
                fitted = fit_text(short, font, self.text_width)
                cached = (render_chip(fitted, color, font, self.size), missing_chars(font, short))
                if len(_RENDERED) >= _RENDERED_MAX:
                    _RENDERED.clear()
                _RENDERED[shared] = cached
            patch, lacking = cached
            self.missing += "".join(c for c in lacking if c not in self.missing)
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
            stack = ChipStack([], anchor, kind, color)
            self._stacks[key] = stack
        if text in stack.texts:
            return
        stack.texts.append(text)
        stack.patches.append(self._patch(text, color))

    def __len__(self) -> int:
        return sum(len(s.patches) for s in self._stacks.values())

    def place(self, gap: int = 2) -> list[tuple[ChipStack, int, int, bool]]:
        """``(stack, x, y, moved)`` for every stack that found a free place, in
        insertion order (see :mod:`boxmask.overlay.layout`); the others go to
        ``hidden``. Point markers count as taken."""
        markers = [s.anchor for s in self._stacks.values() if s.kind == "point"]
        layout = Layout(self.width, self.height, markers)
        out: list[tuple[ChipStack, int, int, bool]] = []
        self.hidden = []
        for stack in self._stacks.values():
            w, h = stack.size
            spot = layout.place(w, h, stack.anchor, stack.kind, gap)
            if spot is None:
                self.hidden.extend(stack.texts)
                continue
            out.append((stack, spot.x, spot.y, spot.moved))
        return out

    def paste(
        self, image: npt.NDArray[np.uint8], gap: int = 2, *, bgr: bool = False, line: int = 1
    ) -> list[Rect]:
        """Place every stack and paste it into ``image`` (``(H, W, 3)``, in place;
        ``bgr=True`` when the image is in BGR order). Leader lines (``line`` pixels wide,
        in the chip colour) are drawn first, so no line crosses a chip. Returns the
        rectangle of every stack pasted."""
        placed = self.place(gap)
        for stack, x, y, moved in placed:
            if moved:
                w, h = stack.size
                start, end = leader_line((x, y, x + w, y + h), stack.anchor)
                color = stack.color[::-1] if bgr else stack.color
                cv2.line(image, start, end, (20, 20, 20), line + 2, cv2.LINE_AA)
                cv2.line(image, start, end, tuple(int(c) for c in color), line, cv2.LINE_AA)
        rects = []
        for stack, x, y, _ in placed:
            w, h = stack.size
            rects.append((x, y, x + w, y + h))
            for patch in stack.patches:
                _paste(image, patch[:, :, ::-1] if bgr else patch, x, y)
                y += patch.shape[0]
        return rects


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
