"""The ``wasm`` runtime: ABI, sandbox (files, memory, time), cancellation and the module cache.

The modules are small WAT programs written here, so every case needs only wasmtime; the Go-built
example node (examples/nodes/wasm) is exercised when the Go toolchain is present.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from atomiton.errors import NodeError, NodeTimeoutError
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.nodes.manifest import load_manifest
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.wasm import WasmRuntime

REPO = Path(__file__).resolve().parents[3]


def _bytes(text: str) -> tuple[str, int]:
    raw = text.encode()
    return "".join(f"\\{b:02x}" for b in raw), len(raw)


def _pack(ptr: str, length: str) -> str:
    return f"(i64.or (i64.shl (i64.extend_i32_u {ptr}) (i64.const 32)) (i64.extend_i32_u {length}))"


_PREFIX, _PREFIX_LEN = _bytes('{"outputs":{"request":')
_ALLOC = """
  (func (export "atomiton_alloc") (param $n i32) (result i32)
    (block $done (loop $grow
      (br_if $done (i32.le_u (i32.add (i32.const 4200) (i32.mul (local.get $n) (i32.const 2)))
                             (i32.mul (memory.size) (i32.const 65536))))
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
      (br $grow)))
    (i32.const 4096))
"""


def echo_wat(*, chatty: bool = False) -> str:
    """Answers ``{"outputs": {"request": <the request>}}``; ``chatty`` also logs and reports."""
    imports = report = ""
    if chatty:
        imports = """
  (import "atomiton" "log" (func $log (param i32 i32 i32)))
  (import "atomiton" "progress" (func $progress (param f64 i32 i32)))"""
        report = """
    (call $log (i32.const 1) (i32.const 80) (i32.const 7))
    (call $progress (f64.const 50) (i32.const 64) (i32.const 7))"""
    return f"""(module {imports}
  (memory (export "memory") 1)
  (data (i32.const 16) "{_PREFIX}")
  (data (i32.const 48) "}}}}")
  (data (i32.const 64) "halfway")
  (data (i32.const 80) "echoing")
  {_ALLOC}
  (func (export "atomiton_execute") (param $p i32) (param $n i32) (result i64)
    (local $out i32) {report}
    (local.set $out (i32.add (local.get $p) (local.get $n)))
    (memory.copy (local.get $out) (i32.const 16) (i32.const {_PREFIX_LEN}))
    (memory.copy (i32.add (local.get $out) (i32.const {_PREFIX_LEN})) (local.get $p) (local.get $n))
    (memory.copy (i32.add (local.get $out) (i32.add (i32.const {_PREFIX_LEN}) (local.get $n)))
                 (i32.const 48) (i32.const 2))
    {_pack("(local.get $out)", f"(i32.add (local.get $n) (i32.const {_PREFIX_LEN + 2}))")}))
"""


def constant_wat(answer: str) -> str:
    text, length = _bytes(answer)
    return f"""(module (memory (export "memory") 1) (data (i32.const 16) "{text}") {_ALLOC}
  (func (export "atomiton_execute") (param i32 i32) (result i64)
    {_pack("(i32.const 16)", f"(i32.const {length})")}))"""


def body_wat(body: str) -> str:
    """A module whose execute runs ``body`` (which never returns normally)."""
    return f"""(module (memory (export "memory") 1) {_ALLOC}
  (func (export "atomiton_execute") (param i32 i32) (result i64) {body} unreachable))"""


LOOP_FOREVER = body_wat("(loop $spin (br $spin))")


def logging_wat(data: dict[int, str], body: str) -> str:
    """A reactor module importing ``atomiton.log``, holding each ``data`` text at its offset, whose
    execute (params ``$p``, ``$n``: the request) runs ``body``."""
    segments = "\n".join(f'  (data (i32.const {at}) "{text}")' for at, text in data.items())
    return f"""(module
  (import "atomiton" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
{segments}
  {_ALLOC}
  (func (export "atomiton_execute") (param $p i32) (param $n i32) (result i64)
    {body}))
"""


_DONE, _DONE_LEN = _bytes('{"outputs":{"done":true}}')
QUADRATIC = logging_wat(
    {16: _DONE, 80: "working"},
    f"""(local $i i64) (local $limit i64)
    (call $log (i32.const 1) (i32.const 80) (i32.const 7))
    (local.set $limit (i64.mul (i64.extend_i32_u (local.get $n)) (i64.extend_i32_u (local.get $n))))
    (block $done (loop $spin
      (br_if $done (i64.ge_u (local.get $i) (local.get $limit)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $spin)))
    {_pack("(i32.const 16)", f"(i32.const {_DONE_LEN})")}""",
)
"""Logs "working", then spins (request length)² times: microseconds for a short request,
a large fraction of a second for a 15 kB one."""

_FAILED, _FAILED_LEN = _bytes('{"error":{"type":"ValueError","message":"request too long"}}')
FAILS_WHEN_LONG = logging_wat(
    {16: _DONE, 128: _FAILED, 1024: "checking"},
    f"""(call $log (i32.const 1) (i32.const 1024) (i32.const 8))
    (if (result i64) (i32.gt_u (local.get $n) (i32.const 1000))
      (then {_pack("(i32.const 128)", f"(i32.const {_FAILED_LEN})")})
      (else {_pack("(i32.const 16)", f"(i32.const {_DONE_LEN})")}))""",
)
"""Logs "checking"; answers done for a short request, fails for one over 1,000 bytes."""
MEMORY_BOMB = body_wat(
    "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))"
)

_OK, _OK_LEN = _bytes('{"outputs":{"content":"')
_ERR, _ERR_LEN = _bytes(
    '{"error":{"type":"FileSystemError","message":"cannot open secret.txt: WASI errno '
)
READ_SECRET = f"""(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "secret.txt")
  (data (i32.const 32) "{_OK}")
  (data (i32.const 64) "\\"}}}}")
  (data (i32.const 96) "{_ERR}")
  {_ALLOC}
  (func (export "atomiton_execute") (param i32 i32) (result i64)
    (local $errno i32) (local $len i32)
    (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 10)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 512)))
    (if (local.get $errno) (then
      (i32.store8 (i32.add (i32.const 96) (i32.const {_ERR_LEN}))
        (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
      (i32.store8 (i32.add (i32.const 97) (i32.const {_ERR_LEN}))
        (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
      (memory.copy (i32.add (i32.const 98) (i32.const {_ERR_LEN})) (i32.const 64) (i32.const 3))
      (return {_pack("(i32.const 96)", f"(i32.const {_ERR_LEN + 5})")})))
    (i32.store (i32.const 520) (i32.const {2048 + _OK_LEN}))
    (i32.store (i32.const 524) (i32.const 1000))
    (drop (call $read (i32.load (i32.const 512)) (i32.const 520) (i32.const 1) (i32.const 528)))
    (local.set $len (i32.load (i32.const 528)))
    (memory.copy (i32.const 2048) (i32.const 32) (i32.const {_OK_LEN}))
    (memory.copy (i32.add (i32.const {2048 + _OK_LEN}) (local.get $len))
                 (i32.const 64) (i32.const 3))
    {_pack("(i32.const 2048)", f"(i32.add (local.get $len) (i32.const {_OK_LEN + 3}))")}))
"""

COMMAND_ECHO = f"""(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 4096) "{_PREFIX}")
  (func (export "_start") (local $n i32)
    (i32.store (i32.const 0) (i32.const {4096 + _PREFIX_LEN}))
    (i32.store (i32.const 4) (i32.const 60000))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (i32.store16 (i32.add (i32.const {4096 + _PREFIX_LEN}) (local.get $n)) (i32.const 0x7d7d))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.add (local.get $n) (i32.const {_PREFIX_LEN + 2})))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, str]] = []

    def progress(self, percent: float, message: str = "") -> None:
        self.events.append(("progress", percent, message))

    def log(self, message: str, level: str = "info") -> None:
        self.events.append(("log", level, message))


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[WasmRuntime]:
    rt = WasmRuntime(cache_dir=tmp_path / "cache", pool_size=2)
    await rt.start()
    yield rt
    await rt.aclose()


def node(folder: Path, wat: str, **options: Any) -> NodeDefinition:
    (folder / "node.wat").write_text(wat)
    return NodeDefinition(
        id="wasm-test",
        runtime=RuntimeSpec("wasm", "node.wat", "run", path=str(folder), options=options),
    )


def call(definition: NodeDefinition, timeout_s: float | None = None, **parameters: Any) -> NodeCall:
    return NodeCall("run-1", "n1", definition, {"text": "hi"}, parameters, timeout_s=timeout_s)


async def test_echo_round_trip(runtime: WasmRuntime, tmp_path: Path) -> None:
    result = await runtime.invoke(call(node(tmp_path, echo_wat()), k=1), NullReporter())
    request = result.outputs["request"]
    assert request["inputs"] == {"text": "hi"}
    assert request["parameters"] == {"k": 1}
    assert (request["handler"], request["nodeId"], request["runId"]) == ("run", "n1", "run-1")


async def test_progress_and_logs_reach_the_reporter(runtime: WasmRuntime, tmp_path: Path) -> None:
    reporter = Recorder()
    await runtime.invoke(call(node(tmp_path, echo_wat(chatty=True))), reporter)
    assert reporter.events == [("log", "info", "echoing"), ("progress", 50.0, "halfway")]


async def test_node_error_keeps_type_message_and_stack(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    answer = '{"error":{"type":"ValueError","message":"text is empty","stack":"at reverse"}}'
    with pytest.raises(NodeError, match="text is empty") as caught:
        await runtime.invoke(call(node(tmp_path, constant_wat(answer))), NullReporter())
    assert caught.value.error_type == "ValueError"
    assert caught.value.details["stack"] == "at reverse"


async def test_ungranted_file_read_fails(runtime: WasmRuntime, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("classified")
    with pytest.raises(NodeError, match=r"cannot open secret\.txt: WASI errno 08") as caught:
        await runtime.invoke(call(node(tmp_path, READ_SECRET)), NullReporter())
    assert caught.value.error_type == "FileSystemError"


async def test_granted_directory_is_readable(runtime: WasmRuntime, tmp_path: Path) -> None:
    granted = tmp_path / "data"
    granted.mkdir()
    (granted / "secret.txt").write_text("classified")
    definition = node(tmp_path, READ_SECRET)
    result = await runtime.invoke(call(definition, allowDir=str(granted)), NullReporter())
    assert result.outputs == {"content": "classified"}
    option = node(tmp_path, READ_SECRET, allowDir="data")  # relative to the manifest folder
    assert (await runtime.invoke(call(option), NullReporter())).outputs == {"content": "classified"}


async def test_missing_granted_directory_is_explained(runtime: WasmRuntime, tmp_path: Path) -> None:
    definition = node(tmp_path, READ_SECRET)
    with pytest.raises(NodeError, match="not a directory"):
        await runtime.invoke(call(definition, allowDir=str(tmp_path / "nope")), NullReporter())


async def test_infinite_loop_hits_the_deadline(runtime: WasmRuntime, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(NodeTimeoutError, match=r"timeout of 0\.2 s"):
        await runtime.invoke(call(node(tmp_path, LOOP_FOREVER), timeout_s=0.2), NullReporter())
    assert time.monotonic() - started < 2


async def test_memory_bomb_hits_the_limit(runtime: WasmRuntime, tmp_path: Path) -> None:
    definition = node(tmp_path, MEMORY_BOMB, memoryLimitMb=8)
    with pytest.raises(NodeError, match="limit is 8 MiB") as caught:
        await runtime.invoke(call(definition), NullReporter())
    assert caught.value.error_type == "MemoryLimitExceeded"


async def test_module_larger_than_the_limit_does_not_start(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    big = '(module (memory (export "memory") 200))'
    with pytest.raises(NodeError, match="more memory than its limit of 4 MiB") as caught:
        await runtime.invoke(call(node(tmp_path, big, memoryLimitMb=4)), NullReporter())
    assert caught.value.error_type == "MemoryLimitExceeded"


async def test_cancellation_interrupts_the_module(runtime: WasmRuntime, tmp_path: Path) -> None:
    definition = node(tmp_path, LOOP_FOREVER)
    task = asyncio.create_task(runtime.invoke(call(definition), NullReporter()))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1
    (tmp_path / "echo").mkdir()
    echo = node(tmp_path / "echo", echo_wat())
    assert (await runtime.invoke(call(echo), NullReporter())).outputs["request"]["inputs"]


async def test_inline_calls_run_on_the_loop_with_a_budget(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    echo = node(tmp_path, echo_wat(), inline=True)
    assert (await runtime.invoke(call(echo), NullReporter())).outputs["request"]["nodeId"] == "n1"
    (tmp_path / "loop").mkdir()
    spin = node(tmp_path / "loop", LOOP_FOREVER, inline=True, inlineBudgetMs=100)
    with pytest.raises(NodeTimeoutError):
        await runtime.invoke(call(spin), NullReporter())


async def inline_after_fast_calls(
    runtime: WasmRuntime, definition: NodeDefinition, parameters: dict[str, Any] | None = None
) -> bool:
    """Call ``definition`` quickly until it runs inline (at most 200 calls): the streak of
    fast calls must be unbroken, which a loaded machine can delay."""
    quick = NodeCall("r", "n", definition, {"text": "hi"}, parameters or {})
    for _ in range(200):
        await runtime.invoke(quick, NullReporter())
        if runtime.runs_inline(definition):
            return True
    return False


async def test_a_fast_pure_node_moves_to_the_loop_and_a_slow_call_sends_it_back(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    """A reactor module without grants that keeps answering in microseconds runs inline; a call
    that then passes the 10 ms inline deadline runs again on a thread (its held-back log shown
    once) and the node stays on threads."""
    definition = node(tmp_path, QUADRATIC)
    assert not runtime.runs_inline(definition)
    assert await inline_after_fast_calls(runtime, definition)
    reporter = Recorder()
    slow = NodeCall("r", "n", definition, {"text": "x" * 15000}, {})
    assert (await runtime.invoke(slow, reporter)).outputs == {"done": True}
    assert reporter.events == [("log", "info", "working")]
    assert not runtime.runs_inline(definition)
    assert not await inline_after_fast_calls(runtime, definition)


async def test_an_inline_call_that_fails_still_reports_its_lines(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    definition = node(tmp_path, FAILS_WHEN_LONG)
    assert await inline_after_fast_calls(runtime, definition)
    reporter = Recorder()
    long = NodeCall("r", "n", definition, {"text": "x" * 2000}, {})
    with pytest.raises(NodeError, match="request too long"):
        await runtime.invoke(long, reporter)
    assert reporter.events == [("log", "info", "checking")]
    assert runtime.runs_inline(definition)  # a failure is the node's answer, not a slow call


async def test_nodes_whose_rerun_could_show_never_move_inline(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    """A granted directory (a re-run could write twice), the command ABI, or inline: false."""
    granted = tmp_path / "data"
    granted.mkdir()
    (granted / "secret.txt").write_text("classified")
    reader = node(tmp_path, READ_SECRET)
    assert not await inline_after_fast_calls(runtime, reader, {"allowDir": str(granted)})
    (tmp_path / "command").mkdir()
    assert not await inline_after_fast_calls(
        runtime, node(tmp_path / "command", COMMAND_ECHO, abi="command")
    )
    (tmp_path / "never").mkdir()
    assert not await inline_after_fast_calls(
        runtime, node(tmp_path / "never", echo_wat(), inline=False)
    )


async def test_command_abi_uses_stdin_and_stdout(runtime: WasmRuntime, tmp_path: Path) -> None:
    definition = node(tmp_path, COMMAND_ECHO, abi="command")
    result = await runtime.invoke(call(definition), NullReporter())
    assert result.outputs["request"]["inputs"] == {"text": "hi"}


async def test_concurrent_calls_use_separate_instances(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    definition = node(tmp_path, echo_wat())
    calls = [NodeCall("r", f"n{i}", definition, {"i": i}, {}) for i in range(8)]
    results = await asyncio.gather(*(runtime.invoke(c, NullReporter()) for c in calls))
    assert [r.outputs["request"]["inputs"]["i"] for r in results] == list(range(8))


async def test_compiled_modules_are_cached_on_disk(tmp_path: Path) -> None:
    definition = node(tmp_path, echo_wat())
    first = WasmRuntime(cache_dir=tmp_path / "cache")
    await first.invoke(call(definition), NullReporter())
    await first.aclose()
    assert (first.cache.stats.compiled, first.cache.stats.loaded) == (1, 0)
    second = WasmRuntime(cache_dir=tmp_path / "cache")
    await second.invoke(call(definition), NullReporter())
    await second.aclose()
    assert (second.cache.stats.compiled, second.cache.stats.loaded) == (0, 1)
    (tmp_path / "node.wat").write_text(echo_wat(chatty=True))  # changed source: compiled again
    os.utime(tmp_path / "node.wat", ns=(1, 1))
    third = WasmRuntime(cache_dir=tmp_path / "cache")
    await third.invoke(call(definition), Recorder())
    await third.aclose()
    assert third.cache.stats.compiled == 1


def test_check_explains_missing_and_bad_modules(tmp_path: Path) -> None:
    rt = WasmRuntime(cache_dir=tmp_path)
    missing = NodeDefinition("x", runtime=RuntimeSpec("wasm", "gone.wasm", path=str(tmp_path)))
    assert "does not exist" in (rt.check(missing) or "")
    wrong = NodeDefinition("x", runtime=RuntimeSpec("wasm", "node.js", path=str(tmp_path)))
    assert "not a .wasm or .wat file" in (rt.check(wrong) or "")
    (tmp_path / "ok.wat").write_text("(module)")
    ok = NodeDefinition("x", runtime=RuntimeSpec("wasm", "ok.wat", path=str(tmp_path)))
    assert rt.check(ok) is None


async def test_module_without_the_abi_exports_is_explained(
    runtime: WasmRuntime, tmp_path: Path
) -> None:
    with pytest.raises(NodeError, match="does not export 'memory'") as caught:
        await runtime.invoke(call(node(tmp_path, "(module)")), NullReporter())
    assert caught.value.hint
    assert "abi: command" in caught.value.hint


@pytest.mark.toolchain("go")
async def test_go_built_example_node(runtime: WasmRuntime, tmp_path: Path) -> None:
    example = REPO / "examples" / "nodes" / "wasm"
    if not (example / "textops.wasm").exists():
        subprocess.run(["bash", str(REPO / "scripts/setup.d/30-go-wasm.sh")], check=True, cwd=REPO)
    reverse, read_file = load_manifest(example / "node.yaml")
    result = await runtime.invoke(NodeCall("r", "n", reverse, {"text": "héllo"}, {}), Recorder())
    assert result.outputs == {"output": "olléh"}
    (tmp_path / "notes.txt").write_text("granted")
    path = str(tmp_path / "notes.txt")
    with pytest.raises(NodeError, match=r"notes\.txt"):
        await runtime.invoke(NodeCall("r", "n", read_file, {"path": path}, {}), NullReporter())
    granted = NodeCall("r", "n", read_file, {"path": path}, {"allowDir": str(tmp_path)})
    assert (await runtime.invoke(granted, NullReporter())).outputs == {"output": "granted"}
