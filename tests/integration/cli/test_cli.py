"""The ``atomiton`` command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NODES = str(Path(__file__).parents[1] / "engine" / "nodes.py")
TEMPLATES = Path(__file__).parents[3].parent / "shared" / "atomiton"


def atomiton(*args: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ATOMITON_DB": str(db)}
    return subprocess.run(
        [sys.executable, "-m", "atomiton", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def write_flow(path: Path, body: str) -> Path:
    path.write_text("id: cli\nname: CLI test\n" + body)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


def test_run_json_prints_one_document(tmp_path: Path, db: Path) -> None:
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            "nodes:\n  - {id: c, type: const, parameters: {value: 41}}\n"
            "  - {id: inc, type: add, parameters: {b: 1}}\n"
            "  - {id: spin, type: busy-polling}\n"
            "edges:\n  - {source: c, target: inc, sourceHandle: output, targetHandle: a}\n"
        ),
    )
    proc = atomiton("run", str(flow), "--nodes", NODES, "--json", db=db)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"run_id", "status", "outputs", "nodes", "error"}
    assert doc["status"] == "succeeded"
    # the CLI's loop busy-polls for worker answers (atomiton.runtimes.worker.busypoll)
    assert doc["outputs"] == {"inc": {"output": 42}, "spin": {"output": True}}
    assert set(doc["nodes"]["c"]) >= {"status", "outputs", "error", "attempts", "duration_ms"}


def test_run_failure_exits_1_and_is_in_history(tmp_path: Path, db: Path) -> None:
    flow = write_flow(tmp_path / "f.flow.yaml", "nodes:\n  - {id: x, type: fail}\nedges: []\n")
    proc = atomiton("run", str(flow), "--nodes", NODES, "--json", db=db)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed"
    assert doc["error"]["message"] == "boom"
    shown = atomiton("show", doc["run_id"][:17], "--json", db=db)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["status"] == "failed"
    assert record["nodes"]["x"]["status"] == "failed"
    listed = json.loads(atomiton("runs", "--json", db=db).stdout)
    assert [r["run_id"] for r in listed] == [doc["run_id"]]


def test_vars_and_input(tmp_path: Path, db: Path) -> None:
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            "variables:\n  who: {defaultValue: nobody}\n"
            "nodes:\n  - {id: c, type: const, parameters: {value: 'hi {{ who }}'}}\n"
            "  - {id: s, type: add}\nedges: []\n"
        ),
    )
    proc = atomiton(
        "run",
        str(flow),
        "--nodes",
        NODES,
        "--json",
        "--var",
        "who=Ada",
        "--input",
        '{"a": 1, "b": 2}',
        db=db,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(proc.stdout)["outputs"]
    assert outputs == {"c": {"output": "hi Ada"}, "s": {"output": 3}}


def test_invalid_blueprint_exits_2_with_every_problem(tmp_path: Path, db: Path) -> None:
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            "nodes:\n  - {id: a, type: ad}\n  - {id: b, type: add}\n  - {id: b, type: add}\n"
            "edges:\n  - {source: b, target: ghost}\n"
        ),
    )
    proc = atomiton("validate", str(flow), "--nodes", NODES, "--json", db=db)
    assert proc.returncode == 2
    codes = {e["code"] for e in json.loads(proc.stdout)["errors"]}
    assert codes == {
        "unknown-node-type",
        "duplicate-node-id",
        "edge-missing-target",
        "required-input-missing",
    }
    run = atomiton("run", str(flow), "--nodes", NODES, db=db)
    assert run.returncode == 2
    assert "did you mean 'add'" in run.stderr


def test_unreadable_blueprint_exits_2(tmp_path: Path, db: Path) -> None:
    bad = tmp_path / "bad.flow.yaml"
    bad.write_text("id: x\nnodes: [\n")
    proc = atomiton("run", str(bad), db=db)
    assert proc.returncode == 2
    assert "invalid YAML at line" in proc.stderr
    missing = atomiton("validate", str(tmp_path / "none.flow.yaml"), db=db)
    assert missing.returncode == 2
    assert "file not found" in missing.stderr


def test_templates_load_and_report_clearly(db: Path) -> None:
    for name in ("hello-world", "data-transform", "image-processor"):
        proc = atomiton("validate", str(TEMPLATES / f"{name}.flow.yaml"), "--json", db=db)
        assert proc.returncode in (0, 2), proc.stderr
        report = json.loads(proc.stdout)
        assert {"valid", "errors", "warnings"} <= set(report)


def test_nodes_and_schema(db: Path) -> None:
    listed = json.loads(atomiton("nodes", "--nodes", NODES, "--json", db=db).stdout)
    add = next(d for d in listed if d["id"] == "add")
    assert [p["name"] for p in add["inputs"]] == ["a", "b"]
    assert add["parametersSchema"]["properties"]["a"] == {"type": "number"}
    schema = json.loads(atomiton("schema", db=db).stdout)
    assert schema["title"] == "Atomiton Blueprint"
    assert "edges" in schema["properties"]


def test_ctrl_c_cancels_and_records(tmp_path: Path, db: Path) -> None:
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        ("nodes:\n  - {id: s, type: sleep, parameters: {seconds: 30}}\nedges: []\n"),
    )
    env = {**os.environ, "ATOMITON_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "atomiton", "run", str(flow), "--nodes", NODES, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    assert doc["nodes"]["s"]["status"] == "cancelled"


def test_kill_9_mid_run_marks_the_run_interrupted(tmp_path: Path, db: Path) -> None:
    """first -> slow; the process dies while slow runs: first's row survives, the run is
    marked interrupted on the next start, slow is interrupted."""
    marker = tmp_path / "marker"
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            f"nodes:\n  - {{id: first, type: write-marker, parameters: {{path: '{marker}'}}}}\n"
            "  - {id: slow, type: sleep, parameters: {seconds: 60}}\n"
            "edges:\n  - {source: first, target: slow, sourceHandle: output, targetHandle: x}\n"
        ),
    )
    env = {**os.environ, "ATOMITON_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "atomiton", "run", str(flow), "--nodes", NODES, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # well past the store's batching window
    proc.kill()
    proc.wait(timeout=10)
    listed = json.loads(atomiton("runs", "--json", db=db).stdout)
    assert len(listed) == 1
    assert listed[0]["status"] == "interrupted"
    record = json.loads(atomiton("show", listed[0]["run_id"], "--json", db=db).stdout)
    assert record["nodes"]["first"]["status"] == "succeeded"
    assert record["nodes"]["first"]["outputs"] == {"output": str(marker)}
    assert record["nodes"]["slow"]["status"] == "interrupted"


def test_graph_draws_groups_as_subgraphs(tmp_path: Path, db: Path) -> None:
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            "nodes:\n  - {id: a, type: const}\n"
            "  - {id: g, type: group, nodes: [{id: inner, type: const}], edges: []}\n"
            "edges:\n  - {source: a, target: g, sourceHandle: output, targetHandle: input}\n"
        ),
    )
    mermaid = atomiton("graph", str(flow), db=db)
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart LR")
    assert 'subgraph n_g["g<br/><i>group</i>"]' in mermaid.stdout
    assert "n_a -- output/input --> n_g" in mermaid.stdout
    dot = atomiton("graph", str(flow), "--format", "dot", db=db)
    assert "subgraph cluster_n_g" in dot.stdout
    assert atomiton("graph", str(flow), "--format", "png", db=db).returncode == 2


def test_engine_ray_runs_the_same_blueprint(tmp_path: Path, db: Path) -> None:
    """--engine ray: the same document as a local run (a local Ray is started)."""
    if (
        importlib.util.find_spec("ray") is None
        and os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") != "1"
    ):
        pytest.skip("needs Ray: pip install 'atomiton[ray]'")
    flow = write_flow(
        tmp_path / "f.flow.yaml",
        (
            "nodes:\n  - {id: a, type: add, parameters: {a: 1, b: 2}}\n"
            "  - {id: b, type: add, parameters: {b: 10}}\n"
            "edges:\n  - {source: a, target: b, sourceHandle: output, targetHandle: a}\n"
        ),
    )
    proc = atomiton(
        "run", str(flow), "--nodes", NODES, "--engine", "ray", "--json", db=db, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["outputs"] == {"b": {"output": 13}}
    unknown = atomiton("run", str(flow), "--nodes", NODES, "--engine", "spark", db=db)
    assert unknown.returncode == 2
    assert "not an engine" in unknown.stderr
