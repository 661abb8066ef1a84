"""Keep a large run's long-lived objects out of the garbage collector's full passes.

A 10,000-node Blueprint, its validation and its plan are hundreds of thousands of objects that
live as long as the run; CPython's full collections rescan them again and again as the run
allocates, so without this a run's cost per node grows with its size. Large runs freeze the
existing heap (``gc.freeze``) while they prepare and run, and the last one to finish unfreezes
it, so nothing is kept from collection for good. The counter is process-wide because the
collector is.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

GC_FREEZE_MIN_STEPS = 1_000
_frozen_runs = 0


@contextlib.contextmanager
def collector_spared(steps: int) -> Iterator[None]:
    """Spare what exists from full collections while a run of ``steps`` nodes is inside."""
    global _frozen_runs
    if steps < GC_FREEZE_MIN_STEPS:
        yield
        return
    if _frozen_runs == 0:
        gc.freeze()
    _frozen_runs += 1
    try:
        yield
    finally:
        _frozen_runs -= 1
        if _frozen_runs == 0:
            gc.unfreeze()
