"""TypeScript and JavaScript nodes: a pool of warm Node.js workers (``workers/node/``).

A node's ``runtime.module`` is a ``.js``/``.mjs``/``.ts``/``.mts`` file relative to its
manifest's folder and ``runtime.handler`` an exported function, called as
``handler(inputs, parameters, ctx)``. The worker strips TypeScript types with esbuild (cached
by content hash under the user cache dir). :meth:`JavaScriptRuntime.evaluate` runs inline
JavaScript (Atomiton's transform functions, loop conditions) in the same warm workers, in a
``vm`` context with a time limit. See docs/runtimes-javascript.md.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from atomiton.errors import NodeError, NodeTimeoutError, ProtocolError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes import caches
from atomiton.runtimes.base import NodeCall, NodeResult
from atomiton.runtimes.worker import calls
from atomiton.runtimes.worker.supervisor import CallContext, WorkerPool, WorkerSpec

MODULE_SUFFIXES = (".js", ".mjs", ".ts", ".mts")
SETUP_HINT = "run scripts/setup (it installs the Node.js worker's npm packages)"
EVALUATE_MARGIN_S = 5.0
"""The worker enforces an evaluate time limit itself; the pool kills it only this much later."""


def default_worker_dir() -> Path:
    """``$ATOMITON_NODE_WORKER_DIR``, else ``workers/node`` of the source checkout."""
    configured = os.environ.get("ATOMITON_NODE_WORKER_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "workers" / "node"


def default_cache_dir() -> Path:
    """Where TypeScript modules stripped of their types are kept."""
    return caches.default_cache_dir() / "typescript"


class JavaScriptRuntime:
    """Runs ``typescript`` and ``javascript`` nodes on warm Node.js workers."""

    def __init__(
        self,
        *,
        pool_size: int = 2,
        node: str | None = None,
        worker_dir: Path | None = None,
        cache_dir: Path | None = None,
        cancel_grace_s: float = 0.5,
    ) -> None:
        self._node = node or shutil.which("node")
        self._worker_dir = (worker_dir or default_worker_dir()).resolve()
        env = dict(os.environ)
        env["ATOMITON_TS_CACHE_DIR"] = str(cache_dir or default_cache_dir())
        self._pool = WorkerPool(
            WorkerSpec(
                name="Node.js worker",
                argv=(
                    self._node or "node",
                    "--enable-source-maps",
                    str(self._worker_dir / "worker.mjs"),
                ),
                cwd=str(self._worker_dir),
                env=env,
                hint=SETUP_HINT,
            ),
            size=pool_size,
            cancel_grace_s=cancel_grace_s,
        )

    @property
    def languages(self) -> tuple[str, ...]:
        return ("typescript", "javascript")

    @property
    def pool(self) -> WorkerPool:
        return self._pool

    def unavailable(self) -> str | None:
        """Why no worker can start here (no ``node``, no npm packages), or None."""
        if self._node is None:
            return "Node.js ('node') is not on PATH; install Node.js 20 or newer"
        if not (self._worker_dir / "worker.mjs").is_file():
            return f"the Node.js worker is missing: no {self._worker_dir / 'worker.mjs'}"
        if not (self._worker_dir / "node_modules" / "esbuild").is_dir():
            return (
                f"the Node.js worker's npm packages are missing in {self._worker_dir}; {SETUP_HINT}"
            )
        return None

    def check(self, definition: NodeDefinition) -> str | None:
        reason = self.unavailable()
        if reason is not None:
            return reason
        runtime = definition.runtime
        if not runtime.handler:
            return f"node '{definition.id}' has no runtime.handler (the exported function to call)"
        module = _module_path(definition)
        if module.suffix not in MODULE_SUFFIXES:
            suffixes = ", ".join(MODULE_SUFFIXES)
            return (
                f"node '{definition.id}': module {runtime.module!r} must end in one of {suffixes}"
            )
        if not module.is_file():
            return f"node '{definition.id}': module file {str(module)!r} does not exist"
        return None

    async def start(self) -> None:
        return None  # workers start lazily, on the first call

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        module = str(_module_path(call.definition))
        return await calls.execute(
            self._pool, call, reporter, module=module, handler=call.definition.runtime.handler
        )

    async def evaluate(
        self,
        source: str,
        *,
        mode: Literal["function", "expression"] = "function",
        args: Sequence[Any] = (),
        bindings: Mapping[str, Any] | None = None,
        timeout_s: float = 1.0,
        node_id: str | None = None,
    ) -> Any:
        """Evaluate inline JavaScript: a function called with ``args``, or an expression over
        ``bindings``. Values go in and out as JSON. A JavaScript error raises :class:`NodeError`
        with the JS error type, message and stack; passing ``timeout_s`` raises
        :class:`NodeTimeoutError`."""
        params = {
            "source": source,
            "mode": mode,
            "args": list(args),
            "bindings": dict(bindings or {}),
            "timeoutMs": max(1, round(timeout_s * 1000)),
        }
        try:
            result = await self._pool.call(
                "evaluate",
                params,
                timeout_s=timeout_s + EVALUATE_MARGIN_S,
                context=CallContext(node_id=node_id),
            )
        except NodeError as exc:
            if exc.error_type == "TimeoutError":
                raise NodeTimeoutError(
                    exc.message, node_id=node_id, error_type="TimeoutError", details=exc.details
                ) from None
            raise
        if not isinstance(result, dict) or "value" not in result:
            raise ProtocolError(
                f"the Node.js worker answered evaluate with {result!r}; expected {{'value': ...}}"
            )
        return result["value"]

    async def aclose(self) -> None:
        await self._pool.aclose()


def _module_path(definition: NodeDefinition) -> Path:
    return _resolve_module(definition.runtime.path, definition.runtime.module)


@functools.lru_cache(maxsize=1024)
def _resolve_module(folder: str | None, module: str) -> Path:
    return ((Path(folder) if folder else Path.cwd()) / module).resolve()
