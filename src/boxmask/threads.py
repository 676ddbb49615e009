"""The one thread pool boxmask uses for per-mask work that releases the GIL.

Decoding (zlib, OpenCV resize) and exporting (contours, RLE scans) run per mask; on a
multi-core machine a few threads cut the wall time of a large answer. Batch workers
already run one process per CPU, so they call :func:`set_threads` with 1.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["cpu_count", "map_ordered", "set_threads", "threads", "using"]

T = TypeVar("T")
R = TypeVar("R")

#: Below this many items the work runs in the calling thread (no pool overhead).
MIN_PARALLEL_ITEMS = 8

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads() -> int:
    """Threads in use: set by :func:`set_threads`, else one per CPU (at most 8)."""
    if _threads is not None:
        return _threads
    return min(8, cpu_count())


def set_threads(count: int | None) -> None:
    """Use ``count`` threads for per-mask work (1 = none); None restores the default.

    OpenCV's own threads follow: one when ``count`` is 1.
    """
    global _threads, _pool
    if count is not None and count < 1:
        raise ValueError(f"thread count must be >= 1, got {count}")
    _threads = count
    if _pool is not None:
        _pool.shutdown(wait=False)
        _pool = None
    import cv2

    cv2.setNumThreads(1 if count == 1 else -1)


@contextlib.contextmanager
def using(count: int | None) -> Iterator[None]:
    """Temporarily :func:`set_threads` to ``count``; the previous setting comes back."""
    previous = _threads
    set_threads(count)
    try:
        yield
    finally:
        set_threads(previous)


def _executor() -> ThreadPoolExecutor | None:
    global _pool
    count = threads()
    if count <= 1:
        return None
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="boxmask")
    return _pool


def map_ordered(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` in order, spread over the pool for large batches.

    Items are dealt round-robin into one chunk per thread, which balances mixed crop
    sizes with one task per thread.
    """
    pool = _executor() if len(items) >= MIN_PARALLEL_ITEMS else None
    if pool is None:
        return [fn(x) for x in items]
    count = pool._max_workers
    chunks = [items[k::count] for k in range(count)]
    done = list(pool.map(lambda chunk: [fn(x) for x in chunk], chunks))
    out: list[R] = [None] * len(items)  # type: ignore[list-item]
    for k, results in enumerate(done):
        out[k::count] = results
    return out


def _forget_pool_after_fork() -> None:
    # A forked child inherits the pool object but not its threads.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
