"""``node.yaml`` manifests: node definitions for code in other languages.

A manifest sits beside the code it describes and yields the same :class:`NodeDefinition` a
decorated Python function does. One file holds one node, or several under ``nodes:``::

    id: reverse-text
    name: Reverse text
    category: text
    runtime: {language: typescript, module: ./reverse.ts, handler: reverse}
    performance: {parallelizable: true}
    inputs:
      - {name: text, dataType: string, required: true}
    outputs:
      - {name: output, dataType: string}
    parameters:
      - {name: times, schema: {type: integer, minimum: 1}, default: 1}
    timeout: 5000        # milliseconds
    retries: 0

``runtime.path`` is set to the manifest's folder, so ``module`` is relative to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from atomiton.errors import NodeDefinitionError
from atomiton.nodes.definition import (
    LANGUAGES,
    MISSING,
    NodeDefinition,
    ParameterSpec,
    PerformanceHints,
    PortSpec,
    RuntimeSpec,
)

MANIFEST_NAMES = ("node.yaml", "node.yml", "nodes.yaml", "nodes.yml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Port(_Strict):
    name: str = Field(min_length=1)
    dataType: str = "any"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    required: bool = False
    default: Any = Field(default_factory=lambda: MISSING)  # pydantic would copy a plain default
    description: str = ""


class _Parameter(_Strict):
    name: str = Field(min_length=1)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    required: bool = False
    default: Any = Field(default_factory=lambda: MISSING)  # pydantic would copy a plain default
    description: str = ""
    templates: bool = True


class _Runtime(_Strict):
    language: str
    module: str = ""
    handler: str = ""
    isolated: bool = False
    options: dict[str, Any] = Field(default_factory=dict)


class _Performance(_Strict):
    preferGPU: bool = False
    streamable: bool = False
    parallelizable: bool = False


class _Manifest(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    version: str = "1.0.0"
    category: str = "user"
    description: str = ""
    icon: str = "file"
    tags: list[str] = Field(default_factory=list)
    runtime: _Runtime
    performance: _Performance = Field(default_factory=_Performance)
    inputs: list[_Port] = Field(default_factory=list)
    outputs: list[_Port] = Field(default_factory=lambda: [_Port(name="output")])
    parameters: list[_Parameter] = Field(default_factory=list)
    timeout: int | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)


def load_manifest(path: str | Path) -> list[NodeDefinition]:
    """Read one manifest file; raise :class:`NodeDefinitionError` naming the file and field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NodeDefinitionError(f"{path}: cannot read manifest: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise NodeDefinitionError(f"{path}: invalid YAML: {exc}") from None
    entries = data.get("nodes") if isinstance(data, dict) and "nodes" in data else [data]
    if not isinstance(entries, list):
        raise NodeDefinitionError(f"{path}: 'nodes' must be a list of node manifests")
    return [_definition(entry, path, i) for i, entry in enumerate(entries)]


def discover_manifests(folder: str | Path) -> Iterator[Path]:
    """Every manifest file under ``folder`` (recursively), skipping dependency folders."""
    skip = {"node_modules", "target", ".git", "__pycache__", ".venv"}
    for candidate in sorted(Path(folder).rglob("*")):
        if candidate.name in MANIFEST_NAMES and not skip.intersection(candidate.parts):
            yield candidate


def _definition(entry: Any, path: Path, index: int) -> NodeDefinition:
    try:
        m = _Manifest.model_validate(entry)
    except pydantic.ValidationError as exc:
        where = f"{path} (node {index + 1})"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise NodeDefinitionError(f"{where}: invalid manifest: {problems}") from None
    if m.runtime.language not in LANGUAGES:
        raise NodeDefinitionError(
            f"{path}: node '{m.id}' names runtime language '{m.runtime.language}'",
            hint=f"use one of: {', '.join(LANGUAGES)}",
        )
    return NodeDefinition(
        id=m.id,
        name=m.name or m.id,
        version=m.version,
        category=m.category,
        description=m.description,
        icon=m.icon,
        tags=tuple(m.tags),
        inputs=tuple(
            PortSpec(p.name, p.dataType, p.schema_, p.required, p.default, p.description)
            for p in m.inputs
        ),
        outputs=tuple(
            PortSpec(p.name, p.dataType, p.schema_, description=p.description) for p in m.outputs
        ),
        parameters=tuple(
            ParameterSpec(p.name, p.schema_, p.required, p.default, p.description, p.templates)
            for p in m.parameters
        ),
        runtime=RuntimeSpec(
            language=m.runtime.language,
            module=m.runtime.module,
            handler=m.runtime.handler,
            path=str(path.parent.resolve()),
            isolated=m.runtime.isolated,
            options=m.runtime.options,
        ),
        performance=PerformanceHints(
            prefer_gpu=m.performance.preferGPU,
            streamable=m.performance.streamable,
            parallelizable=m.performance.parallelizable,
        ),
        timeout_ms=m.timeout,
        retries=m.retries,
        origin=str(path),
    )
