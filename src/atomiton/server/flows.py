"""Stored Blueprints: a flows directory on disk, and Atomiton's three bundled templates.

A saved flow is one file, ``<id>.flow.json``, holding Atomiton's ``LoadFlowResult`` shape
(``id``, ``name``, ``nodes``, ``edges``, ``metadata``, ``savedAt``, ``version``), which is also
a Blueprint that ``atomiton run`` loads. Hand-written ``*.flow.yaml`` / ``*.json`` files dropped
into the folder are listed and runnable too. Ids are restricted to safe file-name characters, so
no id can reach outside the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from atomiton.errors import AtomitonError

FLOW_VERSION = "1.0.0"
_SUFFIXES = (".flow.json", ".flow.yaml", ".flow.yml", ".json", ".yaml", ".yml")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class FlowNotFoundError(AtomitonError):
    pass


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_id(flow_id: str) -> str:
    if not _SAFE_ID.match(flow_id):
        raise ValueError(
            f"flow id {flow_id!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return flow_id


def _stem(path: Path) -> str | None:
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    return data


def summary(flow_id: str, doc: Mapping[str, Any], path: Path | None) -> dict[str, Any]:
    """One entry of Atomiton's ``listFlows``: id, name, nodeCount, savedAt, updatedAt, version."""
    mtime = (
        dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat().replace("+00:00", "Z")
        if path is not None
        else ""
    )
    metadata = doc.get("metadata") or {}
    return {
        "id": flow_id,
        "name": str(doc.get("name") or flow_id),
        "description": str(doc.get("description") or metadata.get("description") or ""),
        "nodeCount": len(doc.get("nodes") or ()),
        "savedAt": str(doc.get("savedAt") or mtime),
        "updatedAt": str(metadata.get("updatedAt") or doc.get("savedAt") or mtime),
        "version": str(doc.get("version") or FLOW_VERSION),
    }


class FlowStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, flow_id: str) -> Path:
        """The file holding ``flow_id``; raises FlowNotFoundError."""
        check_id(flow_id)
        for suffix in _SUFFIXES:
            candidate = self.root / f"{flow_id}{suffix}"
            if candidate.is_file():
                return candidate
        raise FlowNotFoundError(
            f"Flow with id {flow_id} not found", hint=f"stored flows live in {self.root}"
        )

    def list(self) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if not self.root.is_dir():
            return []
        for path in sorted(self.root.iterdir()):
            flow_id = _stem(path)
            if flow_id is None or flow_id in found or not _SAFE_ID.match(flow_id):
                continue
            try:
                found[flow_id] = summary(flow_id, _read(path), path)
            except (OSError, ValueError, yaml.YAMLError):
                continue  # not a flow; the folder may hold other files
        return list(found.values())

    def load(self, flow_id: str) -> dict[str, Any]:
        path = self.path(flow_id)
        doc = _read(path)
        doc["id"] = flow_id
        return doc

    def save(self, flow: Mapping[str, Any], flow_id: str | None = None) -> dict[str, Any]:
        """Write ``flow`` as ``<id>.flow.json``; returns the stored document."""
        flow_id = check_id(flow_id or str(flow.get("id") or uuid.uuid4()))
        now = _now()
        try:
            previous = self.load(flow_id)
        except FlowNotFoundError:
            previous = {}
        nodes = list(flow.get("nodes") or ())
        edges = list(flow.get("edges") or ())
        doc = dict(flow)
        doc.update(
            id=flow_id,
            name=str(flow.get("name") or flow_id),
            nodes=nodes,
            edges=edges,
            metadata={
                **dict(flow.get("metadata") or {}),
                "nodeCount": len(nodes),
                "edgeCount": len(edges),
                "updatedAt": now,
            },
            savedAt=str(previous.get("savedAt") or now),
            version=str(flow.get("version") or FLOW_VERSION),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{flow_id}.flow.json"
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, target)
        return doc

    def delete(self, flow_id: str) -> dict[str, Any]:
        path = self.path(flow_id)
        doc = _read(path)
        path.unlink()
        return summary(flow_id, doc, None)


class Templates:
    """Atomiton's bundled templates (MIT, see ``templates/LICENSE``), read from the package."""

    def __init__(self) -> None:
        folder = resources.files("atomiton.server").joinpath("templates")
        self._docs: dict[str, dict[str, Any]] = {}
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".flow.yaml"):
                doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
                self._docs[str(doc["id"])] = doc

    def list(self) -> list[dict[str, Any]]:
        return [
            {
                "id": tid,
                "name": doc.get("name", tid),
                "description": doc.get("description", ""),
                "nodeCount": len(doc.get("nodes") or ()),
            }
            for tid, doc in self._docs.items()
        ]

    def get(self, template_id: str) -> dict[str, Any]:
        doc = self._docs.get(template_id)
        if doc is None:
            raise FlowNotFoundError(f"Flow template {template_id} not found")
        return dict(doc)
