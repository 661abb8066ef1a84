"""Keep a large run's long-lived objects out of the garbage collector's passes.

A 10,000-node Blueprint, its validation and its plan are hundreds of thousands of objects that
live as long as the run, and a run allocates a few more per node (records, events, inputs),
almost none of them in reference cycles. CPython starts a young collection every 700 new
container objects and, every hundred of those, a full one that rescans all that lives; so
without this a run's cost per node grows with its size, and a young collection mostly walks
objects that reference counting frees moments later (queued events, a node's inputs). Large
runs therefore freeze the existing heap (``gc.freeze``) and collect young objects every
``YOUNG_THRESHOLD`` allocations instead of 700 while they prepare and run (measured on a
10,000-node run: the collector's share fell from about 2.5 µs a node at 50,000 to under 1 µs);
the last one to finish unfreezes the heap and puts the thresholds back, so nothing is kept from
collection for good, and cyclic garbage is still collected meanwhile, bounded by the threshold.
The counter is process-wide because the collector is.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

GC_FREEZE_MIN_STEPS = 1_000
YOUNG_THRESHOLD = 200_000
"""Allocations between young collections during a large run (CPython's default is 700)."""
_frozen_runs = 0
_thresholds: tuple[int, ...] = ()


@contextlib.contextmanager
def collector_spared(steps: int) -> Iterator[None]:
    """Spare what exists from collections while a run of ``steps`` nodes is inside."""
    global _frozen_runs, _thresholds
    if steps < GC_FREEZE_MIN_STEPS:
        yield
        return
    if _frozen_runs == 0:
        gc.freeze()
        _thresholds = gc.get_threshold()
        young, *older = _thresholds
        gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
    _frozen_runs += 1
    try:
        yield
    finally:
        _frozen_runs -= 1
        if _frozen_runs == 0:
            gc.set_threshold(*_thresholds)
            gc.unfreeze()
