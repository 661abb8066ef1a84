"""The ``wasm`` runtime: WebAssembly nodes run in-process in wasmtime, sandboxed.

Design notes (docs/runtimes-wasm.md is the user's version, with the ABI):

- **Sandbox.** A module sees WASI preview1 with no arguments, no environment, no inherited
  stdio, no sockets and no directories, unless the node grants one (``allowDir``); its linear
  memory is capped by a store limit; its time by an epoch deadline.
- **One engine per instance.** An epoch increment interrupts every store of an engine, so each
  pooled instance owns its engine: interrupting one call (timeout, cancellation) never touches
  another. Compiled code is shared through the on-disk module cache, which engines map in.
- **Warm instances.** The ``reactor`` ABI (exported ``atomiton_alloc``/``atomiton_execute``)
  reuses an instance across calls; an instance that trapped is discarded. The ``command`` ABI
  (JSON on stdin, JSON on stdout, ``_start``) instantiates per call.
- **Where a call runs.** On a worker thread by default (wasmtime releases the GIL, the event loop
  stays free, cancellation interrupts it). A thread hand-off costs ~50-80 µs, an inline call on
  the event loop thread ~5-7 µs, so a node that keeps answering in microseconds moves to the
  loop (:mod:`.inline`'s policy) when a re-run cannot be told from one run: a reactor module with
  no granted directory. Such an adaptive inline call runs under a 10 ms deadline; a call that
  passes it is interrupted, its progress and logs (held back) are dropped, it runs again on a
  thread, and the node stays on threads. ``inline: true`` always runs inline, capped by
  ``inlineBudgetMs``, past which the call fails; ``inline: false`` never does.
- **Fast calls.** ``wasmtime.Func.__call__`` re-reads the function type and boxes every value
  (~19 µs); :class:`.wasm_instance.RawFunc` calls the C API with a preallocated argument array
  (~1.5 µs). Memory is read and written through the C API too, and JSON goes through C
  encoders built once.
"""

from __future__ import annotations

import _json  # the C accelerators behind json, called directly on the hot path
import asyncio
import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import wasmtime

from atomiton.errors import NodeCancelledError, NodeError, NodeTimeoutError, ProtocolError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes.base import NodeCall, NodeResult
from atomiton.runtimes.caches import default_cache_dir
from atomiton.runtimes.inline import InlinePolicy
from atomiton.runtimes.wasm_instance import Grant, Instance, Interrupted, Watchdog
from atomiton.runtimes.wasm_modules import CacheStats, ModuleCache
from atomiton.runtimes.worker.framing import decode_body

ADAPTIVE_DEADLINE_S = 0.010
"""How long an adaptive inline call may hold the event loop before it is interrupted and run
again on a thread."""

_MIB = 1024 * 1024
_SUFFIXES = (".wasm", ".wat")

# The request's C encoder, built once (json.dumps builds one per call); no circularity markers.
_ENCODE = _json.make_encoder(
    None, str, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


class WasmRuntime:
    """Runs ``wasm`` nodes; ``runtime.options`` are listed in docs/runtimes-wasm.md."""

    def __init__(self, *, cache_dir: Path | None = None, pool_size: int | None = None) -> None:
        self.cache = ModuleCache((cache_dir or default_cache_dir()) / "wasm")
        self.pool_size = pool_size or os.cpu_count() or 2
        self._idle: dict[tuple[Path, Grant, int, str], list[Instance]] = {}
        self._checked: dict[tuple[str | None, str, str], Path] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._watchdog = Watchdog()
        self._inline: dict[tuple[Path, str], InlinePolicy] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        return ("wasm",)

    def check(self, definition: NodeDefinition) -> str | None:
        runtime = definition.runtime
        if not runtime.module:
            return f"node '{definition.id}': runtime.module must name a .wasm or .wat file"
        source = _module_path(definition)
        if source.suffix not in _SUFFIXES:
            return f"node '{definition.id}': {source} is not a .wasm or .wat file"
        if not source.is_file():
            return f"node '{definition.id}': module {source} does not exist (run scripts/setup)"
        abi = runtime.options.get("abi", "reactor")
        if abi not in ("reactor", "command"):
            return f"node '{definition.id}': abi {abi!r} is neither 'reactor' nor 'command'"
        return None

    async def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.pool_size, thread_name_prefix="atomiton-wasm")

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        definition = call.definition
        runtime, options = definition.runtime, definition.runtime.options
        abi, limit = str(options.get("abi", "reactor")), int(options.get("memoryLimitMb", 256))
        source = self._checked.get((runtime.path, runtime.module, abi))
        if source is None:  # the first call of a module: check it once (path work is slow)
            problem = self.check(definition)
            if problem is not None:
                raise NodeError(problem, node_id=call.node_id, error_type="WasmModuleError")
            source = self._checked[(runtime.path, runtime.module, abi)] = _module_path(definition)
        granted = "allowDir" in call.parameters or "allowDir" in options
        key = (source, _grant(call) if granted else _NO_GRANT, limit * _MIB, abi)
        request = {
            "handler": runtime.handler,
            "inputs": call.inputs,
            "parameters": call.parameters,
            "nodeId": call.node_id,
            "runId": call.run_id,
            "attempt": call.attempt,
        }
        encoded = "".join(_ENCODE(request, 0)).encode()
        timeout = call.timeout_s
        if timeout is None and definition.timeout_ms is not None:
            timeout = definition.timeout_ms / 1000
        instance = self._take_idle(key) or await self._create(key, call)
        option = options.get("inline")
        if option is True:
            budget = float(options.get("inlineBudgetMs", 50)) / 1000
            response, _ = self._run(
                instance, encoded, reporter, min(timeout or budget, budget), call
            )
            return _result(response, call)
        policy = None
        if option is None and abi == "reactor" and not granted:  # a re-run is invisible
            policy = self._inline.get((source, runtime.handler))
            if policy is None:
                policy = self._inline[(source, runtime.handler)] = InlinePolicy()
            if policy.inline:
                answer = self._try_inline(policy, instance, encoded, reporter, timeout, call)
                if answer is not None:
                    return _result(answer, call)
                # the interrupted instance is gone: another one runs the call again
                instance = self._take_idle(key) or await self._create(key, call)
        work = asyncio.get_running_loop().run_in_executor(
            self._executor, self._run, instance, encoded, reporter, timeout, call
        )
        try:
            response, seconds = await asyncio.shield(work)
        except asyncio.CancelledError:
            instance.interrupt("cancelled")  # the thread's call traps at its next check
            with contextlib.suppress(Exception):
                await asyncio.wait([work])
            raise
        if policy is not None:
            policy.observe(seconds)
        return _result(response, call)

    def runs_inline(self, definition: NodeDefinition) -> bool:
        """Whether calls of ``definition`` now run on the event loop thread (see the module
        notes): always with ``inline: true``, after a streak of fast calls when adaptive."""
        runtime = definition.runtime
        if runtime.options.get("inline") is not None:
            return runtime.options.get("inline") is True
        policy = self._inline.get((_module_path(definition), runtime.handler))
        return policy is not None and policy.inline

    def _try_inline(
        self,
        policy: InlinePolicy,
        instance: Instance,
        request: bytes,
        reporter: Reporter,
        timeout: float | None,
        call: NodeCall,
    ) -> bytes | None:
        """The adaptive inline attempt: the response, or None when the call passed
        ADAPTIVE_DEADLINE_S and must run again on a thread (the node then stays there)."""
        held = _HeldBack()
        own_deadline = timeout is not None and timeout <= ADAPTIVE_DEADLINE_S
        rerun = False
        try:
            response, seconds = self._run(
                instance, request, held, timeout if own_deadline else ADAPTIVE_DEADLINE_S, call
            )
        except NodeTimeoutError:
            if own_deadline:
                raise
            rerun = True
            policy.abandon()
            return None
        finally:
            if not rerun:  # the call's outcome stands, failures included: its lines too
                held.replay(reporter)
        policy.observe(seconds)
        return response

    def _take_idle(self, key: tuple[Path, Grant, int, str]) -> Instance | None:
        idle = self._idle.get(key)
        return idle.pop() if idle else None

    async def _create(self, key: tuple[Path, Grant, int, str], call: NodeCall) -> Instance:
        await self.start()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _create, key, self.cache, call)

    def _run(
        self,
        instance: Instance,
        request: bytes,
        reporter: Reporter,
        timeout: float | None,
        call: NodeCall,
    ) -> tuple[bytes, float]:
        """The call on ``instance``: its response and the seconds the module ran."""
        key = (instance.source, instance.grant, instance.memory_limit, instance.abi)
        if timeout is not None:
            self._watchdog.arm(instance, time.monotonic() + timeout)
        started = time.perf_counter()
        try:
            response = instance.call(request, reporter)
        except Interrupted as stop:
            if str(stop) == "timeout":
                raise NodeTimeoutError(
                    f"the WebAssembly call passed its timeout of {timeout:g} s and was interrupted",
                    node_id=call.node_id,
                    run_id=call.run_id,
                    details={"module": str(instance.source)},
                ) from None
            raise NodeCancelledError(
                "the WebAssembly call was cancelled", node_id=call.node_id
            ) from None
        finally:
            self._watchdog.disarm(instance)
        idle = self._idle.setdefault(key, [])
        if instance.interrupt_reason is None and len(idle) < self.pool_size:
            idle.append(instance)
        return response, time.perf_counter() - started

    async def aclose(self) -> None:
        self._idle.clear()
        self._watchdog.close()
        self._watchdog = Watchdog()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


class _HeldBack:
    """A reporter that keeps an adaptive inline attempt's progress and logs until it stands: an
    attempt cut short runs again on a thread, and its lines must not show twice."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[tuple[bool, Any, str]] = []

    def progress(self, percent: float, message: str = "") -> None:
        self.lines.append((True, percent, message))

    def log(self, message: str, level: str = "info") -> None:
        self.lines.append((False, message, level))

    def replay(self, reporter: Reporter) -> None:
        for is_progress, value, text in self.lines:
            if is_progress:
                reporter.progress(value, text)
            else:
                reporter.log(value, text)


def _module_path(definition: NodeDefinition) -> Path:
    runtime = definition.runtime
    return (Path(runtime.path or ".") / runtime.module).resolve()


_NO_GRANT = Grant()


def _grant(call: NodeCall) -> Grant:
    options = call.definition.runtime.options
    directory = call.parameters.get("allowDir")
    base = Path.cwd()
    if directory is None and options.get("allowDir") is not None:
        directory, base = options["allowDir"], Path(call.definition.runtime.path or ".")
    if directory is None:
        return Grant()
    path = (base / str(directory)).resolve()
    if not path.is_dir():
        raise NodeError(
            f"allowDir grants {path}, which is not a directory",
            node_id=call.node_id,
            error_type="WasmGrantError",
            hint="create the directory or fix the allowDir parameter",
        )
    writable = bool(call.parameters.get("allowWrite", options.get("allowWrite", False)))
    return Grant(str(path), writable)


def _create(key: tuple[Path, Grant, int, str], cache: ModuleCache, call: NodeCall) -> Instance:
    source, grant, memory_limit, abi = key
    try:
        return Instance(source, cache, grant, memory_limit, abi)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
        text = str(exc)
        if "limit" in text and "memory" in text:
            raise NodeError(
                f"the module needs more memory than its limit of {memory_limit // _MIB} MiB "
                f"to start: {text.splitlines()[0]}",
                node_id=call.node_id,
                error_type="MemoryLimitExceeded",
                hint="raise runtime.options.memoryLimitMb",
            ) from None
        raise NodeError(
            f"cannot load WebAssembly module {source}: {text}",
            node_id=call.node_id,
            error_type="WasmModuleError",
            hint="check that the module targets wasm32 with WASI preview1 (docs/runtimes-wasm.md)",
        ) from None


def _result(response: bytes, call: NodeCall) -> NodeResult:
    try:
        data = decode_body(response)  # the worker protocol's decoder: one JSON object
    except ProtocolError:
        raise NodeError(
            f"the module answered {response[:200]!r}; expected a JSON object with outputs/error",
            node_id=call.node_id,
            error_type="WasmAbiError",
        ) from None
    error = data.get("error")
    if isinstance(error, dict):
        details = {"stack": error["stack"]} if "stack" in error else {}
        raise NodeError(
            str(error.get("message", "the node failed")),
            node_id=call.node_id,
            run_id=call.run_id,
            error_type=str(error.get("type", "Error")),
            details=details,
        )
    outputs = data.get("outputs")
    if type(outputs) is not dict:
        raise NodeError(
            "the module's response has no 'outputs' object",
            node_id=call.node_id,
            error_type="WasmAbiError",
        )
    return NodeResult(outputs=outputs)  # a fresh dict from the decoder: no copy needed


__all__ = ["CacheStats", "Grant", "ModuleCache", "WasmRuntime", "default_cache_dir"]
