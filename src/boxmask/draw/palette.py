"""Colours: a categorical palette and a label → colour mapping that is stable everywhere.

A label's colour comes from a hash of its text (BLAKE2b of the UTF-8 bytes, not Python's
per-process ``hash``), so "cup" has the same colour in every image, every run and every
worker, whatever else the image contains. The price of that stability: with a finite
palette two labels can share a colour (with 18 colours, 4 labels collide ~30 % of the
time). When the label set is known, :func:`label_palette` gives every label its own
colour, the same for any image drawn with it; ``palette={"cup": "#ff0000", ...}`` pins
colours by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_PALETTE",
    "RGB",
    "ColorLike",
    "PaletteLike",
    "color_for_label",
    "label_palette",
    "parse_color",
    "text_color_for",
]

RGB = tuple[int, int, int]
#: A colour: ``"#rrggbb"`` / ``"#rgb"`` hex, or an ``(r, g, b)`` tuple of 0-255 ints.
ColorLike = str | Sequence[int]
#: ``None`` (the default palette), a list of colours (labels hash into it), or a
#: mapping ``label → colour`` (labels it lacks hash into the default palette).
PaletteLike = Sequence[ColorLike] | Mapping[str, ColorLike] | None

#: 18 colours, all mid-to-bright so they show on dark photos as well as light ones, spread
#: over hue and lightness so that a 50 % blend keeps them apart; each carries white or
#: near-black text (:func:`text_color_for`).
DEFAULT_PALETTE: tuple[RGB, ...] = (
    (255, 64, 64),  # red
    (255, 140, 0),  # orange
    (255, 210, 0),  # yellow
    (170, 230, 20),  # lime
    (40, 200, 80),  # green
    (0, 200, 180),  # teal
    (80, 200, 255),  # sky
    (20, 120, 255),  # blue
    (110, 100, 255),  # indigo
    (180, 80, 255),  # purple
    (255, 60, 200),  # magenta
    (255, 150, 200),  # pink
    (255, 150, 120),  # salmon
    (190, 140, 90),  # tan
    (150, 230, 180),  # mint
    (200, 200, 255),  # lavender
    (0, 150, 140),  # sea green
    (130, 160, 40),  # olive
)


def parse_color(value: ColorLike) -> RGB:
    """``"#ff8800"``, ``"#f80"``, ``"ff8800"`` or ``(255, 136, 0)`` → ``(255, 136, 0)``."""
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 3:
            text = "".join(c * 2 for c in text)
        if len(text) != 6:
            raise ValueError(f"colour {value!r} is not '#rrggbb' hex")
        try:
            return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
        except ValueError:
            raise ValueError(f"colour {value!r} is not '#rrggbb' hex") from None
    parts = tuple(int(v) for v in value)
    if len(parts) != 3 or not all(0 <= v <= 255 for v in parts):
        raise ValueError(f"colour {value!r} must be three 0-255 values (r, g, b)")
    return (parts[0], parts[1], parts[2])


def _hash_index(label: str, n: int) -> int:
    digest = hashlib.blake2b(label.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def color_for_label(label: str, palette: PaletteLike = None) -> RGB:
    """The RGB colour of ``label``: stable across images, runs and processes."""
    if isinstance(palette, Mapping):
        if label in palette:
            return parse_color(palette[label])
        return DEFAULT_PALETTE[_hash_index(label, len(DEFAULT_PALETTE))]
    if palette is None:
        return DEFAULT_PALETTE[_hash_index(label, len(DEFAULT_PALETTE))]
    if isinstance(palette, str) or not len(palette):
        raise ValueError("palette must be a non-empty list of colours or a label → colour mapping")
    return parse_color(palette[_hash_index(label, len(palette))])


def label_palette(
    labels: Iterable[str], palette: Sequence[ColorLike] | None = None
) -> dict[str, RGB]:
    """Distinct colours for a known set of labels: ``{label: (r, g, b)}`` for ``draw(...,
    palette=...)``.

    Each label starts from its hash slot (the colour :func:`color_for_label` gives it);
    when two labels want the same slot, the one later in (slot, label) order takes the
    next free one. The result depends on the *set* of labels only, not on their order,
    so pass the dataset's full label list to get the same colours in every image.
    Colours repeat only when there are more labels than colours.
    """
    colors = [parse_color(c) for c in palette] if palette is not None else list(DEFAULT_PALETTE)
    if not colors:
        raise ValueError("palette must hold at least one colour")
    n = len(colors)
    wanted = sorted({str(label) for label in labels}, key=lambda x: (_hash_index(x, n), x))
    out: dict[str, RGB] = {}
    taken: set[int] = set()
    for label in wanted:
        if len(taken) == n:
            taken.clear()  # more labels than colours: start a second round
        slot = _hash_index(label, n)
        while slot in taken:
            slot = (slot + 1) % n
        taken.add(slot)
        out[label] = colors[slot]
    return out


def text_color_for(background: RGB) -> RGB:
    """Near-black on light backgrounds, white on dark ones (perceived luminance)."""
    r, g, b = background
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return (20, 20, 20) if luminance > 150 else (255, 255, 255)
