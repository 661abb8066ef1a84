"""What a running node can see and do: report progress and logs, notice cancellation.

A Python node asks for it by annotating one argument with :class:`NodeContext`; other runtimes
get the same abilities through their worker protocol (``progress`` and ``log`` notifications,
``cancel`` requests). The engine supplies the implementation; nodes only see this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LOG_LEVELS = ("debug", "info", "warning", "error")


class Reporter(Protocol):
    """Where a runtime sends a call's progress and logs. Safe to call from any thread."""

    def progress(self, percent: float, message: str = "") -> None: ...

    def log(self, message: str, level: str = "info") -> None: ...


@runtime_checkable
class NodeContext(Protocol):
    """The running node's view of its call."""

    @property
    def run_id(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    @property
    def attempt(self) -> int:
        """1 for the first try, 2 for the first retry, and so on."""
        ...

    @property
    def artifact_dir(self) -> Path:
        """A folder for this run's large values; files written here outlive the call."""
        ...

    @property
    def variables(self) -> Mapping[str, Any]: ...

    @property
    def cancelled(self) -> bool:
        """True once the run or this call was cancelled; long loops should check it and stop."""
        ...

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress in percent (0 to 100) with an optional message."""
        ...

    def log(self, message: str, level: str = "info") -> None:
        """Send a log line to the run's events (``debug``, ``info``, ``warning``, ``error``)."""
        ...

    async def evaluate_js(
        self,
        source: str,
        *,
        mode: str = "function",
        args: Sequence[Any] = (),
        bindings: Mapping[str, Any] | None = None,
        timeout_s: float = 5.0,
    ) -> Any:
        """Evaluate inline JavaScript in the engine's warm Node.js workers (a ``vm`` context
        with a time limit): ``mode="function"`` calls the function ``source`` evaluates to with
        ``args``; ``mode="expression"`` evaluates ``source`` with ``bindings`` as globals. Values
        go in and out as JSON. A JavaScript error raises NodeError with its type and stack."""
        ...

    @property
    def has_body(self) -> bool:
        """True for a container node whose Blueprint entry has children to run."""
        ...

    async def run_body(self, inputs: Mapping[str, Any], label: str) -> Any:
        """Run this container node's children (its body) once, as a sub-run fed ``inputs`` by
        port name, and return their value: the one sink's one output, else every sink's
        outputs by node id. ``label`` names the iteration in node ids (``loop/3/child``).
        Raises NodeError when the body fails, or when the node has no children."""
        ...
