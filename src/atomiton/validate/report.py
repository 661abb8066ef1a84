"""The validation report: every problem found, each with a stable code, place and hint.

Codes are stable strings that tools and tests may match on; messages are for people. Errors
stop a run before it starts; warnings are printed and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    MISSING_TYPE = "missing-node-type"
    UNKNOWN_TYPE = "unknown-node-type"
    DUPLICATE_ID = "duplicate-node-id"
    EDGE_MISSING_SOURCE = "edge-missing-source"
    EDGE_MISSING_TARGET = "edge-missing-target"
    UNKNOWN_INPUT_PORT = "unknown-input-port"
    UNKNOWN_OUTPUT_PORT = "unknown-output-port"
    AMBIGUOUS_PORT = "ambiguous-port"
    DUPLICATE_INPUT = "input-connected-twice"
    CYCLE = "cycle"
    MISSING_INPUT = "required-input-missing"
    INVALID_PARAMETER = "invalid-parameter"
    UNKNOWN_PARAMETER = "unknown-parameter"
    INVALID_TEMPLATE = "invalid-template"
    UNKNOWN_TEMPLATE_NODE = "template-unknown-node"
    RUNTIME_UNAVAILABLE = "runtime-unavailable"
    INCOMPATIBLE_PORTS = "incompatible-port-types"
    EMPTY_BLUEPRINT = "empty-blueprint"


@dataclass(frozen=True, slots=True)
class Issue:
    code: Code
    message: str
    severity: Severity = Severity.ERROR
    node_id: str | None = None
    port: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.node_id is not None:
            where = f"node '{self.node_id}'"
            if self.port is not None:
                where += f", port '{self.port}'"
            where += ": "
        text = f"[{self.code.value}] {where}{self.message}"
        if self.hint:
            text += f" - {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "node_id": self.node_id,
            "port": self.port,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class Report:
    issues: tuple[Issue, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> list[str]:
        return [i.code.value for i in self.issues]

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
        }
