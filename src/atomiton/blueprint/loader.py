"""Read a Blueprint from YAML or JSON: the only file I/O of the blueprint package.

``load_blueprint`` accepts a path, a YAML/JSON string or an already-parsed mapping. Nodes that
reference another file (``blueprint: ./other.flow.yaml``, relative to the referencing file) are
loaded here too, so a reference cycle is reported at load time with the chain of files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from atomiton.blueprint.format import EdgeModel, NodeModel, PortModel, VariableModel
from atomiton.blueprint.model import Blueprint, Edge, Node, PortDecl, Variable
from atomiton.errors import BlueprintError

_SUFFIXES = (".yaml", ".yml", ".json")


def load_blueprint(
    source: str | Path | Mapping[str, Any], *, base_dir: str | Path | None = None
) -> Blueprint:
    """Load a Blueprint from a file path, YAML/JSON text, or a parsed mapping.

    Raises :class:`BlueprintError` naming the file and the place in it when the content is not
    a Blueprint.
    """
    if isinstance(source, Mapping):
        return _build(source, origin="<mapping>", base=Path(base_dir or "."), chain=())
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith(_SUFFIXES)
    ):
        return _load_file(Path(source), chain=())
    data = _parse_text(str(source), origin="<text>")
    return _build(data, origin="<text>", base=Path(base_dir or "."), chain=())


def _load_file(path: Path, chain: tuple[Path, ...]) -> Blueprint:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in (*chain, resolved))
        raise BlueprintError(
            f"Blueprint references form a cycle: {cycle}",
            source=str(path),
            hint="a Blueprint cannot contain itself; remove one of the references",
        )
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BlueprintError(
            "file not found",
            source=str(path),
            hint="check the path; relative paths start "
            "from the current directory, or from the referencing Blueprint's folder",
        ) from None
    except OSError as exc:
        raise BlueprintError(f"cannot read file: {exc.strerror}", source=str(path)) from None
    data = _parse_text(text, origin=str(path))
    return _build(data, origin=str(path), base=resolved.parent, chain=(*chain, resolved))


def _parse_text(text: str, origin: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise BlueprintError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source=origin
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BlueprintError(f"invalid YAML{where}: {problem}", source=origin) from None
    if not isinstance(data, Mapping):
        raise BlueprintError(
            "expected a mapping with 'id', 'nodes' and 'edges' at the top, "
            f"got {type(data).__name__}",
            source=origin,
        )
    return data


def _build(
    data: Mapping[str, Any], *, origin: str, base: Path, chain: tuple[Path, ...]
) -> Blueprint:
    data = dict(data)
    if "id" not in data:  # a hand-written Blueprint may omit it; the file name serves
        data["id"] = "blueprint" if origin.startswith("<") else Path(origin).name.split(".")[0]
    try:
        model = NodeModel.model_validate(data)
    except pydantic.ValidationError as exc:
        raise BlueprintError(_describe(exc), source=origin) from None
    return _blueprint(
        model, origin=origin if not origin.startswith("<") else None, base=base, chain=chain
    )


def _describe(exc: pydantic.ValidationError) -> str:
    problems = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        problems.append(f"{loc or '(top)'}: {err['msg']}")
    return "not a valid Blueprint:\n  - " + "\n  - ".join(problems)


def _blueprint(
    model: NodeModel, *, origin: str | None, base: Path, chain: tuple[Path, ...]
) -> Blueprint:
    meta = model.metadata
    return Blueprint(
        id=model.id,
        name=model.name or model.id,
        nodes=tuple(_node(child, base=base, chain=chain) for child in model.nodes or ()),
        edges=tuple(_edge(e, i) for i, e in enumerate(model.edges or ())),
        variables={k: _variable(k, v) for k, v in model.variables.items()},
        settings=dict(model.settings),
        description=model.description or str(meta.get("description") or ""),
        version=model.version or "1.0.0",
        metadata=dict(meta),
        source=origin,
    )


def _node(model: NodeModel, *, base: Path, chain: tuple[Path, ...]) -> Node:
    sub: Blueprint | None = None
    reference: str | None = None
    if model.blueprint is not None:
        ref_path = base / model.blueprint  # an absolute reference replaces the base
        sub = _load_file(ref_path, chain)
        reference = str(ref_path)
    elif model.nodes:
        sub = _blueprint(model, origin=None, base=base, chain=chain)
    node_type = model.type or ("group" if sub is not None else "")
    position = (model.position.x, model.position.y) if model.position else (0.0, 0.0)
    return Node(
        id=model.id,
        type=str(node_type),
        name=model.name or "",
        version=model.version or "1.0.0",
        parameters=dict(model.parameters),
        input_ports=tuple(_port(p, "input") for p in model.inputPorts),
        output_ports=tuple(_port(p, "output") for p in model.outputPorts),
        metadata=dict(model.metadata),
        position=position,
        blueprint=sub,
        reference=reference,
    )


def _port(model: PortModel, default_kind: str) -> PortDecl:
    return PortDecl(
        id=model.id,
        kind=model.type or default_kind,
        data_type=model.dataType,
        required=model.required,
        name=model.name or model.id,
    )


def _edge(model: EdgeModel, index: int) -> Edge:
    return Edge(
        id=model.id or f"edge-{index + 1}",
        source=model.source,
        target=model.target,
        source_handle=model.sourceHandle or None,
        target_handle=model.targetHandle or None,
    )


def _variable(name: str, value: Any) -> Variable:
    if isinstance(value, VariableModel):
        return Variable(name, value.type, value.defaultValue, value.description)
    return Variable(name, "any", value, "")
