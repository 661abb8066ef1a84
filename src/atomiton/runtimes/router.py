"""The RuntimeRouter: each node call goes to the runtime its definition's language names.

Runtimes are started lazily, on their first call, so a run that uses only Python nodes never
starts a Node.js or Go worker. A definition marked ``isolated`` goes to the runtime registered
for ``"<language>:isolated"`` (an out-of-process Python worker pool) when there is one.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from atomiton.errors import RuntimeUnavailableError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes.base import NodeCall, NodeResult, Runtime
from atomiton.runtimes.python import PythonRuntime

OPTIONAL_RUNTIMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("atomiton.runtimes.javascript", "JavaScriptRuntime", ()),
    ("atomiton.runtimes.isolated", "IsolatedPythonRuntime", ("python:isolated",)),
    ("atomiton.runtimes.golang", "GoRuntime", ()),
    ("atomiton.runtimes.rust", "RustRuntime", ()),
    ("atomiton.runtimes.wasm", "WasmRuntime", ()),
)
"""Runtimes the default router adds: (module, class, keys overriding its ``languages``)."""

InlineCall = Callable[[NodeCall, Reporter], NodeResult | None]
"""A runtime's optional ``try_inline``: the call's result now, or None to ``invoke`` it."""


class RuntimeRouter:
    def __init__(self, runtimes: Iterable[Runtime | tuple[str, Runtime]] = ()) -> None:
        self._by_key: dict[str, Runtime] = {}
        self._started: dict[int, asyncio.Task[None]] = {}
        for item in runtimes:
            if isinstance(item, tuple):
                self.register(item[1], keys=(item[0],))
            else:
                self.register(item)

    @classmethod
    def default(cls, **python_options: Any) -> RuntimeRouter:
        """Python in-process, plus every other runtime this installation provides."""
        router = cls([PythonRuntime(**python_options)])
        for module, name, keys in OPTIONAL_RUNTIMES:
            try:
                runtime_cls = getattr(importlib.import_module(module), name)
            except ImportError:
                continue
            router.register(runtime_cls(), keys=keys or None)
        return router

    def register(self, runtime: Runtime, *, keys: Iterable[str] | None = None) -> None:
        for key in keys or runtime.languages:
            self._by_key[key] = runtime

    @property
    def services(self) -> Mapping[str, Any]:
        """What node code may call through its context: ``javascript`` when a runtime for it
        is registered (its ``evaluate`` runs inline JavaScript)."""
        js = self._by_key.get("javascript")
        return {"javascript": js} if js is not None and hasattr(js, "evaluate") else {}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(k for k in self._by_key if ":" not in k))

    def runtime_for(self, definition: NodeDefinition) -> Runtime:
        rt = definition.runtime
        if rt.isolated and f"{rt.language}:isolated" in self._by_key:
            return self._by_key[f"{rt.language}:isolated"]
        runtime = self._by_key.get(rt.language)
        if runtime is None:
            raise RuntimeUnavailableError(
                f"no runtime serves language '{rt.language}' (available: "
                f"{', '.join(self.languages)})",
                hint="install the runtime's toolchain and run scripts/setup",
            )
        return runtime

    def check(self, definition: NodeDefinition) -> str | None:
        """Why ``definition`` cannot run here, or None; for validation."""
        try:
            runtime = self.runtime_for(definition)
        except RuntimeUnavailableError as exc:
            return exc.message
        return runtime.check(definition)

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        runtime = self.runtime_for(call.definition)
        started = self._started.get(id(runtime))
        if started is None:
            started = self._started[id(runtime)] = asyncio.ensure_future(runtime.start())
        if not started.done():
            await asyncio.shield(started)
        started.result()  # a runtime that failed to start says why on every call
        return await runtime.invoke(call, reporter)

    def try_inline(self, call: NodeCall, reporter: Reporter) -> NodeResult | None:
        """Run ``call`` synchronously when its runtime can do so right now, else None."""
        runtime = self.runtime_for(call.definition)
        fast = getattr(runtime, "try_inline", None)
        return fast(call, reporter) if fast is not None else None

    def inline_for(self, definition: NodeDefinition) -> InlineCall | None:
        """What :meth:`try_inline` calls for ``definition`` (its runtime's ``try_inline``),
        looked up once: a driver keeps it per node instead of routing every call. None when
        the runtime has no synchronous path, or none serves the language (``invoke`` says
        why)."""
        try:
            runtime = self.runtime_for(definition)
        except RuntimeUnavailableError:
            return None
        fast: InlineCall | None = getattr(runtime, "try_inline", None)
        return fast

    async def aclose(self) -> None:
        seen: set[int] = set()
        for runtime in self._by_key.values():
            if id(runtime) not in seen:
                seen.add(id(runtime))
                await runtime.aclose()
        self._started.clear()
