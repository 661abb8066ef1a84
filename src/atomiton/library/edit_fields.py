"""``edit-fields``: set fields on the incoming object, with ``{{ }}`` templates in string values.

Atomiton renders string values with Squirrelly over ``{...input, $now}``. Here a template that
is a *path* is resolved in Python::

    {{ message }}        a field of the input, else a variable (ctx.variables)
    {{ a.b.0 }}          nested fields and list items
    {{ $input }}         the whole input object; {{ $input.x }} a field of it (``it`` is an alias)
    {{ $now }}           the time of the call, ISO 8601 UTC with milliseconds
    {{ $vars.x }}        a variable ($variables.x too); {{ $run_id }} the run id

Anything else (``{{ count + 1 }}``, ``{{ $input.status || 'pending' }}``) is a JavaScript
expression, as in Squirrelly, evaluated in the engine's Node.js workers with the input's fields,
the variables, ``it``, ``$input``, ``$now`` and ``$vars`` as globals. A string that is exactly
one template keeps the value's type; text around templates makes a string, with objects written
as JSON. A missing top-level name renders as ``""`` (Atomiton's rule; the node logs a warning),
a missing nested field is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from atomiton.errors import NodeError, RuntimeUnavailableError
from atomiton.library._compat import as_json_object, iso_now, node_failure, primary
from atomiton.nodes import NodeContext, node

_TYPE = "edit-fields"
_TEMPLATE = re.compile(r"\{\{\s*((?:(?!\}\}).)*?)\s*\}\}", re.DOTALL)
_PATH = re.compile(r"^\$?[A-Za-z_][\w-]*(\.[\w-]+)*$")
_MISSING: Any = object()


class EditFieldsOutput(TypedDict, total=False):
    result: dict[str, Any]


@node(
    id="edit-fields",
    name="Edit Fields",
    category="data",
    icon="pencil-line",
    raw=("values",),
)
async def edit_fields(
    input: Any = None,
    data: Any = None,
    *,
    values: dict[str, Any] | str = {},  # noqa: B006 - read only; a default the editor shows
    keepOnlySet: bool = False,
    ctx: NodeContext,
) -> EditFieldsOutput:
    """Set fields on the input object; string values may use {{ }} templates."""
    source = primary(data if data is not None else input)
    if source is None:
        source = {}
    if not isinstance(source, Mapping):
        raise node_failure(
            _TYPE,
            f"input must be an object to edit fields on, got {type(source).__name__}",
            hint="connect an object (or a node whose result is one) to 'data' or 'input', or "
            "set keepOnlySet and leave the input unconnected",
        )
    fields = as_json_object(values, node_type=_TYPE, name="values")
    scope = _Scope(dict(source), ctx)
    out: dict[str, Any] = {} if keepOnlySet else dict(source)
    for key, value in fields.items():
        out[key] = await _render(value, scope, key) if isinstance(value, str) else value
    return {"result": out}


class _Scope:
    def __init__(self, data: dict[str, Any], ctx: NodeContext) -> None:
        self.data = data
        self.ctx = ctx
        self.now = iso_now()


async def _render(text: str, scope: _Scope, key: str) -> Any:
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole:
        return await _value(whole.group(1), scope, key)
    parts: list[str] = []
    end = 0
    for match in _TEMPLATE.finditer(text):
        parts += [text[end : match.start()], _as_text(await _value(match.group(1), scope, key))]
        end = match.end()
    return "".join([*parts, text[end:]])


async def _value(expr: str, scope: _Scope, key: str) -> Any:
    if _PATH.match(expr):
        return _resolve(expr, scope, key)
    bindings = {
        **scope.ctx.variables,
        **scope.data,
        "it": scope.data,
        "$input": scope.data,
        "$now": scope.now,
        "$vars": dict(scope.ctx.variables),
    }
    try:
        return await scope.ctx.evaluate_js(expr, mode="expression", bindings=bindings)
    except RuntimeUnavailableError:
        raise
    except NodeError as exc:
        raise node_failure(
            _TYPE,
            f"values.{key}: '{{{{ {expr} }}}}' failed as a JavaScript expression: "
            f"{exc.error_type}: {exc}",
            hint="fix the expression, or name a value: {{ count }}, {{ user.name }}, "
            "{{ $input.x }}",
        ) from exc


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _resolve(expr: str, scope: _Scope, key: str) -> Any:
    head, *rest = expr.split(".")
    if head == "$now":
        root: Any = scope.now
    elif head == "$run_id":
        root = scope.ctx.run_id
    elif head in ("$input", "it"):
        root = scope.data
    elif head in ("$vars", "$variables"):
        root = dict(scope.ctx.variables)
    elif head.startswith("$"):
        raise node_failure(
            _TYPE,
            f"values.{key}: unknown template root '{head}' in '{{{{ {expr} }}}}'",
            hint="use $input, $now, $vars or $run_id, or a field name",
        )
    elif head in scope.data:
        root = scope.data[head]
    elif head in scope.ctx.variables:
        root = scope.ctx.variables[head]
    else:
        scope.ctx.log(
            f"edit-fields values.{key}: '{{{{ {expr} }}}}' names '{head}', which is neither an "
            f"input field nor a variable; it renders as an empty string",
            "warning",
        )
        return ""
    return _walk(root, rest, expr, key)


def _walk(value: Any, path: list[str], expr: str, key: str) -> Any:
    for i, part in enumerate(path):
        found = _MISSING
        if isinstance(value, Mapping):
            found = value.get(part, _MISSING)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            found = value[int(part)]
        if found is _MISSING:
            so_far = ".".join(expr.split(".")[: i + 1])
            have = sorted(value)[:10] if isinstance(value, Mapping) else type(value).__name__
            raise node_failure(
                _TYPE,
                f"values.{key}: '{{{{ {expr} }}}}': '{so_far}' has no '{part}' (it has: {have})",
                hint="check the field names of the incoming object",
            )
        value = found
    return value
