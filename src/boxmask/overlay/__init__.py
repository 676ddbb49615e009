"""Overlays: masks, outlines, boxes, points and label chips drawn on images.

- :func:`draw` → a new ``(H, W, 3)`` uint8 RGB array (BGR with ``channels="BGR"``);
  :func:`render` → the same as an :class:`Overlay`, which also says which labels could
  not be shown and which characters no font could draw;
- :func:`save_overlay` / :func:`overlay_bytes` / :func:`encode_overlay` → the picture as
  a file or bytes (JPEG by default, fast PNG on request);
- :class:`Palette`, :func:`label_palette`, :func:`color_for_label`,
  :data:`DEFAULT_PALETTE` → the colours;
- :func:`grid` → several images side by side;
- :func:`missing_glyph_warning`, :func:`take_missing_glyphs` → one font warning per run.

``boxmask.draw`` (the top-level name) is the :func:`draw` function; this package is
``boxmask.overlay``.
"""

from __future__ import annotations

from boxmask.overlay.encode import DEFAULT_SUFFIX, encode_overlay, overlay_bytes, save_overlay
from boxmask.overlay.fonts import missing_glyph_warning, missing_glyphs, take_missing_glyphs
from boxmask.overlay.grid import grid
from boxmask.overlay.palette import (
    DEFAULT_PALETTE,
    Palette,
    color_for_label,
    label_palette,
    parse_color,
)
from boxmask.overlay.render import Overlay, default_thickness, draw, render

__all__ = [
    "DEFAULT_PALETTE",
    "DEFAULT_SUFFIX",
    "Overlay",
    "Palette",
    "color_for_label",
    "default_thickness",
    "draw",
    "encode_overlay",
    "grid",
    "label_palette",
    "missing_glyph_warning",
    "missing_glyphs",
    "overlay_bytes",
    "parse_color",
    "render",
    "save_overlay",
    "take_missing_glyphs",
]
