"""The in-process Python runtime.

Coroutine functions are awaited on the event loop; plain functions run on a thread pool so they
never block it, except those that prove trivially fast (:mod:`.inline`: after eight consecutive
calls under 100 µs a sync node is called inline on the loop, and a few inline calls over 1 ms
send it back to the pool for good; ``@node(inline=...)`` forces either way); functions marked
``parallelizable`` run on a process pool so CPU-bound nodes use every core (their module must be
importable, or loadable from ``runtime.path``, in a fresh interpreter, and their values
picklable; they get no live progress). A cancelled or timed-out thread call cannot be killed:
its context's ``cancelled`` flag is set so a cooperative node stops, and the engine stops
waiting for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import importlib
import inspect
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atomiton.errors import NodeError
from atomiton.nodes.context import NodeContext, Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.nodes.registry import import_node_file, module_name_for
from atomiton.runtimes.base import NodeCall, NodeResult
from atomiton.runtimes.context import CallContext
from atomiton.runtimes.inline import InlinePolicy


@dataclasses.dataclass(slots=True)
class _Handler(InlinePolicy):
    """A resolved node function, what it accepts, and its inlining state (see .inline)."""

    fn: Callable[..., Any]
    accepts: frozenset[str]
    context_arg: str | None
    is_async: bool


class PythonRuntime:
    def __init__(self, *, threads: int | None = None, processes: int | None = None) -> None:
        cpus = os.cpu_count() or 2
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads or max(8, cpus * 2), thread_name_prefix="atomiton-node"
        )
        self._processes_size = processes or cpus
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._handlers: dict[tuple[str, str, str | None], _Handler] = {}
        self._inline: dict[int, _Inline] = {}  # by id(definition); each entry holds it alive

    @property
    def languages(self) -> tuple[str, ...]:
        return ("python",)

    def check(self, definition: NodeDefinition) -> str | None:
        try:
            self._handler(definition)
        except NodeError as exc:
            return exc.message
        return None

    async def start(self) -> None:
        return None

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        definition = call.definition
        handler = self._handler(definition)
        kwargs = {k: v for k, v in call.arguments().items() if k in handler.accepts}
        if definition.performance.parallelizable and not handler.is_async:
            result = await self._in_process(definition, kwargs)
        else:
            ctx = CallContext(call, reporter)
            if handler.context_arg:
                kwargs[handler.context_arg] = ctx
            try:
                if handler.is_async:
                    result = await handler.fn(**kwargs)
                else:
                    loop = asyncio.get_running_loop()
                    result, seconds = await loop.run_in_executor(
                        self._threads, functools.partial(_timed_call, handler.fn, kwargs)
                    )
                    handler.observe(seconds)
            except asyncio.CancelledError:
                ctx.cancel()
                raise
        return NodeResult(to_outputs(definition, result))

    def try_inline(self, call: NodeCall, reporter: Reporter) -> NodeResult | None:
        """Run ``call`` synchronously on the caller's thread if its node is an inline one
        (see :meth:`_Handler.observe`); None when it must go through :meth:`invoke`.
        The engine's hot path for trivially fast nodes: what depends only on the definition
        is looked up once per definition (:class:`_Inline`)."""
        definition = call.definition
        found = self._inline.get(id(definition))
        if found is None or found.definition is not definition:
            found = self._inline[id(definition)] = _Inline(
                definition, self._handler(definition), _single_output(definition)
            )
        handler = found.handler
        if not handler.inline or handler.is_async or definition.performance.parallelizable:
            return None
        kwargs = {**call.parameters, **call.inputs}  # NodeCall.arguments()
        if not handler.accepts.issuperset(kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k in handler.accepts}
        if handler.context_arg:
            kwargs[handler.context_arg] = CallContext(call, reporter)
        started = time.perf_counter()
        result = handler.fn(**kwargs)
        handler.observe(time.perf_counter() - started)
        if found.single is not None:
            return NodeResult({found.single: result})
        return NodeResult(to_outputs(definition, result))

    async def _in_process(self, definition: NodeDefinition, kwargs: dict[str, Any]) -> Any:
        if self._processes is None:
            self._processes = concurrent.futures.ProcessPoolExecutor(
                self._processes_size, mp_context=multiprocessing.get_context("forkserver")
            )
        rt = definition.runtime
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._processes,
            functools.partial(_call_in_process, rt.module, rt.path, rt.handler, kwargs),
        )

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)
            self._processes = None

    def _handler(self, definition: NodeDefinition) -> _Handler:
        rt = definition.runtime
        key = (rt.module, rt.handler, rt.path)
        found = self._handlers.get(key)
        if found is None:
            fn = resolve_function(rt.module, rt.path, rt.handler)
            found = self._handlers[key] = _describe(fn)
            found.set_policy(rt.options.get("inline"))
        return found


@dataclasses.dataclass(frozen=True, slots=True)
class _Inline:
    """A definition's handler and, when its value is its one output, that output's name."""

    definition: NodeDefinition
    handler: _Handler
    single: str | None


def _single_output(definition: NodeDefinition) -> str | None:
    """The port :func:`to_outputs` always puts the value in, if there is one such port."""
    returns = definition.runtime.options.get("returns", "single")
    return definition.outputs[0].name if returns == "single" and definition.outputs else None


def _describe(fn: Callable[..., Any]) -> _Handler:
    params = inspect.signature(fn).parameters
    context_arg = None
    hints: dict[str, Any] = {}
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # unresolvable annotations: fall back to names only
        hints = {}
    for name in params:
        if hints.get(name) is NodeContext or (name == "ctx" and name not in hints):
            context_arg = name
    accepts = frozenset(n for n in params if n != context_arg)
    return _Handler(
        fn=fn, accepts=accepts, context_arg=context_arg, is_async=inspect.iscoroutinefunction(fn)
    )


def resolve_function(module: str, path: str | None, qualname: str) -> Callable[..., Any]:
    """Import ``module`` (or load it from ``path``) and walk ``qualname`` to the function."""
    try:
        if path and Path(path).suffix == ".py" and module == module_name_for(Path(path)):
            mod: Any = import_node_file(Path(path))
        else:
            mod = importlib.import_module(module)
    except Exception as exc:
        raise NodeError(
            f"cannot import Python module '{module}': {exc}",
            error_type="ImportError",
            hint="check the node's runtime.module, or that its package is installed",
        ) from exc
    target: Any = mod
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise NodeError(
                f"module '{module}' has no '{qualname}'",
                error_type="AttributeError",
                hint="check the node's runtime.handler",
            )
    if not callable(target):
        raise NodeError(f"'{module}.{qualname}' is not callable", error_type="TypeError")
    return target  # type: ignore[no-any-return]


def _timed_call(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(**kwargs)
    return result, time.perf_counter() - started


def _call_in_process(module: str, path: str | None, qualname: str, kwargs: dict[str, Any]) -> Any:
    """Runs in a process-pool worker: errors come back as NodeError with the remote stack."""
    try:
        return resolve_function(module, path, qualname)(**kwargs)
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(
            str(exc) or type(exc).__name__,
            error_type=type(exc).__name__,
            details={"stack": traceback.format_exc()},
        ) from None


def to_outputs(definition: NodeDefinition, result: Any) -> dict[str, Any]:
    """Map a function's return value onto the definition's output ports."""
    returns = definition.runtime.options.get("returns", "single")
    if returns == "none" or (result is None and not definition.outputs):
        return {}
    if returns == "mapping" or (returns == "single" and not definition.outputs):
        if not isinstance(result, Mapping):
            raise NodeError(
                f"returned {type(result).__name__}, expected a mapping of output ports "
                f"({', '.join(definition.output_names) or 'any'})",
                error_type="TypeError",
            )
        return dict(result)
    if returns == "dataclass" and dataclasses.is_dataclass(result):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return {definition.outputs[0].name: result}
