"""Reading the fields of one answer item: numbers, pairs, polygons, labels, masks.

Each reader takes the raw JSON value and returns either the value in model order and
model units (no scaling to pixels, see :mod:`boxmask.boxes`) or a one-line reason
string that becomes a :class:`~boxmask.Problem`. Nothing here raises for bad input.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "LABEL_KEYS",
    "MASK_OBJECT_KEYS",
    "SHOW",
    "mask_object_payload",
    "number",
    "numbers",
    "pair",
    "point_list",
    "polygon_rings",
]

#: Keys read as the item's label, in order of preference.
LABEL_KEYS = ("label", "name", "class", "class_name", "category", "text")
#: Keys of a mask object that hold base64 PNG text (``{"data": ...}``, ...).
MASK_OBJECT_KEYS = ("data", "base64", "png", "b64", "image")
#: Keys of a mask object that hold polygon rings (``{"polygon": [[x, y], ...]}``).
POLYGON_OBJECT_KEYS = ("polygon", "polygons", "points", "vertices", "contour", "contours")
#: Short, bounded reprs of model values in problem messages and converted labels: a
#: label nested 5,000 levels deep or a 10 MB "number" must neither overflow the stack
#: nor be copied into every message.
SHOW = reprlib.Repr()
SHOW.maxlevel, SHOW.maxstring, SHOW.maxother, SHOW.maxlong = 3, 60, 60, 40
SHOW.maxlist = SHOW.maxtuple = SHOW.maxdict = SHOW.maxset = 8


def number(value: Any) -> tuple[float, bool] | None:
    """A finite float from a JSON number or numeric string; ``(value, was_string)``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            f = float(value)
        except OverflowError:  # an int of thousands of digits
            return None
        return (f, False) if math.isfinite(f) else None
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return (f, True) if math.isfinite(f) else None
    return None


def numbers(value: Any, count: int) -> tuple[list[float], bool] | str:
    """``count`` finite numbers, or a reason string; ``(values, some_were_strings)``."""
    if not isinstance(value, (list, tuple)):
        return f"expected a list of {count} numbers, got {type(value).__name__}"
    if len(value) != count:
        return f"expected {count} numbers, got {len(value)}"
    out: list[float] = []
    coerced = False
    for v in value:
        num = number(v)
        if num is None:
            return f"value {SHOW.repr(v)} is not a finite number"
        out.append(num[0])
        coerced |= num[1]
    return out, coerced


def pair(value: Any, first: str = "y", second: str = "x") -> tuple[list[float], bool] | str:
    """Two numbers from ``[a, b]`` or an object ``{"x": .., "y": ..}``, returned in the
    order ``(first, second)`` (the model order of a list, e.g. ``[y, x]`` for Gemini
    points). Returns a reason string when neither form fits."""
    if isinstance(value, dict):
        keys = {str(k).lower(): k for k in value}
        if first in keys and second in keys:
            return numbers([value[keys[first]], value[keys[second]]], 2)
        return f"object point needs {first!r} and {second!r} keys, got {_keys(value)}"
    return numbers(value, 2)


def _keys(value: dict[Any, Any]) -> str:
    return ", ".join(sorted(map(str, value))[:6]) or "none"


def point_list(value: Any, first: str = "y", second: str = "x") -> npt.NDArray[np.float64] | str:
    """An item-level ``points`` list: ``[[y, x], ...]`` or ``[{"x", "y"}, ...]`` →
    ``(K, 2)`` float64 in model order ``(first, second)``; a reason string if malformed."""
    if not isinstance(value, (list, tuple)):
        return f"expected a list of points, got {type(value).__name__}"
    if not value:
        return "points list is empty"
    out = np.empty((len(value), 2), dtype=np.float64)
    for k, p in enumerate(value):
        result = pair(p, first, second)
        if isinstance(result, str):
            return f"point {k}: {result}"
        out[k] = result[0]
    return out


def _vertex_array(ring: Any) -> npt.NDArray[np.float64] | str:
    """One ring ``[[x, y], ...]`` or ``[{"x", "y"}, ...]`` → ``(K, 2)`` float64 x-first."""
    if not isinstance(ring, (list, tuple)):
        return "polygon ring is not a list of points"
    if ring and isinstance(ring[0], dict):
        result = point_list(ring, "x", "y")
        return result if not isinstance(result, str) else f"polygon {result}"
    try:
        arr = np.array(ring, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 2 or _has_bool(ring):
        return "polygon points must be [x, y] pairs of numbers"
    return arr


def _has_bool(ring: Any) -> bool:
    return any(type(v) is bool for p in ring if isinstance(p, (list, tuple)) for v in p)


def polygon_rings(value: list[Any]) -> list[npt.NDArray[np.float64]] | str:
    """Polygon mask in 0–1000 ``[x, y]`` pairs (one ring, several rings, flat numbers, or
    ``{"x", "y"}`` vertices) → rings of ``(K, 2)`` float64, x first; or a reason."""
    if not value:
        return "polygon mask is empty"
    first = value[0]
    rings: list[Any]
    if isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple, dict)):
        rings = value
    elif isinstance(first, (list, tuple, dict)):
        rings = [value]
    else:
        if len(value) % 2:
            return "flat polygon has an odd number of coordinates"
        rings = [[value[i : i + 2] for i in range(0, len(value), 2)]]
    parts = []
    for ring in rings:
        arr = _vertex_array(ring)
        if isinstance(arr, str):
            return arr
        if not np.isfinite(arr).all():
            return "polygon has NaN or infinite coordinates"
        if len(arr) < 3:
            return f"polygon ring has {len(arr)} point(s); at least 3 are needed"
        parts.append(arr)
    return parts


def mask_object_payload(value: dict[Any, Any]) -> str | list[Any] | None:
    """The PNG text or polygon list inside a mask object, or None when there is none.

    Knows ``{"inline_data"|"inlineData": {"data", "mime_type"}}`` (the API's own blob
    shape), ``{"data"|"base64"|"png"|"b64"|"image": "..."}`` and
    ``{"polygon"|"points"|"vertices"|...: [...]}``.
    """
    lowered = {str(k).lower(): v for k, v in value.items()}
    for key in ("inline_data", "inlinedata"):
        inner = lowered.get(key)
        if isinstance(inner, dict):
            return mask_object_payload(inner)
    for key in MASK_OBJECT_KEYS:
        if isinstance(lowered.get(key), str):
            return str(lowered[key])
    for key in POLYGON_OBJECT_KEYS:
        if isinstance(lowered.get(key), list):
            return list(lowered[key])
    return None
