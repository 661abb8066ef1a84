"""edit-fields: values set on the input object, templates resolved as paths."""

from __future__ import annotations

import re

import pytest
from recording_context import RecordingContext

from atomiton import LocalEngine, NodeRegistry
from atomiton.errors import NodeError
from atomiton.library.edit_fields import edit_fields
from atomiton.nodes import definition_of


async def test_values_merge_into_the_input() -> None:
    out = await edit_fields(
        data={"a": 1, "b": 2}, values={"b": 3, "c": "x"}, ctx=RecordingContext()
    )
    assert out == {"result": {"a": 1, "b": 3, "c": "x"}}


async def test_keep_only_set_drops_input_fields() -> None:
    out = await edit_fields(
        data={"a": 1}, values={"c": 2}, keepOnlySet=True, ctx=RecordingContext()
    )
    assert out == {"result": {"c": 2}}


async def test_values_as_json_string() -> None:
    out = await edit_fields(values='{"n": 5, "s": "t"}', ctx=RecordingContext())
    assert out == {"result": {"n": 5, "s": "t"}}


async def test_invalid_json_values_fail_with_position() -> None:
    with pytest.raises(NodeError, match=r"\[edit-fields\] 'values' is a string but not valid JSON"):
        await edit_fields(values="{not json", ctx=RecordingContext())


async def test_values_must_be_an_object() -> None:
    with pytest.raises(NodeError, match="'values' must be an object, got list"):
        await edit_fields(values="[1, 2]", ctx=RecordingContext())


async def test_input_output_object_is_unwrapped() -> None:
    """An edge from ``output`` carries the whole output object; its ``result`` is edited."""
    upstream = {"result": {"name": "Ada"}, "success": True, "inputCount": 1}
    out = await edit_fields(
        input=upstream, values={"greeting": "Hi {{name}}"}, ctx=RecordingContext()
    )
    assert out["result"] == {"name": "Ada", "greeting": "Hi Ada"}


async def test_data_port_wins_over_input() -> None:
    out = await edit_fields(input={"x": 1}, data={"y": 2}, values={}, ctx=RecordingContext())
    assert out["result"] == {"y": 2}


async def test_non_object_input_fails() -> None:
    with pytest.raises(NodeError, match="input must be an object to edit fields on, got list"):
        await edit_fields(data=[1, 2], values={}, ctx=RecordingContext())


async def test_now_is_iso_utc_with_milliseconds() -> None:
    out = await edit_fields(values={"t": "{{$now}}", "u": "at {{ $now }}"}, ctx=RecordingContext())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["result"]["t"])
    assert out["result"]["u"] == "at " + out["result"]["t"]


async def test_paths_into_fields_and_lists() -> None:
    data = {"user": {"name": "Ada", "tags": ["x", "y"]}, "count": 5}
    values = {
        "name": "{{user.name}}",
        "second": "{{ user.tags.1 }}",
        "via_input": "{{$input.count}}",
        "via_it": "{{it.count}}",
        "text": "{{user.name}} has {{count}} and {{user.tags}}",
    }
    out = (await edit_fields(data=data, values=values, ctx=RecordingContext()))["result"]
    assert out["name"] == "Ada"
    assert out["second"] == "y"
    assert out["via_input"] == 5  # one whole template keeps the value's type
    assert out["via_it"] == 5
    assert out["text"] == 'Ada has 5 and ["x", "y"]'


async def test_whole_input_and_variables() -> None:
    ctx = RecordingContext(variables={"limit": 10, "who": "me"}, run_id="r-9")
    values = {"all": "{{$input}}", "lim": "{{$vars.limit}}", "who": "{{who}}", "run": "{{$run_id}}"}
    out = (await edit_fields(data={"a": 1}, values=values, keepOnlySet=True, ctx=ctx))["result"]
    assert out == {"all": {"a": 1}, "lim": 10, "who": "me", "run": "r-9"}


async def test_input_field_wins_over_variable() -> None:
    ctx = RecordingContext(variables={"name": "var"})
    out = await edit_fields(data={"name": "field"}, values={"n": "{{name}}"}, ctx=ctx)
    assert out["result"]["n"] == "field"


async def test_missing_top_level_name_is_empty_and_logged() -> None:
    ctx = RecordingContext()
    out = await edit_fields(values={"m": "Hi {{missing}}!"}, ctx=ctx)
    assert out["result"]["m"] == "Hi !"
    assert any("'missing'" in m for m in ctx.messages("warning"))


async def test_missing_nested_field_is_an_error_naming_it() -> None:
    with pytest.raises(NodeError, match=r"'a\.b' has no 'c' \(it has: \['x'\]\)"):
        await edit_fields(
            data={"a": {"b": {"x": 1}}}, values={"v": "{{a.b.c}}"}, ctx=RecordingContext()
        )


@pytest.mark.toolchain("node")
async def test_javascript_expressions_are_evaluated() -> None:
    async with LocalEngine(registry=NodeRegistry.default(), store=None) as engine:
        result = await engine.execute(
            {
                "id": "e",
                "name": "e",
                "variables": {"unit": {"defaultValue": "kg"}},
                "nodes": [
                    {
                        "id": "e",
                        "type": "edit-fields",
                        "parameters": {
                            "data": {"count": 5, "status": None},
                            "values": {
                                "n": "{{count + 1}}",
                                "s": "{{ $input.status || 'pending' }}",
                                "t": "{{ count * 2 }} {{ unit }} at {{ $now.slice(0, 4) }}",
                                "bad": "{{ missing.deep.x + 1 }}",
                            },
                        },
                    }
                ],
            }
        )
    assert result.status == "failed"
    assert result.error is not None
    assert (
        "values.bad: '{{ missing.deep.x + 1 }}' failed as a JavaScript expression: "
        in (result.error["message"])
    )


@pytest.mark.toolchain("node")
async def test_javascript_expression_values_keep_their_type() -> None:
    async with LocalEngine(registry=NodeRegistry.default(), store=None) as engine:
        result = await engine.execute(
            {
                "id": "e",
                "name": "e",
                "variables": {"unit": {"defaultValue": "kg"}},
                "nodes": [
                    {
                        "id": "e",
                        "type": "edit-fields",
                        "parameters": {
                            "data": {"count": 5, "status": None},
                            "values": {
                                "n": "{{count + 1}}",
                                "s": "{{ $input.status || 'pending' }}",
                                "t": "{{ count * 2 }} {{ unit }} {{ $vars.unit + '!' }}",
                            },
                        },
                    }
                ],
            }
        )
    assert result.status == "succeeded", result.error
    values = result.outputs["e"]["result"]
    assert (values["n"], values["s"], values["t"]) == (6, "pending", "10 kg kg!")


async def test_unknown_dollar_root_fails() -> None:
    with pytest.raises(NodeError, match=r"unknown template root '\$count'"):
        await edit_fields(values={"n": "{{$count}}"}, ctx=RecordingContext())


async def test_non_string_values_are_copied_verbatim() -> None:
    values = {"n": 1, "obj": {"inner": "{{not rendered}}"}, "none": None}
    out = await edit_fields(values=values, keepOnlySet=True, ctx=RecordingContext())
    assert out["result"] == values


async def test_no_html_escaping() -> None:
    out = await edit_fields(
        data={"m": "Hello & <b>"}, values={"o": "M: {{m}}"}, ctx=RecordingContext()
    )
    assert out["result"]["o"] == "M: Hello & <b>"


def test_definition_leaves_values_templates_to_the_node() -> None:
    definition = definition_of(edit_fields)
    assert definition is not None
    assert definition.id == "edit-fields"
    assert definition.input_names == ("input", "data")
    values = definition.parameter("values")
    assert values is not None
    assert values.render_templates is False
    assert values.default == {}
    assert definition.output_names == ("result",)
