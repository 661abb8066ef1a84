"""The ``rust`` runtime running the real native nodes of ``atomiton_native`` (built from native/).

Every result is checked against a Python reference computed on the same generated file: the
``csv`` module for process-large-csv, ``hashlib`` for hash-file.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import random
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from atomiton.errors import NodeError, NodeTimeoutError
from atomiton.nodes.definition import NodeDefinition
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NodeResult, NullReporter
from atomiton.runtimes.rust import RustRuntime

pytestmark = pytest.mark.toolchain("native")

ROOT = Path(__file__).resolve().parents[3]
NODES = {
    d.id: d
    for d in load_manifest(ROOT / "src" / "atomiton" / "library" / "manifests" / "native.node.yaml")
}
REGIONS = ["north", "south", "east, far", 'west "wild"', "centre\nline"]


class Recorder:
    """A Reporter that keeps what it was told (called from the worker thread)."""

    def __init__(self) -> None:
        self.progress_calls: list[tuple[float, str]] = []

    def progress(self, percent: float, message: str = "") -> None:
        self.progress_calls.append((percent, message))

    def log(self, message: str, level: str = "info") -> None:
        return None


@pytest.fixture
async def runtime() -> Any:
    rt = RustRuntime()
    await rt.start()
    yield rt
    await rt.aclose()


def call(node: str, inputs: dict[str, Any], parameters: dict[str, Any] | None = None) -> NodeCall:
    return NodeCall("run-1", f"{node}-1", NODES[node], inputs, parameters or {})


def write_sales(path: Path, rows: int, seed: int = 7) -> list[dict[str, str]]:
    """A CSV with quoted fields (commas, quotes, newlines) and some empty amounts."""
    rng = random.Random(seed)
    records = []
    for i in range(rows):
        amount = "" if i % 17 == 0 else f"{rng.uniform(-50, 500):.3f}"
        records.append(
            {
                "id": str(i),
                "region": rng.choice(REGIONS),
                "kind": rng.choice("ab"),
                "amount": amount,
            }
        )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "region", "kind", "amount"])
        writer.writeheader()
        writer.writerows(records)
    return records


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 40 MB, 640,000 rows: enough for a few dozen progress reports."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    line = "12345,north,a,123.456,some padding text to make the row longer\n"
    with path.open("w") as f:
        f.write("id,region,kind,amount,note\n")
        for _ in range(40):
            f.write(line * 16_000)
    return path


async def test_group_by_matches_a_python_reference(runtime: RustRuntime, tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    records = write_sales(source, 5_000)
    params = {
        "filter": {"column": "amount", "op": ">", "value": 0},
        "group_by": ["region", "kind"],
        "aggregations": [
            {"column": "amount", "op": "sum", "as": "total"},
            {"column": "amount", "op": "mean"},
            {"column": "amount", "op": "min"},
            {"column": "amount", "op": "max"},
            {"op": "count", "as": "rows"},
        ],
    }
    out = tmp_path / "groups.csv"
    result = await runtime.invoke(
        call("process-large-csv", {"path": str(source)}, params | {"output_path": str(out)}),
        NullReporter(),
    )

    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        if r["amount"] and float(r["amount"]) > 0:
            groups[(r["region"], r["kind"])].append(float(r["amount"]))
    rows = result.outputs["rows"]
    assert [(r["region"], r["kind"]) for r in rows] == sorted(groups)
    for row in rows:
        values = groups[(row["region"], row["kind"])]
        assert row["total"] == pytest.approx(sum(values))
        assert row["amount_mean"] == pytest.approx(sum(values) / len(values))
        assert (row["amount_min"], row["amount_max"], row["rows"]) == (
            min(values),
            max(values),
            len(values),
        )
    summary = result.outputs["summary"]
    assert summary["rows_read"] == 5_000
    assert summary["rows_matched"] == sum(len(v) for v in groups.values())
    assert summary["groups"] == len(groups)
    assert summary["output_path"] == str(out)
    with out.open(newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert [(w["region"], w["kind"], int(w["rows"])) for w in written] == [
        (r["region"], r["kind"], r["rows"]) for r in rows
    ]


async def test_filtered_copy_keeps_quoted_fields(runtime: RustRuntime, tmp_path: Path) -> None:
    source, out = tmp_path / "sales.csv", tmp_path / "filtered.csv"
    records = write_sales(source, 3_000, seed=3)
    params = {
        "filter": [
            {"column": "region", "op": "contains", "value": "e"},
            {"column": "kind", "op": "==", "value": "b"},
        ]
    }
    inputs = {"path": str(source), "output_path": str(out)}
    result = await runtime.invoke(call("process-large-csv", inputs, params), NullReporter())

    expected = [r for r in records if "e" in r["region"] and r["kind"] == "b"]
    with out.open(newline="", encoding="utf-8") as f:
        assert list(csv.DictReader(f)) == expected
    assert result.outputs["summary"]["rows_matched"] == len(expected)
    assert "rows" not in result.outputs


async def test_a_bad_number_names_row_and_column(runtime: RustRuntime, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text('id,amount\n1,2.5\n2,"1,5"\n')
    params = {"aggregations": [{"column": "amount", "op": "sum"}]}
    with pytest.raises(NodeError) as info:
        await runtime.invoke(
            call("process-large-csv", {"path": str(source)}, params), NullReporter()
        )
    err = info.value
    assert err.error_type == "ValueError"
    assert err.node_id == "process-large-csv-1"
    assert "line 3 (data row 2), column 'amount': expected a number, got '1,5'" in err.message
    assert err.retryable is False
    assert "stack" in err.details


async def test_a_missing_column_lists_the_available_ones(
    runtime: RustRuntime, tmp_path: Path
) -> None:
    source = tmp_path / "sales.csv"
    write_sales(source, 10)
    params = {"filter": {"column": "price", "op": "<", "value": 3}}
    with pytest.raises(
        NodeError,
        match=r"unknown column 'price' in filter; available columns: "
        r"id, region, kind, amount",
    ):
        await runtime.invoke(
            call("process-large-csv", {"path": str(source)}, params), NullReporter()
        )


async def test_a_missing_file_is_a_clear_node_error(runtime: RustRuntime, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(NodeError, match=f"input file '{missing}' does not exist") as info:
        await runtime.invoke(call("process-large-csv", {"path": str(missing)}), NullReporter())
    assert info.value.error_type == "FileNotFoundError"


async def test_a_wrong_parameter_type_is_named(runtime: RustRuntime, tmp_path: Path) -> None:
    with pytest.raises(
        NodeError, match=r"'group_by' must be a string or a list of strings, got int"
    ):
        await runtime.invoke(
            call("process-large-csv", {"path": str(tmp_path)}, {"group_by": 3}), NullReporter()
        )


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
async def test_hash_file_matches_hashlib(
    runtime: RustRuntime, tmp_path: Path, algorithm: str
) -> None:
    data = random.Random(1).randbytes(3 * 1024 * 1024 + 17)  # crosses the 1 MiB read size
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    result = await runtime.invoke(
        call("hash-file", {"path": str(path)}, {"algorithm": algorithm}), NullReporter()
    )
    assert result.outputs == {
        "digest": hashlib.new(algorithm, data).hexdigest(),
        "size": len(data),
        "algorithm": algorithm,
    }


async def test_hash_file_blake3_matches_the_reference_vector(
    runtime: RustRuntime, tmp_path: Path
) -> None:
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    result = await runtime.invoke(
        call("hash-file", {"path": str(path)}, {"algorithm": "blake3"}), NullReporter()
    )
    assert result.outputs["digest"] == (
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    )


async def test_hash_file_rejects_an_unknown_algorithm(runtime: RustRuntime, tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"x")
    with pytest.raises(NodeError, match="unknown hash algorithm 'md5'; expected one of: sha256"):
        await runtime.invoke(
            call("hash-file", {"path": str(path)}, {"algorithm": "md5"}), NullReporter()
        )


async def test_inputs_win_over_parameters_inline(runtime: RustRuntime) -> None:
    result = await runtime.invoke(call("native-add", {"a": 2}, {"a": 100, "b": 3}), NullReporter())
    assert result == NodeResult({"sum": 5})
    result = await runtime.invoke(call("native-add", {"a": 0.5, "b": 2**63 - 1}), NullReporter())
    assert result.outputs["sum"] == pytest.approx(0.5 + 2**63)


async def test_the_threaded_path_gives_the_same_result(runtime: RustRuntime) -> None:
    add = NODES["native-add"]
    threaded = NodeDefinition(
        id="add-threaded",
        runtime=type(add.runtime)(language="rust", module="atomiton_native", handler="add"),
    )
    result = await runtime.invoke(
        NodeCall("r", "n", threaded, {"a": 1, "b": 2}, {}), NullReporter()
    )
    assert result.outputs == {"sum": 3}
    with pytest.raises(NodeError, match="'b' must be a number, got str"):
        await runtime.invoke(NodeCall("r", "n", threaded, {"a": 1, "b": "2"}, {}), NullReporter())


async def test_progress_reaches_the_reporter(runtime: RustRuntime, big_csv: Path) -> None:
    reporter = Recorder()
    await runtime.invoke(call("process-large-csv", {"path": str(big_csv)}), reporter)
    percents = [p for p, _ in reporter.progress_calls]
    assert len(percents) >= 20
    assert percents == sorted(percents)
    assert percents[-1] > 95


async def test_unquoted_group_bys_run_in_parallel(
    runtime: RustRuntime, big_csv: Path, tmp_path: Path
) -> None:
    """An unquoted file is folded by one thread per core, with progress; a quoted one is read
    sequentially, or refused with NotImplementedError when the caller asks for no fallback."""
    import atomiton_native

    params: dict[str, Any] = {
        "group_by": "region",
        "aggregations": [{"column": "amount", "op": "sum"}, {"op": "count"}],
    }
    reporter = Recorder()
    result = await runtime.invoke(
        call("process-large-csv", {"path": str(big_csv)}, params), reporter
    )
    assert result.outputs["summary"]["pass"] == "parallel"
    assert result.outputs["rows"] == [
        {"region": "north", "amount_sum": pytest.approx(640_000 * 123.456), "count": 640_000}
    ]
    percents = [p for p, _ in reporter.progress_calls]
    assert len(percents) >= 5
    assert percents == sorted(percents)
    quoted = tmp_path / "quoted.csv"
    write_sales(quoted, 100)
    sequential = atomiton_native.process_large_csv({"path": str(quoted)}, params)
    assert sequential["summary"]["pass"] == "sequential"
    with pytest.raises(NotImplementedError, match="quoted fields"):
        atomiton_native.process_large_csv({"path": str(quoted)}, {**params, "fallback": False})


class PipeFeeder:
    """Writes CSV rows into a named pipe from a Python thread: ``rows`` of them, or forever
    (``rows=None``) until the native reader closes the pipe. A native call reading the pipe lasts
    as long as the feeder wants, and can only progress while the feeder thread gets the GIL."""

    CHUNK_ROWS = 4096

    def __init__(self, path: Path, rows: int | None, pause_s: float = 0.0) -> None:
        os.mkfifo(path)
        self.path, self.rows, self.pause_s = path, rows, pause_s
        self.written = 0
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        chunk = "7,2.5\n" * self.CHUNK_ROWS
        try:
            with self.path.open("w") as pipe:
                pipe.write("id,amount\n")
                while self.rows is None or self.written < self.rows:
                    pipe.write(chunk)
                    pipe.flush()
                    self.written += self.CHUNK_ROWS
                    time.sleep(self.pause_s)
        except BrokenPipeError:
            return

    def stopped(self, timeout_s: float) -> bool:
        self.thread.join(timeout_s)
        return not self.thread.is_alive()

    def close(self) -> None:
        if not self.stopped(0.0):  # the reader never came or is gone: unblock the writer
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
            self.thread.join(5)


@pytest.fixture
def endless_pipe(tmp_path: Path) -> Any:
    feeder = PipeFeeder(tmp_path / "endless.csv", rows=None)
    yield feeder
    feeder.close()


async def test_cancelling_stops_waiting_and_the_native_loop(endless_pipe: PipeFeeder) -> None:
    runtime = RustRuntime(max_workers=1)
    try:
        csv_call = call("process-large-csv", {"path": str(endless_pipe.path)})
        task = asyncio.create_task(runtime.invoke(csv_call, NullReporter()))
        while endless_pipe.written < 50_000:  # the native loop is well under way
            await asyncio.sleep(0.01)
        cancelled_at = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - cancelled_at < 0.1
        # The cancel flag stops the native loop: it closes the pipe and the feeder stops.
        assert endless_pipe.stopped(timeout_s=5.0)
    finally:
        await runtime.aclose()


async def test_a_timeout_raises_node_timeout_error(endless_pipe: PipeFeeder) -> None:
    runtime = RustRuntime(max_workers=1)
    try:
        node = NODES["process-large-csv"]
        slow = NodeCall("r", "csv", node, {"path": str(endless_pipe.path)}, {}, timeout_s=0.2)
        with pytest.raises(NodeTimeoutError, match=r"ran past its timeout of 0\.2 s"):
            await runtime.invoke(slow, NullReporter())
        assert endless_pipe.stopped(timeout_s=5.0)
    finally:
        await runtime.aclose()


def test_the_gil_is_released_during_a_native_call(tmp_path: Path) -> None:
    """process_large_csv runs on this thread, reading a pipe that a Python thread fills slowly.

    It can only finish if the feeder thread runs meanwhile; a third, pure-Python thread counts
    how much it ran during the native call.
    """
    import atomiton_native

    counted = 0
    done = threading.Event()

    def count() -> None:
        nonlocal counted
        while not done.is_set():
            counted += 1

    feeder = PipeFeeder(tmp_path / "slow.csv", rows=40 * PipeFeeder.CHUNK_ROWS, pause_s=0.01)
    counter = threading.Thread(target=count)
    try:
        counter.start()
        started = time.perf_counter()
        result = atomiton_native.process_large_csv({"path": str(feeder.path)}, {})
        elapsed = time.perf_counter() - started
        before = counted
    finally:
        done.set()
        counter.join()
        feeder.close()
    assert result["summary"]["rows_read"] == 40 * PipeFeeder.CHUNK_ROWS
    assert elapsed > 0.3  # forty pauses of 10 ms
    assert before > 100_000 * elapsed  # a thread starved of the GIL would count ~nothing


async def test_the_example_crate_node_runs() -> None:
    example = load_manifest(ROOT / "examples" / "nodes" / "rust" / "node.yaml")[0]
    rt = RustRuntime()
    try:
        reason = rt.check(example)
        assert reason is None, f"{reason} (scripts/setup.d/40-native.sh builds the example too)"
        text = "The cat saw the other cat.\nA dog!"
        result = await rt.invoke(
            NodeCall("r", "w", example, {"text": text}, {"min_length": 3}), NullReporter()
        )
        assert result.outputs == {"words": 7, "unique": 5, "lines": 2}
    finally:
        await rt.aclose()


def test_every_native_manifest_passes_check() -> None:
    rt = RustRuntime()
    assert {node: rt.check(d) for node, d in NODES.items()} == dict.fromkeys(NODES)
