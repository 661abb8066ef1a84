"""Which ports an edge connects: the rules shared by validation and planning.

Source side: a named port; ``error`` (every node's failure port); no handle on a node with one
output means that output; anything else means the *whole output object* (Atomiton passes it,
so such flows still run, with a warning). Target side: a named input port; no handle on a node
with one input means that input; ``trigger`` (or no handle on a node without inputs) orders
without passing a value. A group accepts any input name: its inputs flow into its children by
port name.
"""

from __future__ import annotations

from dataclasses import dataclass

from atomiton.blueprint.model import Node
from atomiton.nodes.definition import ERROR_PORT, NodeDefinition

TRIGGER = "trigger"
"""An edge into ``trigger`` (or with no handle into a node without inputs) only orders: the
target waits for the source and runs only if it succeeded, but receives no value."""

GROUP_OUTPUT = "output"
"""A group's one output port: its sink's value, or a mapping of its sinks' outputs."""


@dataclass(frozen=True, slots=True)
class Shape:
    """What planning needs to know about a node's ports; ``inputs`` None accepts any name."""

    inputs: tuple[str, ...] | None
    outputs: tuple[str, ...]
    required: tuple[str, ...] = ()


def shape_of(node: Node, definition: NodeDefinition | None) -> Shape:
    if definition is None:  # a plain group: any input name, one output
        return Shape(inputs=None, outputs=(GROUP_OUTPUT,))
    return Shape(
        inputs=definition.input_names,
        outputs=definition.output_names,
        required=tuple(p.name for p in definition.inputs if p.required and not p.has_default),
    )


@dataclass(frozen=True, slots=True)
class SourcePort:
    port: str | None
    """The output port, or None for the whole output object."""
    unknown: bool = False
    """True when the handle named no declared port (the whole object flows, with a warning)."""


def source_port(shape: Shape, handle: str | None) -> SourcePort:
    if handle is None:
        return SourcePort(shape.outputs[0] if len(shape.outputs) == 1 else None)
    if handle == ERROR_PORT or handle in shape.outputs:
        return SourcePort(handle)
    return SourcePort(None, unknown=True)


def target_port(shape: Shape, handle: str | None) -> str | None:
    """The input port an edge feeds (:data:`TRIGGER` for ordering only), or None when it cannot
    be resolved (an error)."""
    if handle is None:
        if shape.inputs is None:
            return "input"
        if not shape.inputs:
            return TRIGGER
        return shape.inputs[0] if len(shape.inputs) == 1 else None
    if shape.inputs is None or handle in shape.inputs:
        return handle
    return TRIGGER if handle == TRIGGER else None
