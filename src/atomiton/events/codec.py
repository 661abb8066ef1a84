"""The one codec for events and node values: store rows, WebSocket frames and ``--json`` alike.

Values that JSON cannot hold are encoded with a marker so they can be recognised:
bytes become ``{"$bytes": <base64>}``, paths become strings, sets become sorted lists, and
anything else becomes ``{"$repr": repr(value), "$type": qualified type name}``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from atomiton.events.model import Event, EventKind


def to_jsonable(value: Any) -> Any:
    """Turn a node value into something ``json.dumps`` accepts, without losing what it was."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_jsonable(to_dict())
        except Exception:  # a foreign to_dict may need arguments; fall back to repr
            pass
    return {
        "$repr": repr(value)[:2000],
        "$type": f"{type(value).__module__}.{type(value).__qualname__}",
    }


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False)


def encode_event(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": event.run_id,
        "seq": event.seq,
        "kind": event.kind.value,
        "time": event.time,
        "node_id": event.node_id,
        "payload": to_jsonable(event.payload),
    }
    return data


def decode_event(data: Mapping[str, Any]) -> Event:
    return Event(
        run_id=str(data["run_id"]),
        seq=int(data["seq"]),
        kind=EventKind(data["kind"]),
        time=float(data["time"]),
        node_id=data.get("node_id"),
        payload=dict(data.get("payload") or {}),
    )
