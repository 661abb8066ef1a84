"""A custom Python node: the first link of examples/polyglot.flow.yaml.

Load it with ``--nodes examples/nodes`` (the folder: its manifests and Python files).
"""

from __future__ import annotations

from atomiton import NodeContext, node


@node(id="compose-text", category="text", icon="pencil")
def compose_text(subject: str, *, repeat: int = 1, ctx: NodeContext) -> str:
    """Write a sentence about the subject, repeated."""
    ctx.log(f"composing for {subject!r}")
    return " ".join([f"{subject} runs nodes in five languages."] * repeat)
