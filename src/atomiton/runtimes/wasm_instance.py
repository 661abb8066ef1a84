"""One sandboxed WebAssembly instance, the fast call into it, and the watchdog that interrupts
it: the machinery under :mod:`atomiton.runtimes.wasm` (whose docstring holds the design notes).
"""

from __future__ import annotations

import ctypes
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _bindings  # the ctypes functions themselves, without their wrappers
from wasmtime import _ffi as ffi  # the C API, for the fast call path (see RawFunc)

from atomiton.errors import NodeError
from atomiton.nodes.context import LOG_LEVELS, Reporter
from atomiton.runtimes.wasm_modules import ModuleCache

_MIB = 1024 * 1024
_PAGE = 65536
_TAIL_BYTES = 4096
_CALL_UNCHECKED = _bindings._wasmtime_func_call_unchecked
_MEMORY_DATA = _bindings._wasmtime_memory_data
_MEMORY_SIZE = _bindings._wasmtime_memory_data_size


@dataclass(frozen=True, slots=True)
class Grant:
    """The host directory a call may use (seen by the module at the same absolute path)."""

    directory: str | None = None
    writable: bool = False


def new_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    return wasmtime.Engine(config)


class RawFunc:
    """An exported function called through wasmtime's unchecked C entry point.

    The signature is checked once, here. Each call writes raw values into a preallocated array
    and calls the ctypes function itself (not its Python wrapper) with argument objects built
    once. Raises ``wasmtime.Trap`` or ``wasmtime.WasmtimeError`` (``ExitTrap``) like the public
    API does.
    """

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, signature: str) -> None:
        ty = func.type(store)
        got = "".join(str(t)[0] for t in ty.params) + "->" + "".join(str(t)[0] for t in ty.results)
        if got != signature:
            raise ValueError(f"expected signature {signature}, got {got}")
        self._raw = (ffi.wasmtime_val_raw * max(len(ty.params), len(ty.results), 1))()
        self._context = store._context()
        self._func = ctypes.byref(func._func)
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)

    def __call__(self, *args: int) -> int:
        raw = self._raw
        for i, arg in enumerate(args):
            raw[i].i32 = arg
        error = _CALL_UNCHECKED(self._context, self._func, raw, len(raw), self._trap_ref)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        if self._trap:
            trap = self._trap
            self._trap = ctypes.POINTER(ffi.wasm_trap_t)()  # the next call starts from NULL
            self._trap_ref = ctypes.byref(self._trap)
            raise wasmtime.Trap._from_ptr(trap)
        return int(raw[0].i64)


class Interrupted(Exception):
    pass


class Instance:
    """One engine, store and instance: runs one call at a time; discarded after any trap."""

    def __init__(
        self, source: Path, cache: ModuleCache, grant: Grant, memory_limit: int, abi: str
    ) -> None:
        self.source, self.grant, self.memory_limit, self.abi = source, grant, memory_limit, abi
        self.engine = new_engine()
        self.module = cache.load(source, self.engine)
        self.reporter: Reporter | None = None
        self.interrupt_reason: str | None = None
        self.deadline = 0.0
        self.tail: deque[bytes] = deque(maxlen=64)
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self._define_host_functions()
        self._buffer, self._capacity = 0, 0
        if abi == "reactor":
            self.store = self._new_store(None)
            instance = self.linker.instantiate(self.store, self.module)
            exports = instance.exports(self.store)
            init = exports.get("_initialize")
            if isinstance(init, wasmtime.Func):
                init(self.store)
            self.memory = self._export(exports, "memory", wasmtime.Memory)
            self._memory_ref = (self.store._context(), ctypes.byref(self.memory._memory))
            self._base = self._size = 0
            self._map_memory()
            self._alloc = RawFunc(self.store, self._export(exports, "atomiton_alloc"), "i->i")
            self._execute = RawFunc(self.store, self._export(exports, "atomiton_execute"), "ii->i")

    def _export(self, exports: Any, name: str, kind: type = wasmtime.Func) -> Any:
        item = exports.get(name)
        if not isinstance(item, kind):
            raise NodeError(
                f"module {self.source} does not export '{name}' ({kind.__name__}), which the "
                f"'reactor' ABI needs",
                error_type="WasmAbiError",
                hint="export atomiton_alloc and atomiton_execute (docs/runtimes-wasm.md), "
                "or set runtime.options.abi: command for a WASI program reading stdin",
            )
        return item

    def _new_store(self, stdin: str | None) -> wasmtime.Store:
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=self.memory_limit)
        store.set_epoch_deadline(1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [self.source.name]
        wasi.stdout_custom = self._on_stdout
        wasi.stderr_custom = self._on_stderr
        if stdin is not None:
            wasi.stdin_file = stdin
        if self.grant.directory is not None:
            wasi.preopen_dir(self.grant.directory, self.grant.directory, self.grant.writable)
        store.set_wasi(wasi)
        return store

    def _define_host_functions(self) -> None:
        i32, f64 = wasmtime.ValType.i32(), wasmtime.ValType.f64()

        def text(caller: wasmtime.Caller, ptr: int, length: int) -> str:
            memory = caller.get("memory")
            assert isinstance(memory, wasmtime.Memory)
            return memory.read(caller, ptr, ptr + length).decode("utf-8", "replace")

        def log(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
            if self.reporter is not None:
                name = LOG_LEVELS[level] if 0 <= level < len(LOG_LEVELS) else "info"
                self.reporter.log(text(caller, ptr, length), name)

        def progress(caller: wasmtime.Caller, percent: float, ptr: int, length: int) -> None:
            if self.reporter is not None:
                self.reporter.progress(percent, text(caller, ptr, length))

        self.linker.define_func(
            "atomiton", "log", wasmtime.FuncType([i32, i32, i32], []), log, access_caller=True
        )
        self.linker.define_func(
            "atomiton", "progress", wasmtime.FuncType([f64, i32, i32], []), progress, True
        )

    def _on_stdout(self, data: bytes) -> None:
        if self.abi == "command":
            self._stdout.append(data)
        else:
            self._on_stderr(data)

    def _on_stderr(self, data: bytes) -> None:
        self.tail.append(data)
        if self.reporter is not None and self.abi == "reactor":
            self.reporter.log(data.decode("utf-8", "replace").rstrip("\n"), "debug")

    def interrupt(self, reason: str) -> None:
        """Stop the running call from any thread: its next epoch check traps."""
        self.interrupt_reason = reason
        self.engine.increment_epoch()

    def call(self, request: bytes, reporter: Reporter) -> bytes:
        """Run one request; return the response bytes or raise a NodeError / Interrupted."""
        self.reporter = reporter
        try:
            if self.abi == "command":
                return self._call_command(request)
            return self._call_reactor(request)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._failure(exc) from None
        finally:
            self.reporter = None

    def _call_reactor(self, request: bytes) -> bytes:
        # The store's deadline is "one tick past now", set at creation: the epoch only moves
        # to interrupt, and an interrupted instance is never reused.
        size = len(request)
        if size > self._capacity:
            self._buffer, self._capacity = self._alloc(size), size
            self._map_memory()  # alloc may have grown the memory
        if not 0 <= self._buffer <= self._size - size:
            raise self._abi_error(f"atomiton_alloc returned {self._buffer}, outside memory")
        ctypes.memmove(self._base + self._buffer, request, size)
        packed = self._execute(self._buffer, size)
        self._map_memory()  # the call may have grown the memory
        out_ptr, out_len = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        if out_ptr + out_len > self._size:
            raise self._abi_error(f"atomiton_execute returned bytes {out_ptr}+{out_len}")
        return ctypes.string_at(self._base + out_ptr, out_len)

    def _map_memory(self) -> None:
        """Look the memory's address up (C API, no wrappers) if it grew: only growing moves it."""
        size = _MEMORY_SIZE(*self._memory_ref)
        if size != self._size:
            self._size = size
            self._base = ctypes.cast(_MEMORY_DATA(*self._memory_ref), ctypes.c_void_p).value or 0

    def _call_command(self, request: bytes) -> bytes:
        self._stdout: list[bytes] = []
        with tempfile.NamedTemporaryFile(suffix=".json") as stdin:
            stdin.write(request)
            stdin.flush()
            self.store = self._new_store(stdin.name)
            instance = self.linker.instantiate(self.store, self.module)
            exports = instance.exports(self.store)
            self.memory = exports.get("memory")
            start = self._export(exports, "_start")
            try:
                start(self.store)
            except wasmtime.ExitTrap as exc:
                if exc.code != 0:
                    raise
        return b"".join(self._stdout)

    def _abi_error(self, message: str) -> NodeError:
        return NodeError(f"module {self.source}: {message}", error_type="WasmAbiError")

    def _failure(self, exc: Exception) -> Exception:
        stderr = b"".join(self.tail).decode("utf-8", "replace")[-_TAIL_BYTES:]
        details: dict[str, Any] = {"module": str(self.source), "stderr": stderr}
        trap = exc if isinstance(exc, wasmtime.Trap) else None
        if trap is not None and trap.trap_code == wasmtime.TrapCode.INTERRUPT:
            return Interrupted(self.interrupt_reason or "interrupted")
        if trap is not None:
            details["stack"] = "\n".join(
                f"  at {f.func_name or f'func[{f.func_index}]'} ({f.module_name or 'wasm'}"
                f"+{f.module_offset:#x})"
                for f in trap.frames
            )
        if self._near_memory_limit():
            return NodeError(
                f"the module ran out of memory: its limit is {self.memory_limit // _MIB} MiB "
                "and memory.grow failed",
                error_type="MemoryLimitExceeded",
                details=details,
                hint="raise runtime.options.memoryLimitMb if the node really needs more",
            )
        if isinstance(exc, wasmtime.ExitTrap):
            return NodeError(
                f"the module exited with status {exc.code}"
                + (f": {stderr.strip()}" if stderr else ""),
                error_type="WasmExit",
                details=details,
            )
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return NodeError(f"WebAssembly {lines[-1]}", error_type="WasmTrap", details=details)

    def _near_memory_limit(self) -> bool:
        memory = getattr(self, "memory", None)
        if not isinstance(memory, wasmtime.Memory):
            return False
        # A failed memory.grow is not a trap; the trap (or exit) follows it. Memory within a
        # sixteenth of the limit when the module died is the sign that growing failed.
        margin = max(16 * _PAGE, self.memory_limit // 16)
        return bool(memory.data_len(self.store) + margin > self.memory_limit)


class Watchdog:
    """One thread that interrupts instances whose deadline passed; it ticks only while armed."""

    def __init__(self, tick_s: float = 0.005) -> None:
        self._armed: dict[int, Instance] = {}
        self._wake = threading.Event()
        self._tick = tick_s
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, instance: Instance, deadline: float) -> None:
        instance.deadline = deadline
        self._armed[id(instance)] = instance
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="atomiton-wasm-watchdog", daemon=True
            )
            self._thread.start()
        if not self._wake.is_set():
            self._wake.set()

    def disarm(self, instance: Instance) -> None:
        self._armed.pop(id(instance), None)

    def _run(self) -> None:
        while not self._closed:
            self._wake.clear()  # before looking, so that an arm() in between is not lost
            if not self._armed:
                self._wake.wait()
                continue
            now = time.monotonic()
            for instance in list(self._armed.values()):
                if instance.deadline <= now:
                    self._armed.pop(id(instance), None)
                    instance.interrupt("timeout")
            time.sleep(self._tick)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
