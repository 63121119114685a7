"""The C allocator's settings for a process that allocates and frees big tensors all the time.

glibc serves an allocation of 128 KiB or more with a fresh mmap and unmaps it on free, so every
big tensor pays a page fault per 4 KiB page (an 8 MB float64 array: about 2,000 faults) each
time, which is most of the cost of a binary request. Keeping freed memory in the
allocator's arenas for reuse avoids that. The price is resident memory: each arena may keep up
to `keep_bytes` of free memory instead of returning it to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc refuses more on 64-bit systems


def keep_freed_memory(keep_bytes: int) -> bool:
    """Serve allocations up to 32 MiB from the arenas and trim an arena only beyond
    `keep_bytes` of free memory. False where the C library has no mallopt (musl, macOS) or
    `keep_bytes` is 0 (the allocator's defaults stay)."""
    if keep_bytes <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    threshold = min(MMAP_THRESHOLD_MAX, keep_bytes // 2)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, min(keep_bytes, 2**31 - 1))
    )
