"""The seam between the engine and the code that runs a node.

A :class:`Runtime` takes a :class:`NodeCall` (which node, which definition, its inputs and
rendered parameters) and returns a :class:`NodeResult` (a mapping of output port to value), or
raises. Progress and logs go to the call's :class:`~atomiton.nodes.context.Reporter`. The
:class:`~atomiton.runtimes.router.RuntimeRouter` picks a runtime by ``runtime.language``.

Contract every runtime keeps:

- ``invoke`` is cancellable: when the awaiting task is cancelled the runtime stops the work
  (kills the worker, interrupts the sandbox) before re-raising ``CancelledError``;
- a failure raises :class:`~atomiton.errors.NodeError` (or a subclass) with the original error
  type, message and stack in ``details``; any other exception is wrapped by the engine;
- values may be large: a runtime that crosses a process boundary passes files and tables by
  reference through ``artifact_dir``, never through its pipe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition

BodyRunner = Callable[[Mapping[str, Any], str], Awaitable[Any]]
"""``body(inputs, label)`` runs a container's children as a sub-run and returns their value."""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per call; never mutated
class NodeCall:
    """One attempt at running one node."""

    run_id: str
    node_id: str
    definition: NodeDefinition
    inputs: Mapping[str, Any]
    parameters: Mapping[str, Any]
    attempt: int = 1
    artifact_dir: Path = Path(".")
    timeout_s: float | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)
    """Engine services a node may use through its context, by name (``javascript``: the
    runtime whose ``evaluate`` runs inline JavaScript)."""
    body: BodyRunner | None = None
    """For a container node (``loop``, ``parallel``): runs its children once (see
    :meth:`atomiton.nodes.context.NodeContext.run_body`). None for other nodes."""

    def arguments(self) -> dict[str, Any]:
        """Parameters overlaid by inputs: a value on an edge wins over the configured one."""
        return {**self.parameters, **self.inputs}


@dataclass(frozen=True, slots=True)
class NodeResult:
    """What a node produced: output port to value. A port that is absent was not produced.

    ``duration_ms`` is how long the node ran, when its runtime knows better than the engine's
    clock from dispatch to result: a node computed ahead of its dispatch in a fused Ray task, or
    one call of several sharing a task. None: the engine's own measure stands.
    """

    outputs: Mapping[str, Any]
    duration_ms: float | None = None


class NullReporter:
    """A reporter that drops everything (for direct calls and tests)."""

    def progress(self, percent: float, message: str = "") -> None:
        return None

    def log(self, message: str, level: str = "info") -> None:
        return None


@runtime_checkable
class Runtime(Protocol):
    """Runs node calls for one or more languages."""

    @property
    def languages(self) -> tuple[str, ...]:
        """The ``runtime.language`` values this runtime serves."""
        ...

    def check(self, definition: NodeDefinition) -> str | None:
        """Why this runtime cannot run ``definition`` (missing toolchain, bad module), or None.

        Called during validation, before anything runs; must be cheap and must not start workers.
        """
        ...

    async def start(self) -> None:
        """Prepare lazily-started resources; called once before the first ``invoke``."""
        ...

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult: ...

    async def aclose(self) -> None:
        """Stop every worker and release every resource. Idempotent."""
        ...
