"""Shared rules for Atomiton's node types: how values arrive, how failures read.

Atomiton's templates wire ``sourceHandle: output`` to ``targetHandle: input``. ``output`` names
no declared port, so the engine delivers the source node's *whole* output object, e.g.
``{"result": [...], "success": True, "inputCount": 3}``. Every Atomiton node therefore reads its
``input`` port through :func:`primary`, which unwraps such an object to its ``result``. The other
helpers keep the nodes' small decisions in one place: which of several given values wins, how a
value becomes file content, how a node failure is worded (``[node-type] what ...``, as Atomiton
prefixes them, with a hint saying how to fix it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from atomiton.errors import NodeError

__all__ = [
    "as_json_object",
    "first_given",
    "is_output_object",
    "iso_now",
    "node_failure",
    "primary",
    "to_file_content",
]


def is_output_object(value: Any) -> bool:
    """True for an Atomiton node's whole output object (it has ``result`` and ``success``)."""
    return isinstance(value, Mapping) and "result" in value and "success" in value


def primary(value: Any) -> Any:
    """The value a node works on: an Atomiton output object's ``result``, else the value."""
    return value["result"] if is_output_object(value) else value


def unwrap(value: Any) -> Any:
    """The data in an upstream output object: an Atomiton output object's ``result`` (also
    edit-fields' ``{result}`` and group's ``{result, metadata}``, which have no ``success``),
    a spreadsheet's ``records``."""
    value = primary(value)
    if isinstance(value, Mapping):
        if "result" in value and set(value) <= {"result", "metadata"}:
            return value["result"]
        if "records" in value and "rowCount" in value:
            return value["records"]
    return value


def first_given(*values: Any) -> Any:
    """The first value that is not None (Atomiton's ``getInput(key) ?? config[key]``)."""
    return next((v for v in values if v is not None), None)


def node_failure(node_type: str, message: str, *, hint: str | None = None) -> NodeError:
    """A NodeError worded like Atomiton's: ``[node-type] message``."""
    return NodeError(f"[{node_type}] {message}", error_type="NodeError", hint=hint)


def as_json_object(value: Any, *, node_type: str, name: str) -> dict[str, Any]:
    """An object given as a mapping or as a JSON string (Atomiton's ``jsonString(record)``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise node_failure(
                node_type,
                f"'{name}' is a string but not valid JSON ({exc.msg} at line {exc.lineno} "
                f"column {exc.colno})",
                hint=f'write {name} as an object, or as a JSON object string like {{"key": 1}}',
            ) from None
    if not isinstance(value, Mapping):
        raise node_failure(
            node_type,
            f"'{name}' must be an object, got {type(value).__name__}: {_preview(value)}",
            hint=f"give {name} as key: value pairs",
        )
    return dict(value)


def to_file_content(value: Any) -> str | bytes:
    """What a value becomes when written to a file.

    Strings as they are, bytes as bytes, a list of strings one per line, anything else as
    pretty JSON (Atomiton's ``fs.writeFile`` throws on non-strings instead).
    """
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def iso_now() -> str:
    """Now in UTC as JavaScript's ``toISOString`` writes it: ``2025-01-15T10:20:30.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
