"""Large values cross a process boundary by reference, never through the pipe.

A reference is ``{"$ref": {"kind": "file"|"arrow"|"bytes", "path": <absolute, inside the
artifact dir>, "mediaType": ...}}``. :func:`encode_value` prepares a value for the wire: polars
DataFrames become Arrow IPC files, bytes over the spill threshold become ``bytes`` files (smaller
bytes travel inline as ``{"$bytes": base64}``, the engine codec's marker), strings over the
threshold become text files. :func:`resolve_value` turns the references back into values. Both
sides of a Python worker use these; the Node.js worker writes the same shapes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atomiton.errors import ProtocolError

SPILL_BYTES = 64 * 1024
"""bytes and str values larger than this (in bytes) are written to the artifact dir."""

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.file"
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
BINARY_MEDIA_TYPE = "application/octet-stream"
REF_KINDS = ("file", "arrow", "bytes")


def make_ref(kind: str, path: Path, media_type: str) -> dict[str, Any]:
    return {"$ref": {"kind": kind, "path": str(path), "mediaType": media_type}}


def _new_path(artifact_dir: Path, stem: str, suffix: str) -> Path:
    artifact_dir.mkdir(parents=True, exist_ok=True)
    return artifact_dir.resolve() / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def write_bytes_ref(
    data: bytes, artifact_dir: Path, *, media_type: str = BINARY_MEDIA_TYPE
) -> dict[str, Any]:
    """Write ``data`` to a new file in ``artifact_dir`` and return its ``bytes`` reference."""
    path = _new_path(artifact_dir, "bytes", ".bin")
    path.write_bytes(data)
    return make_ref("bytes", path, media_type)


def write_arrow_ref(frame: Any, artifact_dir: Path) -> dict[str, Any]:
    """Write a polars DataFrame as an Arrow IPC file and return its ``arrow`` reference."""
    path = _new_path(artifact_dir, "table", ".arrow")
    frame.write_ipc(path)
    return make_ref("arrow", path, ARROW_MEDIA_TYPE)


def is_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("$ref"), Mapping)


_SCALARS = frozenset({type(None), bool, int, float})


def encode_value(value: Any, artifact_dir: Path, *, spill_bytes: int = SPILL_BYTES) -> Any:
    """``value`` in wire form: JSON, with large or binary parts replaced by references."""
    if type(value) in _SCALARS or isinstance(value, bool | int | float):
        return value
    if type(value) is dict:  # the common container: skip the Mapping ABC check
        return {
            str(k): encode_value(v, artifact_dir, spill_bytes=spill_bytes) for k, v in value.items()
        }
    if isinstance(value, str):
        if len(value) > spill_bytes // 4 and len(data := value.encode()) > spill_bytes:
            return write_bytes_ref(data, artifact_dir, media_type=TEXT_MEDIA_TYPE)
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) > spill_bytes:
            return write_bytes_ref(data, artifact_dir)
        return {"$bytes": base64.b64encode(data).decode("ascii")}
    if isinstance(value, Mapping):
        return {
            str(k): encode_value(v, artifact_dir, spill_bytes=spill_bytes) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [encode_value(v, artifact_dir, spill_bytes=spill_bytes) for v in value]
    if isinstance(value, Path):
        return make_ref("file", value.resolve(), BINARY_MEDIA_TYPE)
    if type(value).__module__.startswith("polars") and hasattr(value, "write_ipc"):
        return write_arrow_ref(value, artifact_dir)
    raise ProtocolError(
        f"cannot send a value of type {type(value).__qualname__} to a worker",
        hint="use JSON values, bytes, pathlib.Path or polars.DataFrame",
    )


_LEAVES = frozenset({str, int, float, bool, type(None)})
"""JSON values that hold no reference: passed through without a call (most values are)."""


def resolve_value(value: Any, artifact_dir: Path) -> Any:
    """``value`` from the wire with references read back: bytes, str, DataFrame or Path."""
    if isinstance(value, list):
        return [v if type(v) in _LEAVES else resolve_value(v, artifact_dir) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:  # a reference has exactly one key
        if isinstance(value.get("$bytes"), str):
            return base64.b64decode(value["$bytes"])
        if "$ref" in value and is_ref(value):
            return _read_ref(value["$ref"], artifact_dir)
    return {
        k: v if type(v) in _LEAVES else resolve_value(v, artifact_dir) for k, v in value.items()
    }


def _read_ref(ref: Mapping[str, Any], artifact_dir: Path) -> Any:
    kind, raw = ref.get("kind"), ref.get("path")
    if kind not in REF_KINDS or not isinstance(raw, str):
        raise ProtocolError(f"bad reference {dict(ref)!r}: expected kind in {REF_KINDS} and a path")
    path = Path(raw)
    if kind == "file":
        return path
    root = artifact_dir.resolve()
    if not path.resolve().is_relative_to(root):
        raise ProtocolError(f"reference path {raw!r} is outside the artifact dir {str(root)!r}")
    if kind == "arrow":
        import polars  # heavy: only when a table actually arrives

        return polars.read_ipc(path)
    data = path.read_bytes()
    media_type = str(ref.get("mediaType") or "")
    return data.decode("utf-8") if media_type.startswith("text/") else data
