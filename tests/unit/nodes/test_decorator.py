"""``@node``: ports from the signature, outputs from the return, errors naming the function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import Field

from atomiton.errors import NodeDefinitionError
from atomiton.nodes import NodeContext, definition_of, node
from atomiton.nodes.definition import MISSING, NodeDefinition


@node(category="text", parallelizable=True, tags=("demo",), raw=("pattern",))
def shout(
    text: str,
    repeat: int = 1,
    *,
    times: Annotated[int, Field(ge=1, le=5)] = 1,
    pattern: str = "{{ x }}",
    ctx: NodeContext,
) -> str:
    """Upper-case the text.

    More words that are not the summary."""
    return text.upper() * times * repeat


class Stats(TypedDict):
    total: int
    names: list[str]


@dataclass
class Split:
    head: str
    rest: str | None


@node(id="stats", output="ignored")
def stats(rows: list[dict[str, Any]]) -> Stats:
    return {"total": len(rows), "names": []}


@node
def split(text: str) -> Split:
    return Split(text[:1], text[1:] or None)


@node
def log_it(message: Any) -> None:
    return None


@node(output="result", timeout_ms=500, retries=2, prefer_gpu=True, isolated=True)
async def wait(seconds: float) -> dict[str, int]:
    return {}


def definition(fn: Any) -> NodeDefinition:
    found = definition_of(fn)
    assert found is not None
    return found


def test_positional_arguments_are_ports_and_keyword_only_ones_parameters() -> None:
    d = definition(shout)
    assert d.id == "shout" and d.name == "Shout" and d.category == "text"
    assert d.description == "Upper-case the text."
    assert d.input_names == ("text", "repeat")
    text, repeat = d.inputs
    assert (text.required, text.data_type, dict(text.schema)) == (
        True,
        "string",
        {"type": "string"},
    )
    assert (repeat.required, repeat.default, repeat.data_type) == (False, 1, "number")
    assert text.default is MISSING and not text.has_default
    assert [p.name for p in d.parameters] == ["times", "pattern"]
    times = d.parameter("times")
    assert times is not None
    assert dict(times.schema) == {"type": "integer", "minimum": 1, "maximum": 5}
    assert times.default == 1 and not times.required
    pattern = d.parameter("pattern")
    assert pattern is not None and pattern.render_templates is False
    assert d.parameter("ctx") is None and d.input("ctx") is None
    assert d.performance.parallelizable and d.tags == ("demo",)
    assert d.runtime.language == "python" and d.runtime.handler == "shout"
    assert d.runtime.module == __name__
    assert d.runtime.options == {"returns": "single", "async": False}
    assert d.origin == f"{__name__}.shout"
    assert d.output_names == ("output",)


def test_the_decorated_function_still_runs() -> None:
    assert shout("a", 2, times=2, ctx=None) == "AAAA"  # type: ignore[arg-type]


def test_a_typed_dict_return_gives_one_port_per_key() -> None:
    d = definition(stats)
    assert d.id == "stats"
    assert [(p.name, p.data_type) for p in d.outputs] == [("total", "number"), ("names", "array")]
    assert d.runtime.options["returns"] == "mapping"
    assert d.inputs[0].data_type == "array"


def test_a_dataclass_return_gives_one_port_per_field() -> None:
    d = definition(split)
    assert [(p.name, p.data_type) for p in d.outputs] == [("head", "string"), ("rest", "any")]
    assert d.runtime.options["returns"] == "dataclass"
    assert d.id == "split"


def test_none_return_gives_no_outputs_and_any_accepts_anything() -> None:
    d = definition(log_it)
    assert d.outputs == () and d.runtime.options["returns"] == "none"
    assert d.id == "log-it" and d.name == "Log it"
    assert dict(d.inputs[0].schema) == {} and d.inputs[0].data_type == "any"


def test_options_name_the_output_and_set_hints() -> None:
    d = definition(wait)
    assert d.output_names == ("result",) and d.outputs[0].data_type == "object"
    assert (d.timeout_ms, d.retries) == (500, 2)
    assert d.performance.prefer_gpu and d.runtime.isolated
    assert d.runtime.options["async"] is True


def test_the_schema_for_forms_holds_ports_and_parameters() -> None:
    schema = definition(shout).parameters_schema()
    assert set(schema["properties"]) == {"text", "repeat", "times", "pattern"}
    assert schema["properties"]["times"]["maximum"] == 5
    assert schema["properties"]["repeat"]["default"] == 1
    entry = definition(shout).to_dict()
    assert entry["parametersSchema"] == schema
    assert entry["performance"]["parallelizable"] is True


def test_star_args_are_refused_naming_the_function() -> None:
    def gather(*items: int) -> int:
        return sum(items)

    with pytest.raises(NodeDefinitionError, match=r"test_decorator\..*gather: '\*items'"):
        node(gather)


def test_star_kwargs_are_refused() -> None:
    def loose(**options: int) -> int:
        return len(options)

    with pytest.raises(NodeDefinitionError, match=r"loose: '\*options' / '\*\*options'"):
        node(loose)


def test_positional_only_arguments_are_refused() -> None:
    def strict(a: int, /) -> int:
        return a

    with pytest.raises(NodeDefinitionError, match="strict: positional-only argument 'a'") as info:
        node(strict)
    assert info.value.hint == "remove the '/' from the signature"


def test_an_annotation_without_a_schema_is_refused() -> None:
    def opaque(thing: object, lock: Any = None) -> int:
        return 0

    opaque.__annotations__["thing"] = type(iter([]))
    with pytest.raises(NodeDefinitionError, match="opaque: argument 'thing' has an annotation"):
        node(opaque)


def test_only_functions_can_be_nodes() -> None:
    with pytest.raises(NodeDefinitionError, match="@node decorates functions"):
        node(3)  # type: ignore[call-overload]
    assert definition_of(len) is None
