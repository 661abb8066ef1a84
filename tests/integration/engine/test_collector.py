"""collector_spared: large runs freeze the heap and collect young objects less often, and the
last run out puts everything back."""

from __future__ import annotations

import gc

from atomiton.engines.collector import GC_FREEZE_MIN_STEPS, YOUNG_THRESHOLD, collector_spared


def test_a_small_run_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    with collector_spared(GC_FREEZE_MIN_STEPS - 1):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


def test_overlapping_large_runs_restore_the_collector_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    with collector_spared(GC_FREEZE_MIN_STEPS):
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
        with collector_spared(10 * GC_FREEZE_MIN_STEPS):
            pass
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)  # the first still runs
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_error_inside_a_large_run_still_restores_the_collector() -> None:
    before = gc.get_threshold()
    try:
        with collector_spared(GC_FREEZE_MIN_STEPS):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
