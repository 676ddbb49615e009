"""Overlays: masks, outlines, boxes, points and label chips drawn on images.

- :func:`draw` → a new ``(H, W, 3)`` uint8 RGB array (BGR with ``channels="BGR"``);
- :func:`save_overlay` → the same, written to a file atomically;
- :func:`grid` → several images side by side;
- :func:`color_for_label`, :data:`DEFAULT_PALETTE` → the colours used;
  :func:`label_palette` → distinct colours for a known label set.

``boxmask.draw`` is both this package and, via ``boxmask.draw(...)``, the function: the
module itself is callable and forwards to :func:`draw`, so ``boxmask.draw(image, d)``
works whichever of the two Python resolved first.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from boxmask.draw.grid import grid
from boxmask.draw.palette import DEFAULT_PALETTE, color_for_label, label_palette, parse_color
from boxmask.draw.render import default_thickness, draw, save_overlay

__all__ = [
    "DEFAULT_PALETTE",
    "color_for_label",
    "default_thickness",
    "draw",
    "grid",
    "label_palette",
    "parse_color",
    "save_overlay",
]


class _CallableModule(types.ModuleType):
    """``import boxmask.draw`` binds the package to ``boxmask.draw``; calling it draws."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return draw(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
