"""Isolated Python: a node marked ``runtime.isolated`` runs in a warm Python subprocess.

For crash-prone native code, untrusted code and memory hogs: a segfault, ``os._exit`` or the
OOM killer takes down one worker (the call fails with ``WorkerCrashedError``, the next call gets
a fresh worker), never the engine. The workers are ``sys.executable -m
atomiton.runtimes._python_worker`` (the real interpreter, no shell), with the engine's
``sys.path`` so every module the engine can import, the worker can too. The router sends only
``isolated`` Python definitions here; the in-process runtime serves the rest.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes.base import NodeCall, NodeResult
from atomiton.runtimes.worker import calls
from atomiton.runtimes.worker.supervisor import WorkerPool, WorkerSpec


class IsolatedPythonRuntime:
    """Runs Python node functions in a pool of warm worker processes."""

    def __init__(
        self, *, pool_size: int = 2, python: str | None = None, cancel_grace_s: float = 0.5
    ) -> None:
        self._python = python or sys.executable
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["PYTHONUNBUFFERED"] = "1"
        self._pool = WorkerPool(
            WorkerSpec(
                name="isolated Python worker",
                argv=(self._python, "-m", "atomiton.runtimes._python_worker"),
                env=env,
            ),
            size=pool_size,
            cancel_grace_s=cancel_grace_s,
        )

    @property
    def languages(self) -> tuple[str, ...]:
        return ("python",)

    @property
    def pool(self) -> WorkerPool:
        return self._pool

    def check(self, definition: NodeDefinition) -> str | None:
        runtime = definition.runtime
        if not runtime.handler:
            return f"node '{definition.id}' has no runtime.handler (the function's qualified name)"
        if not runtime.module and not runtime.path:
            return f"node '{definition.id}' names neither runtime.module nor runtime.path"
        if runtime.path and runtime.path.endswith(".py") and not Path(runtime.path).is_file():
            return f"node '{definition.id}': Python file {runtime.path!r} does not exist"
        return None

    async def start(self) -> None:
        return None  # workers start lazily, on the first call

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        runtime = call.definition.runtime
        module = _module_of(call.definition)
        return await calls.execute(
            self._pool, call, reporter, module=module, handler=runtime.handler
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _module_of(definition: NodeDefinition) -> str:
    return _resolve_module(definition.runtime.path, definition.runtime.module)


@functools.lru_cache(maxsize=1024)
def _resolve_module(path: str | None, module: str) -> str:
    """An importable module name, or the absolute path of the file the node came from."""
    if path and path.endswith(".py"):
        return str(Path(path).resolve())
    if module.endswith(".py"):
        return str(((Path(path) if path else Path.cwd()) / module).resolve())
    return module
