"""Run records through a real SQLite file: begin_run, events, get_run, list_runs, spilling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_helpers import RunDriver, run_info

from atomiton.errors import StoreError
from atomiton.events import EventKind as K
from atomiton.store import RunRecord, SqlStore, load_artifact


def test_begin_run_writes_the_run_row_at_once(store: SqlStore, db_path: Path) -> None:
    store.begin_run(run_info("r-1", started_at=10.0))
    other = SqlStore(str(db_path))  # another connection sees it without any flush
    try:
        record = other.get_run("r-1")
    finally:
        other.close()
    assert (record.status, record.started_at, record.blueprint_name) == (
        "running",
        10.0,
        "Blueprint",
    )
    assert (record.variables, record.finished_at, record.nodes) == ({"v": "x"}, None, {})


def test_a_full_run_round_trips(store: SqlStore) -> None:
    """Graph: a -> b (b retried once), c skipped; sink b."""
    run = RunDriver(store)
    run.start("a", "b", "c")
    run.succeed("a", {"out": [1, 2]})
    run.emit(K.NODE_QUEUED, "b")
    run.emit(K.NODE_STARTED, "b", attempt=1)
    run.emit(K.NODE_LOG, "b", level="warning", message="slow upstream")
    run.emit(K.NODE_RETRYING, "b", attempt=1, delay_s=0.1, error={"type": "E", "message": "x"})
    run.emit(K.NODE_STARTED, "b", attempt=2)
    run.emit(K.NODE_PROGRESS, "b", percent=50, message="half")
    run.emit(K.NODE_SUCCEEDED, "b", outputs={"sum": 3}, duration_ms=4.0, attempt=2)
    run.emit(K.NODE_SKIPPED, "c", reason="branch not taken")
    run.finish(outputs={"b": {"sum": 3}})

    record = store.get_run(run.run_id)
    assert record.status == "succeeded"
    assert record.outputs == {"b": {"sum": 3}}
    assert (record.blueprint_id, record.source, record.inputs) == (
        "bp",
        "flows/bp.flow.yaml",
        {"n": 1},
    )
    assert record.duration_ms == 4000.0
    assert record.finished_at == run.clock
    assert list(record.nodes) == ["a", "b", "c"]
    b = record.nodes["b"]
    assert (b.status, b.attempts, b.outputs, b.error) == ("succeeded", 2, {"sum": 3}, None)
    assert [(log["level"], log["message"]) for log in b.logs] == [("warning", "slow upstream")]
    assert record.nodes["c"].reason == "branch not taken"
    assert record.node_counts == {"succeeded": 2, "skipped": 1}


def test_to_dict_is_the_json_shape_the_cli_prints(store: SqlStore) -> None:
    run = RunDriver(store)
    run.start("a")
    run.emit(K.NODE_STARTED, "a", attempt=1)
    error = {"type": "NodeError", "message": "boom", "node_id": "a"}
    run.emit(K.NODE_FAILED, "a", error=error, attempt=1, duration_ms=3.0)
    run.finish("failed")

    data = json.loads(json.dumps(store.get_run(run.run_id).to_dict()))
    assert data["run_id"] == run.run_id
    assert data["status"] == "failed"
    assert data["error"] == {"type": "NodeError", "message": "boom"}
    assert data["nodes"]["a"] == {
        "status": "failed",
        "attempts": 1,
        "started_at": run.clock - 2,
        "finished_at": run.clock - 1,
        "duration_ms": 3.0,
        "error": error,
        "outputs": None,
        "reason": None,
        "logs": [],
    }


def test_events_come_back_in_order_and_after_a_sequence_number(store: SqlStore) -> None:
    run = RunDriver(store)
    published = [run.start("a")]
    published.append(run.emit(K.NODE_QUEUED, "a"))
    published.append(run.emit(K.NODE_STARTED, "a", attempt=1))
    published.append(run.emit(K.NODE_PROGRESS, "a", percent=10.5, message="10%"))
    stored = store.events(run.run_id)
    assert stored == published
    assert [e.seq for e in store.events(run.run_id, after_seq=2)] == [3, 4]
    assert store.events(run.run_id, after_seq=4) == []


def test_payload_values_go_through_the_events_codec(store: SqlStore) -> None:
    run = RunDriver(store)
    run.start("a")
    run.emit(
        K.NODE_SUCCEEDED, "a", outputs={"raw": b"\x00\x01", "p": Path("/x"), "n": float("nan")}
    )
    outputs = store.get_run(run.run_id).nodes["a"].outputs
    assert outputs == {"raw": {"$bytes": "AAE="}, "p": "/x", "n": {"$float": "nan"}}
    assert store.events(run.run_id)[-1].payload["outputs"] == outputs


def test_list_runs_newest_first_with_limit_and_status(store: SqlStore) -> None:
    for i, status in enumerate(["succeeded", "failed", "succeeded", "running"]):
        store.begin_run(run_info(f"run-{i}", started_at=100.0 + i))
        if status != "running":
            run = RunDriver(store, f"run-{i}", begin=False)
            run.finish(status)
    assert [r.run_id for r in store.list_runs()] == ["run-3", "run-2", "run-1", "run-0"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["run-3", "run-2"]
    assert [r.run_id for r in store.list_runs(status="succeeded")] == ["run-2", "run-0"]
    assert all(isinstance(r, RunRecord) and r.nodes == {} for r in store.list_runs())


def test_list_runs_counts_nodes_by_status(store: SqlStore) -> None:
    run = RunDriver(store)
    run.start("a", "b", "c")
    run.succeed("a", {"x": 1})
    [summary] = store.list_runs()
    assert summary.node_counts == {"succeeded": 1, "pending": 2}


def test_list_runs_rejects_an_unknown_status(store: SqlStore) -> None:
    with pytest.raises(StoreError, match=r"unknown run status 'done'.*running, succeeded"):
        store.list_runs(status="done")


def test_begin_run_twice_says_the_id_is_taken(store: SqlStore) -> None:
    store.begin_run(run_info("same"))
    with pytest.raises(StoreError, match="run 'same' is already in the history") as info:
        store.begin_run(run_info("same"))
    assert info.value.run_id == "same"


def test_events_without_begin_run_create_the_run_row(store: SqlStore) -> None:
    run = RunDriver(store, "bare", begin=False)
    run.start("a")
    record = store.get_run("bare")
    assert (record.status, record.blueprint_id, record.started_at) == ("running", "bp", run.clock)
    assert record.pid is not None


def test_large_outputs_spill_to_a_file_once(store: SqlStore, db_path: Path) -> None:
    big = {"text": "x" * (300 * 1024)}
    run = RunDriver(store)
    run.start("big", "small")
    run.succeed("big", big)
    run.succeed("small", {"n": 1})
    run.finish(outputs={"big": big, "small": {"n": 1}})

    record = store.get_run(run.run_id)
    ref = record.nodes["big"].outputs
    assert ref is not None
    assert ref["$ref"]["kind"] == "file"
    path = Path(ref["$ref"]["path"])
    assert path.parent.parent == db_path.with_name("history-artifacts")
    assert load_artifact(ref) == big
    assert record.outputs["big"] == ref  # the sink's outputs reuse the same file
    assert len(list(path.parent.iterdir())) == 1
    assert record.nodes["small"].outputs == {"n": 1}
    assert load_artifact({"n": 1}) == {"n": 1}
    stored_event = next(e for e in store.events(run.run_id) if e.kind is K.NODE_SUCCEEDED)
    assert stored_event.payload["outputs"] == ref  # the event row holds the reference too


def test_a_missing_artifact_file_is_reported(store: SqlStore) -> None:
    run = RunDriver(store)
    run.start("big")
    run.succeed("big", {"text": "y" * (300 * 1024)})
    ref = store.get_run(run.run_id).nodes["big"].outputs
    assert ref is not None
    Path(ref["$ref"]["path"]).unlink()
    with pytest.raises(StoreError, match=r"artifact file .* is missing"):
        load_artifact(ref)


def test_spill_limit_is_configurable(tmp_path: Path) -> None:
    store = SqlStore("memory", artifacts=tmp_path / "art", spill_limit=100)
    try:
        run = RunDriver(store)
        run.start("a")
        run.succeed("a", {"text": "z" * 200})
        outputs = store.get_run(run.run_id).nodes["a"].outputs
        assert outputs is not None
        assert load_artifact(outputs) == {"text": "z" * 200}
        assert Path(outputs["$ref"]["path"]).is_relative_to(tmp_path / "art")
    finally:
        store.close()


def test_memory_store_keeps_large_outputs_inline() -> None:
    store = SqlStore("memory")
    try:
        run = RunDriver(store)
        run.start("a")
        run.succeed("a", {"text": "x" * (300 * 1024)})
        assert store.get_run(run.run_id).nodes["a"].outputs == {"text": "x" * (300 * 1024)}
    finally:
        store.close()
