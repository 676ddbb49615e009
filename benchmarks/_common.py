"""Shared helpers for the benchmarks: timing, machine details, tables."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs, in seconds (one warm-up run first)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    import cv2
    import numpy as np

    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, opencv {cv2.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(cells[0]))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        lines.append(
            "  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(r))
        )
    return "\n".join(lines)


def photo_like(width: int, height: int) -> Any:
    """A smooth, textured ``(height, width, 3)`` uint8 RGB image (so encoders, decoders
    and blends see realistic data; flat synthetic scenes compress unrealistically well)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (max(1, height // 64), max(1, width // 64), 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 16, (height, width, 3), dtype=np.uint8)
    return cv2.add(image, noise)


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int = 5) -> dict[str, float]:
    """Best wall time (seconds) of each function, the runs interleaved (a, b, a, b, ...)
    so that a busy machine slows every contender alike; one warm-up run each first.
    Ratios between the results hold better under load than separate ``best_of`` calls."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
