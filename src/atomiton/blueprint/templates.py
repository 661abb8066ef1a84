"""``{{ }}`` templates in parameter values: safe path lookups, never code.

A template names a value by path::

    {{ $now }}                 the run's clock, ISO 8601 (UTC)
    {{ $run_id }}              the run id
    {{ $input }}               the node's inputs: the value itself when there is one input port
    {{ $input.user.name }}     a field of it; list items by index: {{ $input.items.0 }}
    {{ $inputs.port }}         one input port by name
    {{ $vars.name }}           a Blueprint variable ($variables.name too)
    {{ $nodes.fetch.output }}  an upstream node's output port (the planner adds the dependency)
    {{ name }}                 a variable, else a field of the inputs (Atomiton's edit-fields)

A string that is exactly one template keeps the value's type (a number stays a number); text
around a template makes the result a string, with objects written as JSON. A path that does not
resolve raises :class:`TemplateError` naming the path and what was available.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomiton.errors import AtomitonError

_TEMPLATE = re.compile(r"\{\{\s*((?:(?!\}\}).)*?)\s*\}\}")
_PATH = re.compile(r"^\$?[A-Za-z_][\w-]*(\.[\w-]+)*$")


class TemplateError(AtomitonError):
    """A ``{{ }}`` template could not be resolved."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything a template may name."""

    now: str = ""
    run_id: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def input(self) -> Any:
        if len(self.inputs) == 1:
            return next(iter(self.inputs.values()))
        return dict(self.inputs)


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value and _TEMPLATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


def node_references(value: Any) -> set[str]:
    """Ids of the upstream nodes that ``{{ $nodes.<id>... }}`` templates in ``value`` name."""
    found: set[str] = set()
    for expr in _expressions(value):
        parts = expr.split(".")
        if parts[0] == "$nodes" and len(parts) > 1:
            found.add(parts[1])
    return found


def check(value: Any) -> list[str]:
    """Syntax problems in the templates of ``value`` (empty when all are valid paths)."""
    return [
        f"'{{{{ {expr} }}}}' is not a path (expected e.g. '{{{{ $input.field }}}}' or "
        f"'{{{{ $vars.name }}}}'; code expressions are not evaluated here)"
        for expr in _expressions(value)
        if not _PATH.match(expr)
    ]


def render(value: Any, scope: Scope) -> Any:
    """Resolve every template in ``value`` (strings, and strings nested in lists and mappings)."""
    if isinstance(value, str):
        return _render_string(value, scope)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


def _expressions(value: Any) -> list[str]:
    if isinstance(value, str):
        return _TEMPLATE.findall(value) if "{{" in value else []
    if isinstance(value, Mapping):
        return [e for v in value.values() for e in _expressions(v)]
    if isinstance(value, list | tuple):
        return [e for v in value for e in _expressions(v)]
    return []


def _render_string(text: str, scope: Scope) -> Any:
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole and "}}" not in whole.group(1):  # not "{{ a }} and {{ b }}" read as one
        return _resolve(whole.group(1), scope)
    return _TEMPLATE.sub(lambda m: _as_text(_resolve(m.group(1), scope)), text)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _resolve(expr: str, scope: Scope) -> Any:
    if not _PATH.match(expr):
        raise TemplateError(
            f"'{{{{ {expr} }}}}' is not a path",
            hint="templates name values, e.g. {{ $input.name }} or {{ $vars.limit }}",
        )
    head, *rest = expr.split(".")
    root: Any
    if head == "$now":
        root = scope.now
    elif head == "$run_id":
        root = scope.run_id
    elif head == "$input":
        root = scope.input
    elif head == "$inputs":
        root = scope.inputs
    elif head in ("$vars", "$variables"):
        root = scope.variables
    elif head == "$nodes":
        root = scope.nodes
    elif head.startswith("$"):
        raise TemplateError(
            f"unknown template root '{head}' in '{{{{ {expr} }}}}'",
            hint="use $now, $run_id, $input, $inputs, $vars or $nodes",
        )
    elif head in scope.variables:
        root = scope.variables[head]
    else:
        data = scope.input
        if isinstance(data, Mapping) and head in data:
            root = data[head]
        else:
            names = sorted({*scope.variables, *(data if isinstance(data, Mapping) else {})})
            raise TemplateError(
                f"'{{{{ {expr} }}}}' names '{head}', which is neither a variable nor an input "
                f"field (available: {', '.join(names) or 'none'})",
                hint="declare it under 'variables' or pass it with --var",
            )
    return _walk(root, rest, expr)


def _walk(value: Any, path: list[str], expr: str) -> Any:
    for i, key in enumerate(path):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            so_far = ".".join(expr.split(".")[: i + 1])
            have = list(value)[:10] if isinstance(value, Mapping) else type(value).__name__
            raise TemplateError(
                f"'{{{{ {expr} }}}}': '{so_far}' has no '{key}' (it has: {have})",
            )
    return value
