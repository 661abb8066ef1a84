"""The ``rust`` runtime: native nodes in PyO3 extension modules, called in-process.

A Rust node names an extension module importable from the environment (built with maturin, e.g.
``atomiton_native`` from ``native/``) and a function in it. Every handler follows one calling
convention::

    handler(inputs: dict, parameters: dict[, context]) -> dict of outputs

and resolves a name from ``inputs`` first, then ``parameters`` (as ``NodeCall.arguments()``
merges them). The module is imported once; handler lookups are cached per definition.

Two ways to call, chosen per node by ``runtime.options``:

- default: on this runtime's thread pool, so the event loop keeps going while the handler
  works (the handler releases the GIL with ``py.detach``). Costs a thread hand-off (tens of µs).
- ``inline: true``: directly on the event loop, for handlers that finish in microseconds; the
  per-call cost is then about a microsecond. Inline calls cannot time out or be cancelled.

``context: true`` passes the module's ``CallContext(progress)`` as the third argument: a cancel
flag the native code polls and a progress callback that feeds the call's reporter.

Native code cannot be interrupted. On cancellation or timeout the runtime sets the context's
cancel flag, stops waiting at once and raises; the thread finishes in the background (promptly
when the handler polls the flag).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from atomiton.errors import NodeError, NodeTimeoutError, RuntimeUnavailableError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.runtimes.base import NodeCall, NodeResult

OPTIONS = ("inline", "context")
"""The ``runtime.options`` a Rust node may set."""

SETUP_HINT = "run scripts/setup to build native/ with maturin (`maturin develop --release` there)"

_INPUT_ERRORS = (ValueError, TypeError, LookupError, FileNotFoundError)
"""Errors that a retry cannot fix: the same inputs fail the same way."""


@dataclass(frozen=True, slots=True)
class _Target:
    """A resolved handler and how to call it."""

    function: Callable[..., Any]
    name: str
    inline: bool
    context_type: Callable[..., Any] | None


class RustRuntime:
    """Runs ``rust`` nodes by calling functions of native extension modules in-process."""

    def __init__(self, *, max_workers: int | None = None) -> None:
        self._max_workers = max_workers or os.cpu_count() or 2
        self._executor: ThreadPoolExecutor | None = None
        self._modules: dict[str, ModuleType] = {}
        # Keyed by the RuntimeSpec's identity; the spec is kept in the value so its id stays unique.
        self._targets: dict[int, tuple[RuntimeSpec, _Target]] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        return ("rust",)

    def check(self, definition: NodeDefinition) -> str | None:
        try:
            self._resolve(definition.runtime)
        except RuntimeUnavailableError as exc:
            return str(exc)
        return None

    async def start(self) -> None:
        self._pool()

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # Running native calls cannot be stopped; their threads finish in the background.
            executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        spec = call.definition.runtime
        entry = self._targets.get(id(spec))
        target = entry[1] if entry is not None else self._resolve(spec)
        inputs = call.inputs if type(call.inputs) is dict else dict(call.inputs)
        parameters = call.parameters if type(call.parameters) is dict else dict(call.parameters)
        if target.inline:
            try:
                outputs = target.function(inputs, parameters)
            except BaseException as exc:
                if not _raised_by_node(exc):
                    raise
                raise _node_error(exc, call, target) from exc
        else:
            outputs = await self._in_thread(target, call, inputs, parameters, reporter)
        if type(outputs) is not dict:
            outputs = _as_outputs(outputs, call, target)
        return NodeResult(outputs)

    async def _in_thread(
        self,
        target: _Target,
        call: NodeCall,
        inputs: dict[str, Any],
        parameters: dict[str, Any],
        reporter: Reporter,
    ) -> Any:
        args: tuple[Any, ...] = (inputs, parameters)
        context = None
        if target.context_type is not None:
            context = target.context_type(reporter.progress)
            args = (*args, context)
        future = asyncio.get_running_loop().run_in_executor(self._pool(), target.function, *args)
        try:
            if call.timeout_s is None:
                return await future
            return await asyncio.wait_for(future, call.timeout_s)
        except TimeoutError as exc:
            if not future.cancelled():  # the handler itself raised TimeoutError
                raise _node_error(exc, call, target) from exc
            _cancel(context)
            raise NodeTimeoutError(
                f"{target.name} ran past its timeout of {call.timeout_s:g} s",
                node_id=call.node_id,
                run_id=call.run_id,
                hint="raise the node's timeout; the native call finishes in the background"
                + ("" if context is not None else " (it does not poll a cancel flag)"),
            ) from None
        except asyncio.CancelledError:
            _cancel(context)
            raise
        except BaseException as exc:
            if not _raised_by_node(exc):
                raise
            raise _node_error(exc, call, target) from exc

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._max_workers, thread_name_prefix="atomiton-rust"
            )
        return self._executor

    def _resolve(self, spec: RuntimeSpec) -> _Target:
        """Import the module and find the handler, or raise RuntimeUnavailableError saying why."""
        if not spec.module or not spec.handler:
            raise RuntimeUnavailableError(
                "a rust node needs runtime.module (an extension module, e.g. atomiton_native) "
                f"and runtime.handler (a function in it); got module={spec.module!r}, "
                f"handler={spec.handler!r}"
            )
        if spec.isolated:
            raise RuntimeUnavailableError(
                "rust nodes run in-process; runtime.isolated is not supported for them",
                hint="drop isolated, or wrap the native call in an isolated python node",
            )
        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            raise RuntimeUnavailableError(
                f"unknown rust runtime option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}"
            )
        module = self._import(spec.module)
        function = getattr(module, spec.handler, None)
        name = f"{spec.module}.{spec.handler}"
        if not callable(function):
            available = sorted(n for n in dir(module) if not n.startswith("_"))
            raise RuntimeUnavailableError(
                f"the extension module '{spec.module}' has no function '{spec.handler}'",
                hint=f"it has: {', '.join(available)}; rebuild it if you added the function",
            )
        context_type = None
        if spec.options.get("context"):
            context_type = getattr(module, "CallContext", None)
            if not callable(context_type):
                raise RuntimeUnavailableError(
                    f"{name} asks for a context (options.context), but '{spec.module}' exports "
                    "no CallContext class",
                    hint="export one (see docs/runtimes-rust.md) or drop options.context",
                )
        target = _Target(function, name, bool(spec.options.get("inline")), context_type)
        self._targets[id(spec)] = (spec, target)
        return target

    def _import(self, name: str) -> ModuleType:
        module = self._modules.get(name)
        if module is None:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise RuntimeUnavailableError(
                    f"the Rust extension module '{name}' is not importable ({exc})",
                    hint=SETUP_HINT,
                ) from None
            self._modules[name] = module
        return module


def _cancel(context: Any) -> None:
    if context is not None:
        context.cancel()


def _raised_by_node(exc: BaseException) -> bool:
    """An error of the node's own: any Exception, or a Rust panic (PyO3 raises PanicException,
    a BaseException); KeyboardInterrupt and friends pass through."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _node_error(exc: BaseException, call: NodeCall, target: _Target) -> NodeError:
    kind = type(exc).__name__
    error = NodeError(
        f"{target.name} raised {kind}: {exc}",
        error_type=kind,
        details={"stack": "".join(traceback.format_exception(exc))},
        node_id=call.node_id,
        run_id=call.run_id,
    )
    if isinstance(exc, _INPUT_ERRORS):
        error.retryable = False
    return error


def _as_outputs(outputs: Any, call: NodeCall, target: _Target) -> dict[str, Any]:
    if isinstance(outputs, Mapping):
        return dict(outputs)
    raise NodeError(
        f"{target.name} returned {type(outputs).__name__}; a handler must return a dict of "
        "output port to value",
        error_type="ProtocolError",
        node_id=call.node_id,
        run_id=call.run_id,
    )


__all__ = ["OPTIONS", "RustRuntime"]
