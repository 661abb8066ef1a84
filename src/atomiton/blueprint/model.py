"""The Blueprint as the engine sees it: frozen records, no I/O, no behaviour beyond lookups.

A :class:`Blueprint` is Atomiton's ``NodeDefinition`` tree with ``type: group`` at the root: a
list of :class:`Node` instances, the :class:`Edge` list wiring their ports, ``variables`` with
defaults and ``settings``. A node that holds children (an inline group) or names another file
(``blueprint: path``) carries that sub-Blueprint in ``Node.blueprint`` and runs as a sub-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GROUP_TYPE = "group"

CONTROL_PARAMETERS = ("enabled", "timeout", "retries", "label", "description")
"""Atomiton's base parameters on every node: the engine reads these, the node does not."""


@dataclass(frozen=True, slots=True)
class Edge:
    """Carries the source node's ``source_handle`` output to the target's ``target_handle`` input.

    A handle of ``None`` means "the only port" when the node has exactly one, else the whole
    output object (source side) - see the planner.
    """

    id: str
    source: str
    target: str
    source_handle: str | None = None
    target_handle: str | None = None


@dataclass(frozen=True, slots=True)
class PortDecl:
    """A port as the file declares it (Atomiton copies these into templates by hand)."""

    id: str
    kind: str = "input"  # input | output | trigger | error
    data_type: str = "any"
    required: bool = False
    name: str = ""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str = "any"
    default: Any = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Node:
    """One node instance in a Blueprint."""

    id: str
    type: str
    name: str = ""
    version: str = "1.0.0"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    input_ports: tuple[PortDecl, ...] = ()
    output_ports: tuple[PortDecl, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    blueprint: Blueprint | None = None
    """The sub-Blueprint of an inline group or a referenced file; None for a leaf."""
    reference: str | None = None
    """The path this node's sub-Blueprint was loaded from, when it is a reference."""

    @property
    def is_group(self) -> bool:
        """The node holds a sub-Blueprint (inline children or a referenced file)."""
        return self.blueprint is not None

    @property
    def is_plain_group(self) -> bool:
        """A group the engine runs itself; a typed node with children (``loop``,
        ``parallel``) is a *container*: its own code runs, and runs the children as its body."""
        return self.blueprint is not None and self.type in ("", GROUP_TYPE)

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def enabled(self) -> bool:
        return self.parameters.get("enabled", True) is not False

    @property
    def timeout_ms(self) -> float | None:
        value = self.parameters.get("timeout")
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    @property
    def retries(self) -> int | None:
        value = self.parameters.get("retries")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Blueprint:
    id: str
    name: str
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    variables: Mapping[str, Variable] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    version: str = "1.0.0"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    """The file this Blueprint was loaded from, if any."""
    _by_id: Mapping[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # an index, so that lookups by id stay O(1)
        by_id: dict[str, Node] = {}
        for n in self.nodes:
            by_id.setdefault(n.id, n)  # with duplicate ids (a validation error) the first wins
        object.__setattr__(self, "_by_id", by_id)

    def node(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)

    @property
    def on_error(self) -> str:
        """``fail-fast`` (default) or ``continue``, from ``settings.runtime.onError``."""
        runtime = self.settings.get("runtime")
        value = runtime.get("onError") if isinstance(runtime, Mapping) else None
        return "continue" if value in ("continue", "continueOnError") else "fail-fast"

    def variable_defaults(self) -> dict[str, Any]:
        return {name: var.default for name, var in self.variables.items()}
