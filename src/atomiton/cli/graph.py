"""``atomiton graph``: a Blueprint drawn as Mermaid or Graphviz DOT text, groups as clusters."""

from __future__ import annotations

from atomiton.blueprint import Blueprint


def to_mermaid(bp: Blueprint) -> str:
    lines = ["flowchart LR"]
    _mermaid(bp, "", lines, "  ")
    return "\n".join(lines) + "\n"


def _mermaid(bp: Blueprint, prefix: str, lines: list[str], indent: str) -> None:
    for node in bp.nodes:
        key = _key(prefix + node.id)
        label = f"{node.label}<br/><i>{node.type}</i>"
        if node.blueprint is not None:
            lines.append(f'{indent}subgraph {key}["{label}"]')
            _mermaid(node.blueprint, f"{prefix}{node.id}/", lines, indent + "  ")
            lines.append(f"{indent}end")
        else:
            lines.append(f'{indent}{key}["{label}"]')
    for edge in bp.edges:
        handles = "/".join(h for h in (edge.source_handle, edge.target_handle) if h)
        arrow = f"-- {handles} -->" if handles else "-->"
        lines.append(f"{indent}{_key(prefix + edge.source)} {arrow} {_key(prefix + edge.target)}")


def to_dot(bp: Blueprint) -> str:
    lines = [f'digraph "{bp.id}" {{', "  rankdir=LR;", "  node [shape=box];"]
    _dot(bp, "", lines, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot(bp: Blueprint, prefix: str, lines: list[str], indent: str) -> None:
    for node in bp.nodes:
        key = _key(prefix + node.id)
        if node.blueprint is not None:
            lines.append(f'{indent}subgraph cluster_{key} {{ label="{node.label} ({node.type})";')
            _dot(node.blueprint, f"{prefix}{node.id}/", lines, indent + "  ")
            lines.append(f"{indent}}}")
        else:
            lines.append(f'{indent}{key} [label="{node.label}\\n{node.type}"];')
    for edge in bp.edges:
        label = "/".join(h for h in (edge.source_handle, edge.target_handle) if h)
        attrs = f' [label="{label}"]' if label else ""
        lines.append(
            f"{indent}{_key(prefix + edge.source)} -> {_key(prefix + edge.target)}{attrs};"
        )


def _key(node_id: str) -> str:
    """A node id as an identifier both formats accept."""
    return "n_" + "".join(c if c.isalnum() else "_" for c in node_id)
