"""The NodeContext a running Python node receives (see :mod:`atomiton.nodes.context`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atomiton.errors import NodeError, RuntimeUnavailableError
from atomiton.nodes.context import Reporter
from atomiton.runtimes.base import NodeCall


class CallContext:
    """One call's context: progress and logs go to the reporter; ``cancel()`` sets the flag."""

    __slots__ = ("_call", "_cancelled", "_reporter")

    def __init__(self, call: NodeCall, reporter: Reporter) -> None:
        self._call = call
        self._reporter = reporter
        self._cancelled = threading.Event()

    @property
    def run_id(self) -> str:
        return self._call.run_id

    @property
    def node_id(self) -> str:
        return self._call.node_id

    @property
    def attempt(self) -> int:
        return self._call.attempt

    @property
    def artifact_dir(self) -> Path:
        self._call.artifact_dir.mkdir(parents=True, exist_ok=True)
        return self._call.artifact_dir

    @property
    def variables(self) -> Mapping[str, Any]:
        return self._call.variables

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def progress(self, percent: float, message: str = "") -> None:
        self._reporter.progress(max(0.0, min(100.0, float(percent))), message)

    def log(self, message: str, level: str = "info") -> None:
        self._reporter.log(str(message), level)

    async def evaluate_js(
        self,
        source: str,
        *,
        mode: str = "function",
        args: Sequence[Any] = (),
        bindings: Mapping[str, Any] | None = None,
        timeout_s: float = 5.0,
    ) -> Any:
        runtime = self._call.services.get("javascript")
        if runtime is None:
            raise RuntimeUnavailableError(
                "JavaScript is not available: no Node.js runtime is registered",
                node_id=self._call.node_id,
                hint="install Node.js and run scripts/setup (it installs the worker's packages)",
            )
        return await runtime.evaluate(
            source,
            mode=mode,
            args=args,
            bindings=bindings,
            timeout_s=timeout_s,
            node_id=self._call.node_id,
        )

    @property
    def has_body(self) -> bool:
        return self._call.body is not None

    async def run_body(self, inputs: Mapping[str, Any], label: str) -> Any:
        if self._call.body is None:
            raise NodeError(
                "this node has no body to run",
                node_id=self._call.node_id,
                hint="put the nodes to repeat under this node's 'nodes:' (with 'edges:')",
            )
        return await self._call.body(inputs, label)
