"""Keep freed memory in the process for reuse, for loops that allocate picture buffers.

Drawing an overlay allocates a few picture-sized buffers (the decoded photo, the
canvas, the blend, the encoder's output) and frees them before the next answer. With
glibc's default settings each of them comes back as fresh pages from the kernel:
buffers above the mmap threshold are mapped and unmapped, and the heap is trimmed as
soon as its free top passes twice that threshold. A batch of 600×400 overlays took
~580 minor page faults per answer, ~1.5 ms of the ~6 ms an overlay added per answer
on the project's 2-core VM (``bench_overlay.py --batch``; 35,000 faults for 60 answers,
34 with the settings below).

:func:`keep_freed_memory` raises both thresholds once per process: allocations up to
32 MiB come from the heap, and up to 64 MiB of freed heap stays mapped for the next
answer. The price is that much resident memory kept after a peak. It is a no-op where
the C library has no ``mallopt`` (macOS, Windows) or ignores it (musl).
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory"]

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations up to this size come from the heap (glibc's maximum on 64-bit).
MMAP_THRESHOLD = 32 * 2**20
#: Freed heap kept mapped before it is returned to the kernel.
TRIM_THRESHOLD = 64 * 2**20

#: What the one attempt gave (None: not tried yet); every later call returns it.
_outcome: bool | None = None


def keep_freed_memory() -> bool:
    """Tune this process's ``malloc`` as the module docstring says, once: True when the
    C library took the settings, False where it has no ``mallopt`` or refused them."""
    global _outcome
    if _outcome is None:
        _outcome = sys.platform.startswith("linux") and _set_thresholds()
    return _outcome


def _set_thresholds() -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    # C ints in and out (ctypes' default); 1 is success. Setting either threshold turns
    # off glibc's dynamic ones.
    took = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and took
