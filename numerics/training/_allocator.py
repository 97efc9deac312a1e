"""Keep freed memory in the process: the trainers' temporaries then cost no page faults.

A training step allocates some thirty temporaries of 0.1-2 MB (activations of all
sweep points at once) and frees them again.  glibc's malloc serves blocks above its
mmap threshold with fresh pages from the kernel, and gives the top of the heap back
when more than its trim threshold is free; either way the next step's temporaries
land on new pages, which the kernel zeroes at their first touch.  Measured on the
2-core development machine (glibc 2.36): one ``train_mlp.loss_and_grads`` step with
P = 24, B = 512, widths 32, float32 took 20.4 ms, and 9.6 ms with both thresholds
raised; the whole ``follow_up_protocol()`` took 53.3 s and 45.5 s, with identical
results (its anchor phase, one run at a time, has small arrays and gains nothing).

:func:`keep_freed_memory` raises both thresholds to 1 GiB with ``mallopt`` (glibc
only; elsewhere it does nothing).  It is process-wide and permanent: memory freed by
the process is reused by it rather than returned to the system, which is what a
long numerical run wants, but not something a library should decide for its caller.
So the command line calls it (``numerics.app.cli.main`` and the report's worker
process); library users may call it themselves.  A sweep on a Dask cluster does on its
workers what the calling process did (:func:`freed_memory_kept`): a Dask worker even
trims at 64 KiB (``MALLOC_TRIM_THRESHOLD_``), and there the MLP sweep of ``python -m
benchmarks sweep-dask --quick`` took 4.3 instead of 2.1 s.  ``VAE_COLLAPSE_MALLOC=default``
leaves malloc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap, and this much free heap is kept.
THRESHOLD = 1 << 30


@cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True if it was done."""
    if os.environ.get("VAE_COLLAPSE_MALLOC", "").lower() == "default":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has raised the thresholds in this process."""
    return keep_freed_memory.cache_info().currsize > 0 and keep_freed_memory()
