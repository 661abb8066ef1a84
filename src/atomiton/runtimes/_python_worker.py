"""The isolated Python worker: ``python -m atomiton.runtimes._python_worker``.

Speaks the worker protocol (docs/worker-protocol.md) on stdin/stdout. One thread does it all:
it reads a frame, runs the call, writes the answer with one ``os.write``; no thread hand-off per
call (that cost ~20-40 µs of a warm round trip). Having answered, it polls stdin for the next
request for up to ``ATOMITON_WORKER_SPIN_US`` before it blocks (:class:`busypoll.IdleSpin`), so
back-to-back calls find it awake. A ``cancel`` that arrives while a node runs is
read when the node asks: ``ctx.cancelled`` polls stdin without blocking (at most once a
millisecond) and turns true when the cancel for its call is there; other messages read that way
wait in the inbox until the call ends. A node that never asks is stopped by the engine, which
kills the worker's process group when the cancel's grace period ends.

File descriptor 1 is moved aside at start-up and replaced by stderr, so a node's ``print`` (or a
C library's) cannot corrupt the protocol stream.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import os
import select
import sys
import threading
import time
import traceback
import typing
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atomiton.errors import ProtocolError
from atomiton.runtimes.worker import busypoll, rpc
from atomiton.runtimes.worker.framing import FrameDecoder, encode_frame
from atomiton.runtimes.worker.outputs import outputs_from_return
from atomiton.runtimes.worker.refs import encode_value, resolve_value

WORKER_VERSION = "1.0.0"
CANCEL_POLL_S = 0.001
"""``ctx.cancelled`` looks at stdin at most this often (a poll is a system call)."""


class HandlerError(Exception):
    """The module or handler named by an ``execute`` request cannot be found."""


class _Context:
    """The NodeContext a node function sees inside the worker."""

    def __init__(self, worker: _Worker, request_id: Any, params: Mapping[str, Any]) -> None:
        self._worker = worker
        self._request_id = request_id
        self.run_id = str(params.get("runId", ""))
        self.node_id = str(params.get("nodeId", ""))
        self.attempt = int(params.get("attempt", 1))
        self.artifact_dir = _path(str(params.get("artifactDir", ".")))
        self.variables: Mapping[str, Any] = params.get("variables") or {}
        self._cancelled = False
        self._polled = 0.0

    @property
    def cancelled(self) -> bool:
        """True once a ``cancel`` for this call has arrived (stdin is polled on demand)."""
        if not self._cancelled and time.monotonic() - self._polled >= CANCEL_POLL_S:
            self._polled = time.monotonic()
            self._worker.poll()
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True

    def progress(self, percent: float, message: str = "") -> None:
        params = {"requestId": self._request_id, "percent": float(percent), "message": message}
        self._worker.send({"jsonrpc": "2.0", "method": "progress", "params": params})

    def log(self, message: str, level: str = "info") -> None:
        params = {"requestId": self._request_id, "level": level, "message": str(message)}
        self._worker.send({"jsonrpc": "2.0", "method": "log", "params": params})


class _Worker:
    def __init__(self, stdin_fd: int, stdout_fd: int) -> None:
        self._in = stdin_fd
        self._out = stdout_fd
        self._decoder = FrameDecoder()
        self._inbox: deque[dict[str, Any]] = deque()
        self._eof = False
        self._write_lock = threading.Lock()  # a node's threads may report progress at once
        self._poll_lock = threading.Lock()
        self._current: _Context | None = None
        self._handlers: dict[tuple[str, str], _Plan] = {}
        self._idle = busypoll.IdleSpin(stdin_fd, busypoll.spin_seconds())

    def send(self, message: Mapping[str, Any]) -> None:
        frame = encode_frame(message)
        with self._write_lock:
            sent = os.write(self._out, frame)  # all of it, but for a frame larger than the pipe
            view = memoryview(frame)[sent:]
            while view:
                view = view[os.write(self._out, view) :]

    def reply(self, request_id: Any, result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def fail(
        self, request_id: Any, code: int, message: str, exc: BaseException | None = None
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if exc is not None:
            stack = "".join(traceback.format_exception(exc))
            error["data"] = {"type": type(exc).__qualname__, "message": str(exc), "stack": stack}
        self.send({"jsonrpc": "2.0", "id": request_id, "error": error})

    def run(self) -> None:
        """Serve until ``exit`` or the end of stdin."""
        try:
            while True:
                while self._inbox:
                    if self._dispatch(self._inbox.popleft()):
                        return
                if self._eof:
                    return
                self._idle.wait()  # for the next request, a moment before blocking
                if not self._read(block=True):
                    return
        except ProtocolError as exc:
            self.fail(None, rpc.PARSE_ERROR, f"parse error: {exc.message}")

    def _read(self, *, block: bool) -> bool:
        """Read what stdin has into the inbox (waiting for it if ``block``); False at its end."""
        if not block and not select.select([self._in], [], [], 0)[0]:
            return True
        data = os.read(self._in, 1 << 16)
        if not data:
            self._eof = True
            return False
        self._inbox.extend(self._decoder.feed(data))
        return True

    def poll(self) -> None:
        """While a node runs: take in whatever arrived; a ``cancel`` for it takes effect now."""
        if self._eof or not self._poll_lock.acquire(blocking=False):
            return
        try:
            self._read(block=False)
        except ProtocolError:
            self._eof = True  # the stream is garbage: finish this call, then stop
        finally:
            self._poll_lock.release()
        current = self._current
        for message in list(self._inbox):
            params = message.get("params")
            if message.get("method") == "cancel" and isinstance(params, dict):
                self._inbox.remove(message)
                if current is not None and current._request_id == params.get("requestId"):
                    current.cancel()

    def _dispatch(self, message: dict[str, Any]) -> bool:
        """Handle one message; True when the worker should stop."""
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if (
            message.get("jsonrpc") != "2.0"
            or not isinstance(method, str)
            or not isinstance(params, dict)
        ):
            self.fail(
                request_id,
                rpc.INVALID_REQUEST,
                "invalid request: expected JSON-RPC 2.0 with a method",
            )
        elif method == "execute":
            self._execute(request_id, params)
        elif method == "cancel":
            pass  # for a call that already ended
        elif method == "initialize":
            self._initialize(request_id, params)
        elif method == "shutdown":
            self.reply(request_id, None)
        elif method == "exit":
            return True
        elif request_id is not None:
            self.fail(request_id, rpc.METHOD_NOT_FOUND, f"method not found: {method!r}")
        return False

    def _initialize(self, request_id: Any, params: Mapping[str, Any]) -> None:
        version = str(params.get("protocolVersion", ""))
        if version.split(".")[0] != rpc.PROTOCOL_VERSION.split(".")[0]:
            message = (
                f"protocol version {version!r} is not supported; "
                f"this worker speaks {rpc.PROTOCOL_VERSION}"
            )
            self.fail(request_id, rpc.INVALID_REQUEST, message)
            return
        self.reply(
            request_id,
            {
                "protocolVersion": rpc.PROTOCOL_VERSION,
                "worker": {
                    "name": "atomiton-python-worker",
                    "language": "python",
                    "version": WORKER_VERSION,
                    "pid": os.getpid(),
                },
                "capabilities": {"cancel": True, "progress": True, "logs": True},
                "nodes": [],
            },
        )

    def _execute(self, request_id: Any, params: dict[str, Any]) -> None:
        ctx = _Context(self, request_id, params)
        self._current = ctx
        try:
            handler = self._handler(str(params.get("module", "")), str(params.get("handler", "")))
            artifact_dir = ctx.artifact_dir
            arguments = {
                **resolve_value(params.get("parameters") or {}, artifact_dir),
                **resolve_value(params.get("inputs") or {}, artifact_dir),
            }
            value = handler(arguments, ctx)
            outputs = outputs_from_return(value, params.get("outputPorts") or ())
            result = {"outputs": encode_value(outputs, artifact_dir)}
        except HandlerError as exc:
            self.fail(request_id, rpc.UNKNOWN_NODE, str(exc), exc)
        except Exception as exc:
            if ctx._cancelled:
                self.fail(request_id, rpc.CANCELLED, f"request {request_id} was cancelled", exc)
            else:
                self.fail(request_id, rpc.NODE_FAILED, f"{type(exc).__qualname__}: {exc}", exc)
        else:
            if ctx._cancelled:
                self.fail(request_id, rpc.CANCELLED, f"request {request_id} was cancelled")
            else:
                self.reply(request_id, result)
        finally:
            self._current = None

    def _handler(self, module: str, qualname: str) -> _Plan:
        key = (module, qualname)
        if key not in self._handlers:
            self._handlers[key] = _Plan(_load_handler(module, qualname))
        return self._handlers[key]


@functools.lru_cache(maxsize=256)
def _path(text: str) -> Path:
    """Path objects cost microseconds to build; a run's calls share one artifact dir."""
    return Path(text)


def _load_handler(module: str, qualname: str) -> Callable[..., Any]:
    if not module or not qualname:
        raise HandlerError(
            f"execute needs a module and a handler, got module={module!r} handler={qualname!r}"
        )
    try:
        if module.endswith(".py") or os.sep in module:
            name = "atomiton_isolated_" + str(abs(hash(module)))
            spec = importlib.util.spec_from_file_location(name, module)
            if spec is None or spec.loader is None:
                raise HandlerError(f"cannot load Python file {module!r}")
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        else:
            loaded = importlib.import_module(module)
    except (ImportError, FileNotFoundError) as exc:
        raise HandlerError(f"cannot import node module {module!r}: {exc}") from exc
    target: Any = loaded
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise HandlerError(
                f"module {module!r} has no attribute {qualname!r} (missing {part!r})"
            )
        target = getattr(target, part)
    if not callable(target):
        raise HandlerError(f"{module}:{qualname} is a {type(target).__name__}, not a function")
    return typing.cast(Callable[..., Any], target)


class _Plan:
    """How to call one handler: which arguments it takes, where the NodeContext goes."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.function = inspect.unwrap(handler)
        signature = inspect.signature(self.function)
        try:
            hints = typing.get_type_hints(self.function)
        except Exception:  # unresolvable annotations: fall back to their text
            hints = {}
        self.context: list[str] = []
        self.names: list[str] = []
        self.takes_all = False
        for name, param in signature.parameters.items():
            if _is_context(hints.get(name, param.annotation)):
                self.context.append(name)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                self.takes_all = True
            elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
                self.names.append(name)
        self.is_async = inspect.iscoroutinefunction(self.function)

    def __call__(self, arguments: dict[str, Any], ctx: _Context) -> Any:
        """``handler(**arguments)`` filtered to its parameters, plus the NodeContext."""
        if self.takes_all:
            kwargs = {k: v for k, v in arguments.items() if k not in self.context}
        else:
            kwargs = {k: arguments[k] for k in self.names if k in arguments}
        for name in self.context:
            kwargs[name] = ctx
        value = self.function(**kwargs)
        if self.is_async or (type(value) not in _PLAIN and inspect.isawaitable(value)):
            value = _async_calls.result(value)
        return value


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, type(None)})
"""What most nodes return: no need to ask whether it is awaitable."""


class _AsyncCalls:
    """Runs what async nodes return on one event loop, kept for the worker's life.

    ``asyncio.run`` per call built and tore down a loop each time (~100 µs of a warm call). As
    with ``asyncio.run``, each call runs in a fresh copy of the context, and the tasks it leaves
    behind are cancelled (and awaited) before its answer goes out.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def result(self, awaitable: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        loop = self._loop
        call = loop.create_task(_awaited(awaitable))  # in a copy of the current context
        try:
            return loop.run_until_complete(call)
        finally:
            if leftovers := asyncio.all_tasks(loop):
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()


_async_calls = _AsyncCalls()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _is_context(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "NodeContext"
    return getattr(annotation, "__name__", None) == "NodeContext" and "atomiton" in getattr(
        annotation, "__module__", ""
    )


def main() -> int:
    protocol_out = os.dup(1)
    os.dup2(2, 1)  # fd 1 is now stderr: a node's prints cannot reach the protocol stream
    sys.stdout = sys.stderr
    try:
        worker = _Worker(0, protocol_out)
    except ValueError as exc:  # ATOMITON_WORKER_SPIN_US is not a number
        print(f"atomiton Python worker: {exc}", file=sys.stderr)
        return 2
    try:
        worker.run()
    except KeyboardInterrupt:
        return 130
    finally:
        _async_calls.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
