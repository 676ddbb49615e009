"""Colours: a designed palette, distinct per picture and stable across a dataset.

:data:`DEFAULT_PALETTE` holds 64 colours chosen by farthest-point sampling in CIELAB
(CIEDE2000) among mid-to-bright sRGB colours (L* 45-90, chroma >= 20, so they show on
dark photos as well as light ones): every pair is at least ΔE2000 11 (ΔE76 13) apart, and
the first colours are the farthest apart (the first 8 are >= 31, the first 30 >= 15).

How a label gets its colour (:class:`Palette`):

- a label the palette was built with (``Palette(labels)``, the run's known label set)
  has one fixed colour: the known labels, sorted, take the palette colours in order, so
  up to 64 labels all differ and the assignment depends on the *set* only;
- any other label starts from a hash slot (BLAKE2b of the UTF-8 text, not Python's
  per-process ``hash``), the same in every process; when that colour is already used
  in the same picture, it takes the next free one. So labels of one picture always get
  distinct colours (up to 64), and a label keeps its colour in every picture where it
  does not collide.

A :class:`Palette` is a small frozen, picklable object: build it once for a run and
send it to the worker processes, and every overlay of the run agrees.
``palette={"cup": "#ff0000"}`` pins colours by hand.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_PALETTE",
    "RGB",
    "ColorLike",
    "Palette",
    "PaletteLike",
    "as_palette",
    "color_for_label",
    "delta_e",
    "lab_to_rgb",
    "label_palette",
    "outline_color_for",
    "parse_color",
    "text_color_for",
    "to_lab",
]

RGB = tuple[int, int, int]
#: A colour: ``"#rrggbb"`` / ``"#rgb"`` hex, or an ``(r, g, b)`` tuple of 0-255 ints.
ColorLike = str | Sequence[int]

# fmt: off
#: 64 colours, farthest-point order (see the module docstring).
DEFAULT_PALETTE: tuple[RGB, ...] = (
    (232, 40, 40), (0, 248, 0), (0, 176, 240), (248, 208, 248), (128, 112, 0),
    (160, 16, 248), (248, 216, 168), (0, 152, 120), (104, 248, 240), (160, 112, 136),
    (24, 104, 208), (248, 128, 0), (160, 144, 240), (248, 152, 144), (176, 184, 0),
    (8, 120, 136), (168, 200, 160), (248, 80, 224), (152, 112, 88), (48, 128, 0),
    (240, 0, 112), (168, 152, 112), (240, 176, 0), (0, 176, 184), (56, 184, 80),
    (192, 208, 248), (48, 248, 176), (120, 104, 168), (232, 144, 184), (96, 120, 88),
    (192, 48, 160), (176, 112, 0), (160, 224, 248), (80, 144, 248), (224, 232, 144),
    (184, 80, 16), (128, 152, 72), (168, 80, 88), (216, 160, 120), (248, 224, 0),
    (248, 112, 72), (176, 144, 8), (184, 160, 200), (0, 200, 168), (112, 104, 248),
    (248, 200, 184), (232, 152, 248), (216, 104, 104), (184, 240, 0), (88, 144, 168),
    (176, 120, 192), (40, 120, 104), (152, 216, 112), (184, 136, 128), (120, 160, 128),
    (136, 136, 176), (184, 88, 248), (208, 184, 104), (136, 200, 192), (128, 120, 80),
    (168, 240, 208), (216, 96, 160), (136, 184, 248), (0, 128, 72),
)
# fmt: on


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


@dataclass(frozen=True)
class Palette:
    """Label → colour for a whole run (see the module docstring); frozen and picklable.

    ``labels``: the run's known labels (order does not matter); ``colors``: the colours
    to use (default :data:`DEFAULT_PALETTE`); ``fixed``: ``{label: colour}`` pins.
    """

    labels: Iterable[str] = ()
    colors: Sequence[ColorLike] | None = None
    fixed: Mapping[str, ColorLike] | None = None
    _colors: tuple[RGB, ...] = field(init=False, repr=False, compare=False)
    _known: dict[str, RGB] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        colors = tuple(parse_color(c) for c in self.colors) if self.colors is not None else None
        if colors is not None and not colors:
            raise ValueError("palette must hold at least one colour")
        own = colors or DEFAULT_PALETTE
        known = {str(k): parse_color(v) for k, v in (self.fixed or {}).items()}
        free = [c for c in own if c not in known.values()] or list(own)
        for k, label in enumerate(sorted({str(x) for x in self.labels} - known.keys())):
            known[label] = free[k % len(free)]
        object.__setattr__(self, "labels", tuple(sorted({str(x) for x in self.labels})))
        object.__setattr__(self, "fixed", dict(self.fixed) if self.fixed else None)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "_colors", own)
        object.__setattr__(self, "_known", known)

    def __getitem__(self, label: str) -> RGB:
        """The colour of ``label`` alone (its fixed colour, or its hash slot)."""
        known = self._known.get(label)
        return known if known is not None else self._colors[_hash_index(label, len(self._colors))]

    def mapping(self) -> dict[str, RGB]:
        """``{label: colour}`` for the known and pinned labels."""
        return dict(self._known)

    def colors_for(self, labels: Sequence[str]) -> list[RGB]:
        """One colour per item for the labels of one picture: known labels keep theirs,
        other labels take their hash slot or, when a label of this picture already has
        that colour, the next free one (result depends on the set of labels only)."""
        chosen = {label: self._known[label] for label in labels if label in self._known}
        used = set(chosen.values())
        n = len(self._colors)
        others = sorted(set(labels) - chosen.keys(), key=lambda x: (_hash_index(x, n), x))
        for label in others:
            if len(used) >= n:
                used.clear()  # more labels than colours: start a second round
            slot = _hash_index(label, n)
            while self._colors[slot] in used:
                slot = (slot + 1) % n
            chosen[label] = self._colors[slot]
            used.add(self._colors[slot])
        return [chosen[label] for label in labels]


#: ``None`` (the default palette), a :class:`Palette`, a list of colours (labels hash
#: into it), or a mapping ``label → colour`` (other labels use the default palette).
PaletteLike = Palette | Sequence[ColorLike] | Mapping[str, ColorLike] | None

_DEFAULT = Palette()


def as_palette(palette: PaletteLike) -> Palette:
    """Any :data:`PaletteLike` as a :class:`Palette`."""
    if palette is None:
        return _DEFAULT
    if isinstance(palette, Palette):
        return palette
    if isinstance(palette, Mapping):
        return Palette(fixed=palette)
    if isinstance(palette, str) or not len(palette):
        raise ValueError("palette must be a non-empty list of colours or a label → colour mapping")
    return Palette(colors=palette)


def color_for_label(label: str, palette: PaletteLike = None) -> RGB:
    """The RGB colour of ``label`` on its own: stable across images, runs and processes."""
    return as_palette(palette)[label]


def label_palette(
    labels: Iterable[str], palette: Sequence[ColorLike] | None = None
) -> dict[str, RGB]:
    """Distinct colours for a known set of labels: ``{label: (r, g, b)}`` for ``draw(...,
    palette=...)`` (the mapping of ``Palette(labels, colors=palette)``; depends on the
    set of labels only). Colours repeat only when there are more labels than colours."""
    return Palette(labels, colors=palette).mapping()


# ------------------------------------------------------------------ perceptual helpers
# sRGB (D65) -> XYZ and the D65 white point, as OpenCV's cvtColor uses them. The
# conversions are written out in numpy: OpenCV's float Lab tables cost 175 ms on first
# use, paid by every batch worker for its first overlay (a few colours are converted).
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.950456, 1.0, 1.088754])
_EPSILON = 0.008856  # (6/29)**3: below it CIELAB's cube root turns linear
_KAPPA = 903.3


def to_lab(colors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """sRGB 0-255 colours ``(..., 3)`` → CIELAB (D65), L* 0-100."""
    rgb = np.asarray(colors, dtype=np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    y = xyz[..., 1]
    lightness = np.where(y > _EPSILON, 116 * f[..., 1] - 16, _KAPPA * y)
    a, b = 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def lab_to_rgb(lab: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CIELAB (D65) ``(..., 3)`` → sRGB 0-1 (clipped to the gamut), :func:`to_lab`'s inverse."""
    values = np.asarray(lab, dtype=np.float64)
    lightness, a, b = values[..., 0], values[..., 1], values[..., 2]
    dark = lightness <= _KAPPA * _EPSILON
    y = np.where(dark, lightness / _KAPPA, ((lightness + 16) / 116) ** 3)
    fy = np.where(dark, 7.787 * y + 16 / 116, (lightness + 16) / 116)

    def inverse(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(f**3 > _EPSILON, f**3, (f - 16 / 116) / 7.787)

    xyz = np.stack([inverse(fy + a / 500), y, inverse(fy - b / 200)], axis=-1) * _WHITE
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def delta_e(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """CIEDE2000 colour difference of CIELAB colours (broadcasting ``(..., 3)`` arrays)."""
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    l2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    zero = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(zero, 0.0, dh)
    d_hp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) > 180, np.where(h_sum < 360, h_sum + 360, h_sum - 360), h_sum
    )
    h_mean = np.where(zero, h_sum, h_mean / 2)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    sl = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    sc = 1 + 0.045 * cp_mean
    sh = 1 + 0.015 * cp_mean * t
    rt = -np.sin(np.radians(2 * rotation)) * rc
    dl, dc, dhh = (l2 - l1) / sl, (c2p - c1p) / sc, d_hp / sh
    out: npt.NDArray[np.float64] = np.sqrt(dl**2 + dc**2 + dhh**2 + rt * dc * dhh)
    return out


def _luminance(color: RGB) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    lin = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in color]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


_DARK: RGB = (20, 20, 20)
_LIGHT: RGB = (255, 255, 255)


def text_color_for(background: RGB) -> RGB:
    """Near-black or white, whichever has the higher WCAG contrast ratio on
    ``background`` (at least 4.3:1 for every colour of the default palette)."""
    lum = _luminance(background)
    on_dark = (1.05) / (lum + 0.05)
    on_light = (lum + 0.05) / (_luminance(_DARK) + 0.05)
    return _LIGHT if on_dark > on_light else _DARK


def outline_color_for(color: RGB) -> RGB:
    """The mask outline colour for fill ``color``: the same hue, 35 L* darker (lighter
    for dark colours), so the outline shows on the fill at any opacity."""
    r, g, b = (int(v) for v in color)
    return _outline_color(r, g, b)


@functools.lru_cache(maxsize=4096)
def _outline_color(r: int, g: int, b: int) -> RGB:
    # Cached: the Lab round trip costs ~70 µs, otherwise paid for every mask of every
    # overlay in a batch (0.4 ms of a 600x400 overlay's ~3 ms).
    lab = to_lab(np.array((r, g, b), dtype=np.float64))
    lab[0] = lab[0] - 35 if lab[0] >= 50 else lab[0] + 35
    rgb = lab_to_rgb(lab)
    r2, g2, b2 = (int(v) for v in np.clip(np.rint(rgb * 255), 0, 255))
    return (r2, g2, b2)
