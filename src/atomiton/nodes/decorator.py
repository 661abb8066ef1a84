"""``@atomiton.node``: a typed Python function becomes a node.

Ports come from the signature (Hamilton's habit): positional-or-keyword arguments are input
ports (settable by an edge or by ``parameters``), keyword-only arguments are parameters, and an
argument annotated :class:`NodeContext` receives the running call's context. The return
annotation names the outputs: a ``TypedDict`` or dataclass gives one port per field, ``None``
gives none, anything else one port (``output`` unless ``output=`` says otherwise)::

    @node(category="text", parallelizable=True)
    def shout(text: str, *, times: Annotated[int, Field(ge=1)] = 1) -> str:
        '''Upper-case the text, repeated.'''
        return text.upper() * times

The decorator returns the function itself (so it stays picklable and callable in tests) with the
definition attached as ``__atomiton_node__``; errors name the function.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_type_hints, is_typeddict, overload

from pydantic import TypeAdapter

from atomiton.errors import NodeDefinitionError
from atomiton.nodes.context import NodeContext
from atomiton.nodes.definition import (
    MISSING,
    NodeDefinition,
    ParameterSpec,
    PerformanceHints,
    PortSpec,
    RuntimeSpec,
)

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__atomiton_node__"

_DATA_TYPES = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


@overload
def node(fn: F, /) -> F: ...


@overload
def node(
    *,
    id: str | None = None,
    name: str | None = None,
    version: str = "1.0.0",
    category: str = "user",
    description: str | None = None,
    icon: str = "code",
    output: str = "output",
    parallelizable: bool = False,
    prefer_gpu: bool = False,
    streamable: bool = False,
    isolated: bool = False,
    timeout_ms: int | None = None,
    retries: int | None = None,
    tags: tuple[str, ...] = (),
    raw: tuple[str, ...] = (),
    inline: bool | None = None,
) -> Callable[[F], F]: ...


def node(fn: Any = None, /, **options: Any) -> Any:
    """Turn a typed function into a node; see the module docstring. ``raw`` names parameters
    whose ``{{ }}`` the engine must leave alone (the node interprets them itself); ``inline``
    True calls a sync function on the event loop, False always on the thread pool, None lets
    the runtime decide from measured call times."""
    if fn is not None:
        return _attach(fn, options)
    return lambda f: _attach(f, options)


def definition_of(obj: Any) -> NodeDefinition | None:
    """The definition attached to a decorated function, or None."""
    found = getattr(obj, ATTRIBUTE, None)
    return found if isinstance(found, NodeDefinition) else None


def _attach(fn: Any, options: Mapping[str, Any]) -> Any:
    if not callable(fn) or not hasattr(fn, "__qualname__"):
        raise NodeDefinitionError(f"@node decorates functions, got {fn!r}")
    setattr(fn, ATTRIBUTE, build_definition(fn, **options))
    return fn


def build_definition(
    fn: Callable[..., Any],
    *,
    id: str | None = None,
    name: str | None = None,
    version: str = "1.0.0",
    category: str = "user",
    description: str | None = None,
    icon: str = "code",
    output: str = "output",
    parallelizable: bool = False,
    prefer_gpu: bool = False,
    streamable: bool = False,
    isolated: bool = False,
    timeout_ms: int | None = None,
    retries: int | None = None,
    tags: tuple[str, ...] = (),
    raw: tuple[str, ...] = (),
    inline: bool | None = None,
) -> NodeDefinition:
    where = f"{fn.__module__}.{fn.__qualname__}"
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise NodeDefinitionError(f"{where}: cannot resolve type annotations: {exc}") from None
    inputs: list[PortSpec] = []
    parameters: list[ParameterSpec] = []
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, Any)
        if _is_context(annotation):
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise NodeDefinitionError(
                f"{where}: '*{param.name}' / '**{param.name}' cannot become ports",
                hint="declare each input as a named argument",
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise NodeDefinitionError(
                f"{where}: positional-only argument '{param.name}' cannot be set by name",
                hint="remove the '/' from the signature",
            )
        schema = _schema(annotation, where, param.name)
        default = MISSING if param.default is param.empty else param.default
        if param.kind is param.KEYWORD_ONLY:
            parameters.append(
                ParameterSpec(
                    param.name,
                    schema,
                    required=default is MISSING,
                    default=default,
                    render_templates=param.name not in raw,
                )
            )
        else:
            inputs.append(
                PortSpec(
                    param.name,
                    _data_type(schema),
                    schema,
                    required=default is MISSING,
                    default=default,
                )
            )
    outputs, returns = _outputs(hints.get("return", Any), output, where)
    doc = inspect.getdoc(fn) or ""
    return NodeDefinition(
        id=id or fn.__name__.replace("_", "-"),
        name=name or fn.__name__.replace("_", " ").capitalize(),
        version=version,
        category=category,
        description=description if description is not None else doc.split("\n\n")[0],
        icon=icon,
        inputs=tuple(inputs),
        outputs=outputs,
        parameters=tuple(parameters),
        runtime=RuntimeSpec(
            language="python",
            module=fn.__module__,
            handler=fn.__qualname__,
            path=getattr(inspect.getmodule(fn), "__file__", None),
            isolated=isolated,
            options={
                "returns": returns,
                "async": inspect.iscoroutinefunction(fn),
                **({"inline": inline} if inline is not None else {}),
            },
        ),
        performance=PerformanceHints(prefer_gpu, streamable, parallelizable),
        timeout_ms=timeout_ms,
        retries=retries,
        tags=tags,
        origin=where,
    )


def _is_context(annotation: Any) -> bool:
    return annotation is NodeContext or (
        typing.get_origin(annotation) is typing.Annotated
        and typing.get_args(annotation)[0] is NodeContext
    )


def _schema(annotation: Any, where: str, name: str) -> dict[str, Any]:
    if annotation is Any or annotation is inspect.Parameter.empty:
        return {}
    try:
        schema = TypeAdapter(annotation).json_schema()
    except Exception as exc:
        raise NodeDefinitionError(
            f"{where}: argument '{name}' has an annotation with no JSON Schema ({exc})",
            hint="use JSON-like types (str, int, float, bool, list, dict, TypedDict, "
            "dataclass) or Any",
        ) from None
    schema.pop("title", None)
    return schema


def _data_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    return _DATA_TYPES.get(kind, "any") if isinstance(kind, str) else "any"


def _outputs(annotation: Any, single: str, where: str) -> tuple[tuple[PortSpec, ...], str]:
    if annotation is None or annotation is type(None):
        return (), "none"
    if is_typeddict(annotation):
        hints = get_type_hints(annotation, include_extras=True)
        ports = tuple(
            PortSpec(k, _data_type(s := _schema(t, where, k)), s) for k, t in hints.items()
        )
        return ports, "mapping"
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        hints = get_type_hints(annotation, include_extras=True)
        ports = tuple(
            PortSpec(f.name, _data_type(s := _schema(hints.get(f.name, Any), where, f.name)), s)
            for f in dataclasses.fields(annotation)
        )
        return ports, "dataclass"
    schema = _schema(annotation, where, "return")
    return (PortSpec(single, _data_type(schema), schema),), "single"
