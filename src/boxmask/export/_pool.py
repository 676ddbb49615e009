"""A small shared thread pool for per-crop work that releases the GIL (OpenCV, numpy).

On the 2-core machines boxmask targets, tracing contours or scanning crops on both cores
halves the wall time of large batches; small batches stay serial (no pool overhead).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_crops"]

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items the work runs in the calling thread.
MIN_PARALLEL_ITEMS = 8
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        workers = max(1, min(8, os.cpu_count() or 1))
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="boxmask-export")
    return _pool


def map_crops(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, in order, spread over the pool for large batches."""
    pool = _executor()
    workers = pool._max_workers
    if len(items) < MIN_PARALLEL_ITEMS or workers == 1:
        return [fn(x) for x in items]
    # Interleaved chunks balance crop sizes; one task per worker keeps overhead low.
    chunks = [items[k::workers] for k in range(workers)]
    done = list(pool.map(lambda chunk: [fn(x) for x in chunk], chunks))
    out: list[R] = [None] * len(items)  # type: ignore[list-item]
    for k, results in enumerate(done):
        out[k::workers] = results
    return out
