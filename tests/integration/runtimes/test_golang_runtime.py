"""The ``golang`` runtime: build on first use (cached), warm workers, errors, timeouts, crashes.

A test Go package is written to a temporary folder and refers to the SDK in workers/go by a
``replace`` directive, exactly as a user's package does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from worker_checks import refuses_a_spin_window_that_is_not_a_number, sleeps_once_calls_stop

from atomiton.errors import (
    NodeError,
    NodeTimeoutError,
    RuntimeUnavailableError,
    WorkerCrashedError,
)
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.golang import GoRuntime

REPO = Path(__file__).resolve().parents[3]

NODES_GO = """package main

import (
	"os"
	"strings"
	"time"

	sdk "atomiton.dev/sdk"
)

func main() {
	sdk.Register("Upper", func(ctx *sdk.Context, in, _ map[string]any) (map[string]any, error) {
		text, _ := in["text"].(string)
		return map[string]any{"output": strings.ToUpper(text), "pid": os.Getpid()}, nil
	})
	sdk.Register("Fail", func(ctx *sdk.Context, in, _ map[string]any) (map[string]any, error) {
		return nil, sdk.Errorf("cannot shout %v", in["text"])
	})
	sdk.Register("Panic", func(ctx *sdk.Context, in, _ map[string]any) (map[string]any, error) {
		var items []int
		return map[string]any{"item": items[3]}, nil
	})
	sdk.Register("Chatty", func(ctx *sdk.Context, in, _ map[string]any) (map[string]any, error) {
		ctx.Progress(25, "a quarter")
		ctx.Log("warning", "careful")
		ctx.Progress(100, "done")
		return map[string]any{}, nil
	})
	sdk.Register("Sleep", func(ctx *sdk.Context, in, _ map[string]any) (map[string]any, error) {
		ms, _ := in["ms"].(float64)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return map[string]any{"pid": os.Getpid()}, nil
		}
	})
	sdk.Serve()
}
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gonodes")
    (folder / "go.mod").write_text(
        "module example.com/gonodes\n\ngo 1.24\n\nrequire atomiton.dev/sdk v0.0.0\n\n"
        f"replace atomiton.dev/sdk => {REPO / 'workers' / 'go'}\n"
    )
    (folder / "main.go").write_text(NODES_GO)
    return folder


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gocache")


@pytest.fixture
async def runtime(cache_dir: Path) -> AsyncIterator[GoRuntime]:
    rt = GoRuntime(cache_dir=cache_dir, pool_size=2)
    yield rt
    pids = rt.worker_pids
    await rt.aclose()
    for pid in pids:  # no worker outlives the runtime
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, str]] = []

    def progress(self, percent: float, message: str = "") -> None:
        self.events.append(("progress", percent, message))

    def log(self, message: str, level: str = "info") -> None:
        self.events.append(("log", level, message))


def node(package: Path, handler: str) -> NodeDefinition:
    return NodeDefinition(
        id=f"go-{handler.lower()}", runtime=RuntimeSpec("golang", ".", handler, path=str(package))
    )


def call(package: Path, handler: str, timeout_s: float | None = None, **inputs: Any) -> NodeCall:
    return NodeCall("run-1", "n1", node(package, handler), inputs, {}, timeout_s=timeout_s)


pytestmark = pytest.mark.toolchain("go")


async def test_success(runtime: GoRuntime, package: Path) -> None:
    result = await runtime.invoke(call(package, "Upper", text="héllo"), NullReporter())
    assert result.outputs["output"] == "HÉLLO"


async def test_error_carries_the_go_stack(runtime: GoRuntime, package: Path) -> None:
    with pytest.raises(NodeError, match="cannot shout 7") as caught:
        await runtime.invoke(call(package, "Fail", text=7), NullReporter())
    assert caught.value.error_type == "NodeError"
    assert "main.go" in caught.value.details["stack"]
    with pytest.raises(NodeError, match="index out of range") as panicked:
        await runtime.invoke(call(package, "Panic"), NullReporter())
    assert panicked.value.error_type == "panic"
    assert "main.main.func3" in panicked.value.details["stack"]


async def test_progress_and_logs_reach_the_reporter(runtime: GoRuntime, package: Path) -> None:
    reporter = Recorder()
    await runtime.invoke(call(package, "Chatty"), reporter)
    assert reporter.events == [
        ("progress", 25.0, "a quarter"),
        ("log", "warning", "careful"),
        ("progress", 100.0, "done"),
    ]


async def test_timeout_kills_and_replaces_the_worker(runtime: GoRuntime, package: Path) -> None:
    with pytest.raises(NodeTimeoutError, match=r"timed out after 0\.3 s"):
        await runtime.invoke(call(package, "Sleep", timeout_s=0.3, ms=10_000), NullReporter())
    result = await runtime.invoke(call(package, "Upper", text="again"), NullReporter())
    assert result.outputs["output"] == "AGAIN"


async def test_cancellation_stops_the_call(runtime: GoRuntime, package: Path) -> None:
    task = asyncio.create_task(runtime.invoke(call(package, "Sleep", ms=10_000), NullReporter()))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    result = await runtime.invoke(call(package, "Upper", text="next"), NullReporter())
    assert result.outputs["output"] == "NEXT"


async def test_worker_killed_mid_call_fails_only_that_call(
    runtime: GoRuntime, package: Path
) -> None:
    first = await runtime.invoke(call(package, "Upper", text="warm"), NullReporter())
    task = asyncio.create_task(runtime.invoke(call(package, "Sleep", ms=10_000), NullReporter()))
    await asyncio.sleep(0.3)
    os.kill(first.outputs["pid"], signal.SIGKILL)
    with pytest.raises(WorkerCrashedError, match="SIGKILL") as caught:
        await task
    assert caught.value.details["exit_status"] == -signal.SIGKILL
    after = await runtime.invoke(call(package, "Upper", text="alive"), NullReporter())
    assert after.outputs["output"] == "ALIVE"
    assert after.outputs["pid"] != first.outputs["pid"]


async def test_calls_run_concurrently_across_the_pool(runtime: GoRuntime, package: Path) -> None:
    await runtime.invoke(call(package, "Upper", text="warm"), NullReporter())
    started = time.monotonic()
    results = await asyncio.gather(
        *(runtime.invoke(call(package, "Sleep", ms=400), NullReporter()) for _ in range(4))
    )
    elapsed = time.monotonic() - started
    assert len({r.outputs["pid"] for r in results}) == 2
    assert elapsed < 1.5  # two rounds of 0.4 s on two workers, not four


async def test_second_use_does_not_rebuild(package: Path, tmp_path: Path) -> None:
    first = GoRuntime(cache_dir=tmp_path)
    await first.invoke(call(package, "Upper", text="a"), NullReporter())
    await first.aclose()
    assert first.builds == 1
    second = GoRuntime(cache_dir=tmp_path)
    await second.invoke(call(package, "Upper", text="b"), NullReporter())
    await second.aclose()
    assert second.builds == 0
    binaries = list((tmp_path / "go").glob("*/*"))
    assert [b.name for b in binaries] == [package.name]


async def test_concurrent_first_calls_build_once(package: Path, tmp_path: Path) -> None:
    rt = GoRuntime(cache_dir=tmp_path)
    await asyncio.gather(
        *(rt.invoke(call(package, "Upper", text="x"), NullReporter()) for _ in range(3))
    )
    await rt.aclose()
    assert rt.builds == 1


async def test_compile_errors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/broken\n\ngo 1.24\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    rt = GoRuntime(cache_dir=tmp_path / "cache")
    with pytest.raises(NodeError, match="undefined: undefinedThing") as caught:
        await rt.invoke(call(tmp_path, "Any"), NullReporter())
    assert caught.value.error_type == "GoBuildError"
    await rt.aclose()


async def test_example_go_nodes(runtime: GoRuntime) -> None:
    reverse, count = load_manifest(REPO / "examples" / "nodes" / "go" / "node.yaml")
    assert runtime.check(reverse) is None
    result = await runtime.invoke(
        NodeCall("r", "n", reverse, {"text": "héllo"}, {}), NullReporter()
    )
    assert result.outputs == {"output": "olléh"}
    reporter = Recorder()
    text = "the cat\nthe dog"
    counted = await runtime.invoke(NodeCall("r", "n", count, {"text": text}, {}), reporter)
    assert counted.outputs == {"counts": {"the": 2, "cat": 1, "dog": 1}, "distinct": 3}
    assert ("progress", 50.0, "line 1 of 2") in reporter.events


def test_check_explains_a_missing_toolchain(package: Path) -> None:
    rt = GoRuntime(go="no-such-go-binary")
    assert "needs the Go toolchain" in (rt.check(node(package, "Upper")) or "")


async def test_unknown_handler_is_explained(runtime: GoRuntime, package: Path) -> None:
    with pytest.raises(NodeError, match='no handler "Nope" is registered'):
        await runtime.invoke(call(package, "Nope"), NullReporter())


async def test_missing_package_is_unavailable(tmp_path: Path) -> None:
    rt = GoRuntime(cache_dir=tmp_path)
    with pytest.raises(RuntimeUnavailableError, match="does not exist"):
        await rt.invoke(call(tmp_path / "missing", "Upper"), NullReporter())


async def test_a_worker_sleeps_once_calls_stop(runtime: GoRuntime, package: Path) -> None:
    async def one(index: int) -> None:
        result = await runtime.invoke(call(package, "Upper", text=f"call {index}"), NullReporter())
        assert result.outputs["output"] == f"CALL {index}"

    await sleeps_once_calls_stop(one, lambda: runtime.worker_pids)


async def test_a_spin_window_that_is_not_a_number_stops_the_worker(
    package: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await refuses_a_spin_window_that_is_not_a_number(
        monkeypatch,
        lambda: GoRuntime(cache_dir=cache_dir, pool_size=1),
        lambda rt: rt.invoke(call(package, "Upper", text="x"), NullReporter()),
    )
