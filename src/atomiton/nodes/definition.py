"""What a node *is*: its metadata, typed ports, parameters, runtime and performance hints.

A :class:`NodeDefinition` is language-neutral. A Python function decorated with
:func:`atomiton.node` yields one; so does a ``node.yaml`` manifest beside TypeScript, Go, Rust or
WebAssembly code. Everything downstream (validation, planning, the runtime router, the editor's
forms) reads only this.

Ports and parameters: an *input port* receives a value along an edge, and may also be given a
value through the node's ``parameters`` (Atomiton's ``getInput`` falls back to the parameters the
same way). A *parameter* that is not a port can only be set in ``parameters``. Every node also has
an implicit ``error`` output port: connecting it routes the node's failure to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR_PORT = "error"
"""The implicit output port that carries a node's failure when an edge leaves it."""

LANGUAGES = ("python", "typescript", "javascript", "golang", "rust", "wasm")
"""Languages a node definition may name; a router may serve a subset."""

_MISSING: Any = object()
MISSING: Any = _MISSING
"""The marker for "no default" in PortSpec and ParameterSpec."""


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One typed input or output port.

    ``schema`` is a JSON Schema of the values the port carries (``{}`` accepts anything);
    ``data_type`` is Atomiton's coarse type name (string, number, object, array, any, ...).
    An input port is ``required`` when the node cannot run without a value for it.
    """

    name: str
    data_type: str = "any"
    schema: Mapping[str, Any] = field(default_factory=dict)
    required: bool = False
    default: Any = _MISSING
    description: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "dataType": self.data_type,
            "required": self.required,
            "schema": dict(self.schema),
        }
        if self.has_default:
            data["default"] = self.default
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """A parameter set in the Blueprint's ``parameters``; ``schema`` is its JSON Schema."""

    name: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    required: bool = False
    default: Any = _MISSING
    description: str = ""
    render_templates: bool = True
    """False for values the node interprets itself (code, its own template syntax)."""

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "required": self.required,
            "schema": dict(self.schema),
        }
        if self.has_default:
            data["default"] = self.default
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """Where a node's code lives: the runtime ``language``, a ``module`` and a ``handler`` in it.

    For Python, ``module`` is an importable module name and ``handler`` a qualified name in it;
    ``path`` is the file it was loaded from when it is not importable (``--nodes file.py``). For
    other languages ``module`` is a file or package relative to ``path`` (the manifest's folder).
    ``isolated`` asks for an out-of-process worker even where in-process is possible.
    """

    language: str = "python"
    module: str = ""
    handler: str = ""
    path: str | None = None
    isolated: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "language": self.language,
            "module": self.module,
            "handler": self.handler,
        }
        if self.path is not None:
            data["path"] = self.path
        if self.isolated:
            data["isolated"] = True
        if self.options:
            data["options"] = dict(self.options)
        return data


@dataclass(frozen=True, slots=True)
class PerformanceHints:
    """Scheduling hints: a GPU is preferred, outputs may stream, calls may run on every core."""

    prefer_gpu: bool = False
    streamable: bool = False
    parallelizable: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {
            "preferGPU": self.prefer_gpu,
            "streamable": self.streamable,
            "parallelizable": self.parallelizable,
        }


@dataclass(frozen=True, slots=True)
class NodeDefinition:
    """A node type: what a Blueprint's ``type:`` names, and everything needed to run it."""

    id: str
    name: str = ""
    version: str = "1.0.0"
    category: str = "user"
    description: str = ""
    icon: str = "file"
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    parameters: tuple[ParameterSpec, ...] = ()
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    performance: PerformanceHints = field(default_factory=PerformanceHints)
    timeout_ms: int | None = None
    retries: int | None = None
    tags: tuple[str, ...] = ()
    origin: str = ""
    """Where the definition came from (a module, file or entry point), for error messages."""
    input_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    output_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    settable: frozenset[str] = field(init=False, repr=False, compare=False)
    """Every name ``parameters`` may set: input ports and parameters."""

    def __post_init__(self) -> None:  # derived once: the scheduler's hot path reads them
        inputs = tuple(p.name for p in self.inputs)
        object.__setattr__(self, "input_names", inputs)
        object.__setattr__(self, "output_names", tuple(p.name for p in self.outputs))
        object.__setattr__(
            self, "settable", frozenset((*inputs, *(p.name for p in self.parameters)))
        )

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    def parameters_schema(self) -> dict[str, Any]:
        """One JSON Schema object for every settable value: input ports and parameters."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        specs: tuple[PortSpec | ParameterSpec, ...] = (*self.inputs, *self.parameters)
        for spec in specs:
            prop = dict(spec.schema)
            if spec.description and "description" not in prop:
                prop["description"] = spec.description
            if spec.has_default and "default" not in prop:
                prop["default"] = spec.default
            properties[spec.name] = prop
            if isinstance(spec, ParameterSpec) and spec.required:
                required.append(spec.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def to_dict(self) -> dict[str, Any]:
        """The catalogue entry an editor renders a form from (also ``atomiton nodes --json``)."""
        return {
            "id": self.id,
            "name": self.name or self.id,
            "version": self.version,
            "category": self.category,
            "description": self.description,
            "icon": self.icon,
            "tags": list(self.tags),
            "inputs": [p.to_dict() for p in self.inputs],
            "outputs": [p.to_dict() for p in self.outputs],
            "parameters": [p.to_dict() for p in self.parameters],
            "parametersSchema": self.parameters_schema(),
            "runtime": self.runtime.to_dict(),
            "performance": self.performance.to_dict(),
            "timeout": self.timeout_ms,
            "retries": self.retries,
            "origin": self.origin,
        }
