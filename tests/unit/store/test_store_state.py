"""Node and run rows derived from event sequences (the pure fold in ``store.state``)."""

from __future__ import annotations

from typing import Any

from atomiton.events import EventKind as K
from atomiton.store.state import RunState, apply_event


def fold(*events: tuple[K, str | None, dict[str, Any]]) -> RunState:
    run = RunState("r1")
    for time, (kind, node_id, payload) in enumerate(events, start=1):
        apply_event(run, kind, float(time), node_id, payload)
    return run


def test_run_started_creates_pending_nodes_in_plan_order() -> None:
    run = fold((K.RUN_STARTED, None, {"nodes": ["b", "a", "g/child"], "blueprint_id": "bp"}))
    assert [(n.node_id, n.ordinal, n.status) for n in run.nodes.values()] == [
        ("b", 0, "pending"),
        ("a", 1, "pending"),
        ("g/child", 2, "pending"),
    ]
    assert run.changes == {"blueprint_id": "bp", "status": "running"}


def test_retry_then_success_counts_two_attempts_and_clears_the_error() -> None:
    error = {"type": "NodeError", "message": "flaky"}
    run = fold(
        (K.NODE_QUEUED, "a", {}),
        (K.NODE_STARTED, "a", {"attempt": 1}),
        (K.NODE_RETRYING, "a", {"attempt": 1, "delay_s": 0.5, "error": error}),
        (K.NODE_STARTED, "a", {"attempt": 2}),
        (K.NODE_SUCCEEDED, "a", {"outputs": {"out": 3}, "duration_ms": 7, "attempt": 2}),
    )
    node = run.nodes["a"]
    assert (node.status, node.attempts, node.error, node.outputs) == (
        "succeeded",
        2,
        None,
        {"out": 3},
    )
    assert (node.started_at, node.finished_at, node.duration_ms) == (2.0, 5.0, 7.0)


def test_retrying_keeps_the_error_of_the_failed_attempt() -> None:
    run = fold(
        (K.NODE_STARTED, "a", {"attempt": 1}),
        (K.NODE_RETRYING, "a", {"attempt": 1, "delay_s": 1, "error": "timed out"}),
    )
    node = run.nodes["a"]
    assert (node.status, node.attempts) == ("retrying", 1)
    assert node.error == {"type": "Error", "message": "timed out"}


def test_failure_records_error_attempts_and_duration() -> None:
    error = {"type": "NodeTimeoutError", "message": "took longer than 100 ms"}
    run = fold(
        (K.NODE_STARTED, "a", {"attempt": 1}),
        (K.NODE_FAILED, "a", {"error": error, "attempt": 1, "duration_ms": 100}),
    )
    node = run.nodes["a"]
    assert (node.status, node.error, node.duration_ms, node.outputs) == (
        "failed",
        error,
        100.0,
        None,
    )


def test_skipped_cancelled_and_abandoned_keep_their_reason() -> None:
    run = fold(
        (K.RUN_STARTED, None, {"nodes": ["s", "c", "x"]}),
        (K.NODE_SKIPPED, "s", {"reason": "branch 'false' not taken"}),
        (K.NODE_STARTED, "c", {"attempt": 1}),
        (K.NODE_CANCELLED, "c", {"reason": "run cancelled"}),
        (K.NODE_ABANDONED, "x", {"reason": "upstream 'c' did not succeed"}),
    )
    summary = {n.node_id: (n.status, n.reason, n.attempts) for n in run.nodes.values()}
    assert summary == {
        "s": ("skipped", "branch 'false' not taken", 0),
        "c": ("cancelled", "run cancelled", 1),
        "x": ("abandoned", "upstream 'c' did not succeed", 0),
    }
    cancelled = run.nodes["c"]
    assert cancelled.duration_ms == 1000.0  # from its start, the event carried no duration


def test_started_without_attempt_counts_attempts_itself() -> None:
    run = fold((K.NODE_STARTED, "a", {}), (K.NODE_STARTED, "a", {}))
    assert run.nodes["a"].attempts == 2
    assert run.nodes["a"].started_at == 1.0  # the first start is kept


def test_progress_and_logs_change_no_node_row() -> None:
    run = fold(
        (K.RUN_STARTED, None, {"nodes": ["a"]}),
        (K.NODE_PROGRESS, "a", {"percent": 50, "message": "half"}),
        (K.NODE_LOG, "b", {"level": "info", "message": "hello"}),
    )
    assert list(run.nodes) == ["a"]
    assert run.nodes["a"].status == "pending"
    assert run.updated_at == 3.0


def test_run_finished_sets_the_run_columns() -> None:
    run = fold(
        (
            K.RUN_FINISHED,
            None,
            {"status": "failed", "outputs": {"a": {"out": 1}}, "error": {"m": 1}, "duration_ms": 9},
        )
    )
    assert run.changes == {
        "status": "failed",
        "outputs": {"a": {"out": 1}},
        "error": {"m": 1},
        "finished_at": 1.0,
        "duration_ms": 9,
    }


def test_succeeded_with_non_mapping_outputs_is_wrapped() -> None:
    run = fold((K.NODE_SUCCEEDED, "a", {"outputs": [1, 2]}))
    assert run.nodes["a"].outputs == {"value": [1, 2]}


def test_dirty_tracking_marks_changed_nodes_only() -> None:
    run = fold((K.RUN_STARTED, None, {"nodes": ["a", "b"]}))
    assert list(run.dirty) == ["a", "b"]
    run.dirty.clear()
    apply_event(run, K.NODE_QUEUED, 5.0, "b", {})
    apply_event(run, K.NODE_PROGRESS, 6.0, "a", {"percent": 1})
    assert list(run.dirty) == ["b"]
