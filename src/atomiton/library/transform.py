"""``transform``: Atomiton's eleven list operations, with functions in JavaScript or Python.

``map``, ``filter`` and ``reduce`` take a function written as Atomiton writes it
(``item => item.x``, block bodies ``item => { return ...; }``, nested arrows); the whole
operation runs in the engine's warm Node.js workers in one ``ctx.evaluate_js`` call per node
execution (``data.map(<fn>)``), never once per item. ``language: python`` takes a Python
``lambda`` instead, compiled with a short list of builtins (for trusted flows: it is not a
sandbox). The other eight operations are data shuffling and run in Python.

Atomiton's own templates also write a function *body* over the whole input, under
``expression`` or ``code`` (``return data.filter(...)``); it runs as ``(data) => { body }``
(the argument named by ``inputParams``). Errors name the operation and the JavaScript error;
nothing is replaced by a fallback result, as Atomiton does.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field

from atomiton.errors import NodeError, RuntimeUnavailableError
from atomiton.library._compat import node_failure, unwrap
from atomiton.nodes import NodeContext, node

_TYPE = "transform"
Operation = Literal[
    "map",
    "filter",
    "reduce",
    "sort",
    "group",
    "flatten",
    "unique",
    "reverse",
    "limit",
    "skip",
    "slice",
]
_FUNCTION_OPS = ("map", "filter", "reduce")
_RETURN = re.compile(r"\breturn\b")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_SAFE_BUILTINS: dict[str, Any] = {
    f.__name__: f
    for f in (
        abs, all, any, bool, dict, enumerate, float, int, isinstance, len, list, max, min,
        range, reversed, round, set, sorted, str, sum, tuple, zip,
    )
}  # fmt: skip


class TransformOutput(TypedDict):
    result: Any
    inputCount: int
    outputCount: int
    operation: str
    success: bool


@node(
    id="transform",
    name="Transform",
    category="data",
    icon="wand-2",
    raw=("transformFunction", "expression", "code"),
)
async def transform(
    input: Any = None,
    data: Any = None,
    function: str | None = None,
    *,
    operation: Operation = "map",
    transformFunction: str = "item => item",
    language: Literal["javascript", "python"] = "javascript",
    expression: str | None = None,
    code: str | None = None,
    inputParams: str = "data",
    sortKey: str | None = None,
    sortDirection: Literal["asc", "desc"] = "asc",
    reduceInitial: Any = None,
    groupKey: str | None = None,
    flattenDepth: Annotated[int, Field(ge=1, le=10)] = 1,
    limitCount: Annotated[int, Field(ge=1)] | None = None,
    skipCount: Annotated[int, Field(ge=0)] | None = None,
    sliceStart: Annotated[int, Field(ge=0)] | None = None,
    sliceEnd: int | None = None,
    ctx: NodeContext,
) -> TransformOutput:
    """Map, filter, reduce, sort, group, flatten, de-duplicate, reverse or slice a list."""
    value = unwrap(data if data is not None else input)
    body = expression if expression is not None else code
    if body is not None:
        result = await _run_body(body, inputParams, value, language, ctx)
        return _output(result, value, "expression" if expression is not None else "code")
    items = _as_list(value, operation)
    source = function if function is not None else transformFunction
    if operation in _FUNCTION_OPS:
        run = _run_python if language == "python" else _run_javascript
        result = await run(operation, source, items, reduceInitial, ctx)
    else:
        result = _shuffle(
            operation,
            items,
            sort_key=sortKey,
            descending=sortDirection == "desc",
            group_key=groupKey,
            depth=flattenDepth,
            limit=limitCount,
            skip=skipCount,
            start=sliceStart,
            end=sliceEnd,
        )
    return _output(result, items, operation)


def _output(result: Any, given: Any, operation: str) -> TransformOutput:
    out_count = len(result) if isinstance(result, list | Mapping) else 1
    in_count = len(given) if isinstance(given, list) else 0 if given is None else 1
    return {
        "result": result,
        "inputCount": in_count,
        "outputCount": out_count,
        "operation": operation,
        "success": True,
    }


def _as_list(value: Any, operation: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if operation in ("map", "filter"):
        return [value]  # one object is a list of one (Atomiton fails here)
    raise node_failure(
        _TYPE,
        f"Input data must be an array for transformation ({operation}), got {type(value).__name__}",
        hint="connect a list to 'data' or 'input', or a node whose result is a list",
    )


# -- functions in JavaScript ---------------------------------------------------------------------


async def _run_javascript(
    operation: str, source: str, items: list[Any], initial: Any, ctx: NodeContext
) -> Any:
    fn = source.strip().rstrip(";").rstrip()
    if operation == "reduce":
        if initial is None:
            program = f"(data) => data.reduce({fn}\n)"
            args: list[Any] = [items]
        else:
            program = f"(data, initial) => data.reduce({fn}\n, initial)"
            args = [items, _initial_value(initial)]
    else:
        program = f"(data) => data.{operation}({fn}\n)"
        args = [items]
    return await _evaluate(program, args, f"{operation} with {_preview(fn)}", ctx)


async def _run_body(body: str, name: str, value: Any, language: str, ctx: NodeContext) -> Any:
    if language == "python":
        raise node_failure(
            _TYPE,
            "'expression' and 'code' are JavaScript function bodies; language python takes "
            "a lambda in 'transformFunction'",
            hint="remove language: python, or write transformFunction: 'lambda item: ...'",
        )
    if not _IDENTIFIER.match(name):
        raise node_failure(
            _TYPE,
            f"inputParams must name one argument, got '{name}'",
            hint="use inputParams: data (the default)",
        )
    text = body.strip()
    inner = text if _RETURN.search(text) else f"return ({text}\n);"
    program = f"({name}) => {{\n{inner}\n}}"
    return await _evaluate(program, [value], f"code {_preview(text)}", ctx)


async def _evaluate(program: str, args: list[Any], what: str, ctx: NodeContext) -> Any:
    try:
        return await ctx.evaluate_js(program, args=args)
    except RuntimeUnavailableError:
        raise
    except NodeError as exc:
        raise node_failure(
            _TYPE,
            f"{what} failed: {exc.error_type}: {exc}",
            hint="fix the JavaScript; functions look like item => item.name or "
            "item => { return item.price * 2; }",
        ) from exc


def _initial_value(text: Any) -> Any:
    """Atomiton's ``parseInitialValue``: JSON, else a number, else the text itself."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and math.isfinite(number) else number


# -- functions in Python -------------------------------------------------------------------------


async def _run_python(
    operation: str, source: str, items: list[Any], initial: Any, ctx: NodeContext
) -> Any:
    fn, arity = _compile_lambda(source)
    what = f"{operation} with {_preview(source)}"
    try:
        if operation == "map":
            return [fn(item, i) if arity > 1 else fn(item) for i, item in enumerate(items)]
        if operation == "filter":
            return [
                item for i, item in enumerate(items) if (fn(item, i) if arity > 1 else fn(item))
            ]
        if initial is None:
            if not items:
                raise TypeError("reduce of an empty list with no reduceInitial")
            acc, rest = items[0], items[1:]
        else:
            acc, rest = _initial_value(initial), items
        for item in rest:
            acc = fn(acc, item)
        return acc
    except NodeError:
        raise
    except Exception as exc:
        raise node_failure(
            _TYPE,
            f"{what} failed: {type(exc).__name__}: {exc}",
            hint="fix the lambda; map and filter call it with (item) or (item, index), "
            "reduce with (acc, item)",
        ) from exc


def _compile_lambda(source: str) -> tuple[Callable[..., Any], int]:
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise node_failure(
            _TYPE,
            f"transformFunction is not valid Python: {exc.msg} in {_preview(text)}",
            hint="write a lambda, e.g. lambda item: item['price'] * 2",
        ) from None
    if not isinstance(tree.body, ast.Lambda):
        raise node_failure(
            _TYPE,
            f"with language python, transformFunction must be a lambda, got {_preview(text)}",
            hint="write e.g. lambda item: item['name']",
        )
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("_"):
            raise node_failure(
                _TYPE,
                f"transformFunction may not use the private attribute '{sub.attr}'",
                hint="read fields with item['name'] or item.get('name')",
            )
    fn = eval(compile(tree, "<transformFunction>", "eval"), {"__builtins__": _SAFE_BUILTINS})
    arguments = tree.body.args
    return fn, len(arguments.posonlyargs) + len(arguments.args)


# -- operations without a function ---------------------------------------------------------------


def _shuffle(
    operation: str,
    items: list[Any],
    *,
    sort_key: str | None,
    descending: bool,
    group_key: str | None,
    depth: int,
    limit: int | None,
    skip: int | None,
    start: int | None,
    end: int | None,
) -> Any:
    if operation == "sort":
        return _sort(items, sort_key, descending)
    if operation == "group":
        key = group_key or sort_key
        if not key:
            raise node_failure(
                _TYPE,
                "groupKey or sortKey is required for group operation",
                hint="set groupKey to the field to group by",
            )
        groups: dict[str, list[Any]] = {}
        for item in items:
            groups.setdefault(_js_string(_field(item, key)), []).append(item)
        return groups
    if operation == "flatten":
        return _flatten(items, depth)
    if operation == "unique":
        seen: dict[str, Any] = {}
        for item in items:
            seen.setdefault(json.dumps(item, separators=(",", ":"), default=str), item)
        return list(seen.values())
    if operation == "reverse":
        return items[::-1]
    if operation == "limit":
        return items[: limit if limit is not None else 10]
    if operation == "skip":
        return items[skip or 0 :]
    if operation == "slice":
        return items[start or 0 : end]
    raise node_failure(
        _TYPE,
        f"unknown operation '{operation}'",
        hint="use map, filter, reduce, sort, group, flatten, unique, reverse, limit, skip or slice",
    )


_ABSENT: Any = object()


def _field(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key, _ABSENT)
    return _ABSENT


def _sort(items: list[Any], key: str | None, descending: bool) -> list[Any]:
    """Atomiton's comparison: numbers when both sides are numeric, else their text."""
    values = [(_field(i, key) if key else i) for i in items]
    numbers = [_js_number(v) for v in values]
    if all(n is not None for n in numbers):
        order = sorted(range(len(items)), key=lambda i: numbers[i] or 0.0, reverse=descending)
    else:
        texts = [_js_string(v) for v in values]
        order = sorted(range(len(items)), key=lambda i: texts[i], reverse=descending)
    return [items[i] for i in order]


def _js_number(value: Any) -> float | None:
    """JavaScript's ``Number(value)`` when it is not NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def _js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for JSON values."""
    if value is _ABSENT:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if v is None else _js_string(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _flatten(items: list[Any], depth: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list) and depth > 0:
            out += _flatten(item, depth - 1)
        else:
            out.append(item)
    return out


def _preview(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")
