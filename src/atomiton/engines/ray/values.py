"""Which node values travel back to the driver, and which stay in Ray's object store.

The rule: after a node runs, each output port's value is measured in the worker. A value
estimated at or under ``inline_limit`` bytes (100 KiB by default, Ray's own limit for returning
a value inline) comes back to the driver inline, where events and the store see it. A larger
value stays in the object store, in the task's second return object, and the port's value on
the driver is a *marker*::

    {"$ref": {"kind": "ray", "object": "<object id hex>", "port": "table",
              "bytes": 52428800, "type": "pyarrow.lib.Table"}}

Events and history record the marker (a small JSON value). A downstream task receives the
object itself as a task argument, so Ray moves it worker to worker and the worker swaps each
marker for its value before calling the node: the driver never pulls a large intermediate.
Only a run's sink outputs are fetched, once, for the :class:`~atomiton.engines.RunResult`.

With an artifact location (``RayEngine(artifacts="s3://bucket/prefix")``, see
:mod:`atomiton.artifacts`) a large value is written there instead, by the worker that made it,
and the port's value is the store's reference, marked ``spilled``::

    {"$ref": {"kind": "url", "url": "s3://bucket/prefix/<run>/<sha256>.pickle",
              "format": "pickle", "bytes": 52428800, "sha256": "...", "spilled": true,
              "port": "table", "type": "pyarrow.lib.Table"}}

The worker of a downstream node reads it back before calling the node (any machine that can
reach the storage can); the value outlives the run and Ray.

Sizes are estimates that cost no serialisation for the common types (bytes, str, numbers,
containers, and anything with ``nbytes`` or ``estimated_size()`` such as NumPy arrays, Arrow
and polars tables); anything else is pickled to be measured.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.artifacts import ArtifactStore

INLINE_LIMIT_BYTES = 100 * 1024
MARKER_KIND = "ray"


@dataclass(frozen=True, slots=True)
class ValueRule:
    """Where a call's outputs go (it travels with every task): under ``inline_limit`` bytes,
    back inline; larger, to ``artifacts`` (an fsspec URL) when set, else Ray's object store."""

    inline_limit: int = INLINE_LIMIT_BYTES
    artifacts: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    def store(self) -> ArtifactStore:
        """The artifact store, opened once per process."""
        assert self.artifacts is not None
        key = (self.artifacts, json.dumps(self.storage_options, sort_keys=True, default=repr))
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ArtifactStore(self.artifacts, **self.storage_options)
        return store


_stores: dict[tuple[str, str], ArtifactStore] = {}


def estimate_size(value: Any, limit: int) -> int:
    """Roughly how many bytes ``value`` takes; stops counting once past ``limit``."""
    if value is None or isinstance(value, bool | int | float):
        return 8
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, Mapping):
        total = 0
        for key, item in value.items():
            total += estimate_size(key, limit) + estimate_size(item, limit - total)
            if total > limit:
                break
        return total
    if isinstance(value, list | tuple | set | frozenset):
        total = 0
        for item in value:
            total += estimate_size(item, limit - total) + 8
            if total > limit:
                break
        return total
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    estimated = getattr(value, "estimated_size", None)
    if callable(estimated):
        try:
            return int(estimated())
        except Exception:  # a foreign estimated_size() with required arguments
            pass
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # unpicklable values fail later, in Ray, with Ray's own message
        return 0


def split_outputs(
    outputs: Mapping[str, Any], rule: ValueRule, run_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(inline, large)``: small values and markers (object id still empty), large values.
    With an artifact location, large values are written there and ``large`` stays None."""
    inline: dict[str, Any] = {}
    large: dict[str, Any] = {}
    for port, value in outputs.items():
        size = estimate_size(value, rule.inline_limit)
        if size <= rule.inline_limit:
            inline[port] = value
        elif rule.artifacts is not None:
            ref = rule.store().write_value(run_id, value)["$ref"]
            kind = type(value)
            inline[port] = {
                "$ref": {
                    **ref,
                    "spilled": True,
                    "port": port,
                    "type": f"{kind.__module__}.{kind.__qualname__}",
                }
            }
        else:
            large[port] = value
            inline[port] = marker("", port, size, value)
    return inline, large or None


def spilled_of(value: Any) -> dict[str, Any] | None:
    """The ``$ref`` body when ``value`` is a large value the engine wrote to storage."""
    if isinstance(value, dict) and len(value) == 1:
        ref = value.get("$ref")
        if isinstance(ref, dict) and ref.get("kind") == "url" and ref.get("spilled") is True:
            return ref
    return None


def marker(object_id: str, port: str, size: int, value: Any) -> dict[str, Any]:
    kind = type(value)
    return {
        "$ref": {
            "kind": MARKER_KIND,
            "object": object_id,
            "port": port,
            "bytes": size,
            "type": f"{kind.__module__}.{kind.__qualname__}",
        }
    }


def marker_of(value: Any) -> dict[str, Any] | None:
    """The ``$ref`` body when ``value`` is a Ray marker, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ref = value.get("$ref")
        if isinstance(ref, dict) and ref.get("kind") == MARKER_KIND:
            return ref
    return None


def stamp(inline: Mapping[str, Any], object_id: str) -> dict[str, Any]:
    """The inline outputs with every marker naming ``object_id`` (known only on the driver)."""
    stamped: dict[str, Any] = {}
    for port, value in inline.items():
        ref = marker_of(value)
        stamped[port] = {"$ref": {**ref, "object": object_id}} if ref is not None else value
    return stamped


def markers_in(value: Any, found: list[dict[str, Any]]) -> None:
    """Collect every marker inside ``value`` (dicts and lists, as groups nest sink outputs)."""
    ref = marker_of(value)
    if ref is not None:
        found.append(ref)
    elif isinstance(value, Mapping):
        for item in value.values():
            markers_in(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            markers_in(item, found)


def substitute(
    value: Any,
    lookup: Callable[[dict[str, Any]], Any],
    find: Callable[[Any], dict[str, Any] | None] = marker_of,
) -> Any:
    """``value`` with every marker ``find`` recognises replaced by ``lookup(marker)``."""
    ref = find(value)
    if ref is not None:
        return lookup(ref)
    if isinstance(value, Mapping):
        return {k: substitute(v, lookup, find) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, lookup, find) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, lookup, find) for v in value)
    return value
