"""The one exception tree of atomiton.

Every error the engine raises on purpose derives from :class:`AtomitonError`, carries structured
fields (``node_id``, ``port``, ``run_id`` where they apply) and a message that says what went
wrong, where, and how to fix it::

    AtomitonError
    ├── BlueprintError            the file could not be read or parsed as a Blueprint
    ├── ValidationError           the Blueprint is well-formed but cannot run (carries the report)
    ├── NodeDefinitionError       a node definition (decorated function, manifest, pack) is wrong
    ├── RuntimeUnavailableError   no runtime serves a node's language, or its toolchain is missing
    ├── NodeError                 one node call failed; the run records it
    │   ├── NodeTimeoutError      the call passed its timeout
    │   ├── NodeCancelledError    the call was cancelled
    │   └── WorkerCrashedError    the worker process running the call died
    ├── ProtocolError             a worker or client spoke the wire protocol wrongly
    ├── StoreError                run history could not be read or written
    └── RunNotFoundError          no run has that id
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AtomitonError(Exception):
    """Root of every error atomiton raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        node_id: str | None = None,
        port: str | None = None,
        run_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.node_id = node_id
        self.port = port
        self.run_id = run_id
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.node_id is not None:
            where.append(f"node '{self.node_id}'")
        if self.port is not None:
            where.append(f"port '{self.port}'")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, the shape the store, the server and ``--json`` share."""
        data: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        for key in ("node_id", "port", "run_id", "hint"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


class BlueprintError(AtomitonError):
    """A Blueprint file could not be read or parsed; ``source`` names the file."""

    def __init__(self, message: str, *, source: str | None = None, **kwargs: Any) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message, **kwargs)


class ValidationError(AtomitonError):
    """The Blueprint cannot run; ``report`` lists every problem found."""

    def __init__(self, report: Any) -> None:  # a validate.Report; typed loosely to keep layers
        self.report = report
        errors = report.errors
        lines = [f"the Blueprint has {len(errors)} problem(s):"]
        lines += [f"  - {issue}" for issue in errors]
        super().__init__("\n".join(lines))


class NodeDefinitionError(AtomitonError):
    """A node definition is wrong: the decorated function, manifest or pack is named."""


class RuntimeUnavailableError(AtomitonError):
    """No runtime can run a node: the language is unknown or its toolchain is missing."""


class NodeError(AtomitonError):
    """One node call failed; ``details`` keeps what the runtime knows (stack, exit, stderr)."""

    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        details: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.error_type = error_type or type(self).__name__
        self.details = dict(details or {})
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["type"] = self.error_type
        data.update({k: v for k, v in self.details.items() if k not in data})
        return data


class NodeTimeoutError(NodeError):
    """The node ran past its timeout and was stopped."""


class NodeCancelledError(NodeError):
    """The node was cancelled before it finished."""

    retryable = False


class WorkerCrashedError(NodeError):
    """The worker process running the node died mid-call."""


class ProtocolError(AtomitonError):
    """A peer broke the wire protocol (bad frame, unknown method, wrong version)."""


class StoreError(AtomitonError):
    """Run history could not be read or written."""


class RunNotFoundError(AtomitonError):
    """No run has the given id."""


__all__ = [
    "AtomitonError",
    "BlueprintError",
    "NodeCancelledError",
    "NodeDefinitionError",
    "NodeError",
    "NodeTimeoutError",
    "ProtocolError",
    "RunNotFoundError",
    "RuntimeUnavailableError",
    "StoreError",
    "ValidationError",
    "WorkerCrashedError",
]
