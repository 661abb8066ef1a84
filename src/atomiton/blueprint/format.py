"""Atomiton's flow file format, as pydantic models: parsing and the exported JSON Schema.

This is the edge of the system: loose, Atomiton-compatible input (extra keys kept and ignored,
camelCase names, ``null`` handles) is checked here and turned into the frozen records of
:mod:`atomiton.blueprint.model` by the loader.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PositionModel(_Loose):
    x: float = 0.0
    y: float = 0.0


class PortModel(_Loose):
    id: str = Field(min_length=1)
    name: str | None = None
    type: str = "input"
    dataType: str = "any"
    required: bool = False


class EdgeModel(_Loose):
    id: str | None = None
    source: str = Field(min_length=1, description="Id of the node the value comes from.")
    target: str = Field(min_length=1, description="Id of the node the value goes to.")
    sourceHandle: str | None = Field(None, description="Output port of the source node.")
    targetHandle: str | None = Field(None, description="Input port of the target node.")


class VariableModel(_Loose):
    type: str = "any"
    defaultValue: Any = None
    description: str = ""


class NodeModel(_Loose):
    """A node, or a group (with ``nodes``/``edges``, or ``blueprint``): a NodeDefinition."""

    id: str = Field(min_length=1)
    type: str | None = Field(
        None, description="Node type id, e.g. 'transform'; 'group' for groups."
    )
    name: str | None = None
    version: str | None = None
    description: str | None = None
    category: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputPorts: list[PortModel] = Field(default_factory=list)
    outputPorts: list[PortModel] = Field(default_factory=list)
    position: PositionModel | None = None
    nodes: list[NodeModel] | None = None
    edges: list[EdgeModel] | None = None
    variables: dict[str, VariableModel | Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    blueprint: str | None = Field(
        None, description="Path of another Blueprint file to run as this node (a sub-run)."
    )


def blueprint_json_schema() -> dict[str, Any]:
    """The JSON Schema of a Blueprint file (``atomiton schema``)."""
    schema = NodeModel.model_json_schema()
    ref = schema.pop("$ref", None)  # the model is recursive: pydantic puts the root in $defs
    if isinstance(ref, str):
        schema.update(schema["$defs"][ref.rsplit("/", 1)[-1]])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Atomiton Blueprint"
    schema["description"] = (
        "An Atomiton flow: a NodeDefinition tree with type 'group' at the root, child nodes, "
        "edges between their ports, variables and settings."
    )
    return schema
