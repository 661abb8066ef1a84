"""The isolated Python worker: ``python -m atomiton.runtimes._python_worker``.

Speaks the worker protocol (docs/worker-protocol.md) on stdin/stdout. A reader thread decodes
frames and answers the cheap requests itself; ``execute`` calls go through a queue to the main
thread, which runs them one at a time, so a ``cancel`` can arrive while a node runs (the node
sees ``ctx.cancelled`` turn true). File descriptor 1 is moved aside at start-up and replaced by
stderr, so a node's ``print`` (or a C library's) cannot corrupt the protocol stream.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import queue
import sys
import threading
import traceback
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from atomiton.errors import ProtocolError
from atomiton.runtimes.worker import rpc
from atomiton.runtimes.worker.framing import FrameDecoder, encode_frame
from atomiton.runtimes.worker.outputs import outputs_from_return
from atomiton.runtimes.worker.refs import encode_value, resolve_value

WORKER_VERSION = "1.0.0"
_STOP: dict[str, Any] = {}


class HandlerError(Exception):
    """The module or handler named by an ``execute`` request cannot be found."""


class _Context:
    """The NodeContext a node function sees inside the worker."""

    def __init__(self, worker: _Worker, request_id: int, params: Mapping[str, Any]) -> None:
        self._worker = worker
        self._request_id = request_id
        self.run_id = str(params.get("runId", ""))
        self.node_id = str(params.get("nodeId", ""))
        self.attempt = int(params.get("attempt", 1))
        self.artifact_dir = Path(str(params.get("artifactDir", ".")))
        self.variables: Mapping[str, Any] = params.get("variables") or {}
        self.cancelled = False
        """Set by the reader thread when a ``cancel`` for this call arrives."""

    def progress(self, percent: float, message: str = "") -> None:
        params = {"requestId": self._request_id, "percent": float(percent), "message": message}
        self._worker.send({"jsonrpc": "2.0", "method": "progress", "params": params})

    def log(self, message: str, level: str = "info") -> None:
        params = {"requestId": self._request_id, "level": level, "message": str(message)}
        self._worker.send({"jsonrpc": "2.0", "method": "log", "params": params})


class _Worker:
    def __init__(self, stdin_fd: int, stdout: BinaryIO) -> None:
        self._fd = stdin_fd
        self._out = stdout
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._current: _Context | None = None
        self._handlers: dict[tuple[str, str], _Plan] = {}

    def send(self, message: Mapping[str, Any]) -> None:
        frame = encode_frame(message)
        with self._lock:
            self._out.write(frame)
            self._out.flush()

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

    def read_loop(self) -> None:
        decoder = FrameDecoder()
        try:
            while data := os.read(self._fd, 1 << 16):
                for message in decoder.feed(data):
                    if self._dispatch(message):
                        return
        except ProtocolError as exc:
            self.fail(None, rpc.PARSE_ERROR, f"parse error: {exc.message}")
        finally:
            self._calls.put(_STOP)

    def _dispatch(self, message: dict[str, Any]) -> bool:
        """Handle one message on the reader thread; True when the worker should stop."""
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
            self._calls.put(message)
        elif method == "cancel":
            current = self._current
            if current is not None and current._request_id == params.get("requestId"):
                current.cancelled = True
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

    def run(self) -> None:
        threading.Thread(target=self.read_loop, name="protocol-reader", daemon=True).start()
        while (message := self._calls.get()) is not _STOP:
            self._execute(message["id"], message["params"])

    def _execute(self, request_id: int, params: dict[str, Any]) -> None:
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
            if ctx.cancelled:
                self.fail(request_id, rpc.CANCELLED, f"request {request_id} was cancelled", exc)
            else:
                self.fail(request_id, rpc.NODE_FAILED, f"{type(exc).__qualname__}: {exc}", exc)
        else:
            if ctx.cancelled:
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
        if self.is_async or inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return value


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _is_context(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "NodeContext"
    return getattr(annotation, "__name__", None) == "NodeContext" and "atomiton" in getattr(
        annotation, "__module__", ""
    )


def main() -> int:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # fd 1 is now stderr: a node's prints cannot reach the protocol stream
    sys.stdout = sys.stderr
    worker = _Worker(0, protocol_out)
    try:
        worker.run()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
