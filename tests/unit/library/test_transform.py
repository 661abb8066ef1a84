"""transform: every operation, JavaScript and Python functions, and their error messages.

The function operations run through the real engine (one ``ctx.evaluate_js`` per node call in
the warm Node.js pool); the others are data shuffling and are called directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from recording_context import RecordingContext

from atomiton import LocalEngine, NodeRegistry
from atomiton.errors import NodeError
from atomiton.library.transform import transform

node_js = pytest.mark.toolchain("node")


@pytest.fixture
async def engine() -> Any:
    async with LocalEngine(registry=NodeRegistry.default(), store=None) as eng:
        yield eng


async def run(engine: LocalEngine, **parameters: Any) -> dict[str, Any]:
    """One transform node; returns its outputs, or raises NodeError with the run's error."""
    bp = {
        "id": "t",
        "name": "t",
        "nodes": [{"id": "t", "type": "transform", "parameters": parameters}],
    }
    result = await engine.execute(bp)
    if result.status != "succeeded":
        assert result.error is not None
        raise NodeError(result.error["message"])
    return dict(result.outputs["t"])


async def direct(**kwargs: Any) -> Any:
    return await transform(ctx=RecordingContext(), **kwargs)  # type: ignore[arg-type]


PEOPLE = [
    {"name": "b", "age": 30, "team": "x"},
    {"name": "a", "age": 4, "team": "y"},
    {"name": "c", "age": 12, "team": "x"},
]


@node_js
async def test_map_with_an_arrow_function(engine: LocalEngine) -> None:
    out = await run(engine, data=[1, 2, 3], transformFunction="n => n * 10")
    assert out == {
        "result": [10, 20, 30],
        "inputCount": 3,
        "outputCount": 3,
        "operation": "map",
        "success": True,
    }


@node_js
async def test_map_with_a_block_body_and_nested_arrows(engine: LocalEngine) -> None:
    fn = "item => { const tags = item.tags.map(t => t.toUpperCase()); return tags.join('+'); }"
    out = await run(engine, data=[{"tags": ["a", "b"]}, {"tags": ["c"]}], transformFunction=fn)
    assert out["result"] == ["A+B", "C"]


@node_js
async def test_map_over_one_object_treats_it_as_a_list_of_one(engine: LocalEngine) -> None:
    out = await run(engine, data={"m": "hi"}, transformFunction="item => `${item.m}!`")
    assert out["result"] == ["hi!"]
    assert out["inputCount"] == 1


@node_js
async def test_default_function_is_identity(engine: LocalEngine) -> None:
    assert (await run(engine, data=[1, "x"]))["result"] == [1, "x"]


@node_js
async def test_filter(engine: LocalEngine) -> None:
    out = await run(engine, operation="filter", data=PEOPLE, transformFunction="p => p.age > 10")
    assert [p["name"] for p in out["result"]] == ["b", "c"]
    assert (out["inputCount"], out["outputCount"]) == (3, 2)


@node_js
async def test_reduce_takes_the_conventional_signature(engine: LocalEngine) -> None:
    out = await run(
        engine, operation="reduce", data=[1, 2, 3], transformFunction="(acc, n) => acc + n"
    )
    assert out["result"] == 6
    assert out["outputCount"] == 1
    out = await run(
        engine,
        operation="reduce",
        data=["a", "b"],
        transformFunction="(acc, s) => acc + s",
        reduceInitial=">",
    )
    assert out["result"] == ">ab"
    out = await run(
        engine,
        operation="reduce",
        data=[1, 2],
        transformFunction="(acc, n) => acc + n",
        reduceInitial="100",
    )
    assert out["result"] == 103


@node_js
async def test_reduce_of_an_empty_list_without_initial_is_an_error(engine: LocalEngine) -> None:
    with pytest.raises(NodeError, match=r"\[transform\] reduce with .* failed: TypeError: .*"):
        await run(engine, operation="reduce", data=[], transformFunction="(a, b) => a + b")


@node_js
async def test_javascript_errors_name_the_operation_not_a_fallback(engine: LocalEngine) -> None:
    with pytest.raises(NodeError, match=r"\[transform\] map with 'item => item\.a\.b' failed: "):
        await run(engine, data=[{}], transformFunction="item => item.a.b")
    with pytest.raises(NodeError, match=r"\[transform\] filter with .* failed: SyntaxError"):
        await run(engine, operation="filter", data=[1], transformFunction="x => {")


@node_js
async def test_eval_and_function_constructor_are_refused(engine: LocalEngine) -> None:
    with pytest.raises(NodeError, match="failed: EvalError"):
        await run(engine, data=[1], transformFunction="x => eval('x + 1')")


@node_js
async def test_expression_body_runs_over_the_whole_input(engine: LocalEngine) -> None:
    rows = [{"active": "true", "amount": "2.5"}, {"active": "false", "amount": "1"}]
    body = "// only active rows\nreturn data.filter(row => row.active === 'true');"
    out = await run(engine, data=rows, expression=body)
    assert out["result"] == [rows[0]]
    assert out["operation"] == "expression"


@node_js
async def test_code_body_with_input_params(engine: LocalEngine) -> None:
    code = "const total = rows.reduce((s, r) => s + r.n, 0);\nreturn {total, count: rows.length};"
    out = await run(engine, data=[{"n": 1}, {"n": 4}], code=code, inputParams="rows")
    assert out["result"] == {"total": 5, "count": 2}
    assert out["operation"] == "code"
    assert out["outputCount"] == 2


@node_js
async def test_expression_without_return_is_a_value(engine: LocalEngine) -> None:
    assert (await run(engine, data=[1, 2, 3], expression="data.length"))["result"] == 3


async def test_bad_input_params_name() -> None:
    with pytest.raises(NodeError, match="inputParams must name one argument, got 'a b'"):
        await direct(data=[1], expression="return 1", inputParams="a b")


# -- Python lambdas -------------------------------------------------------------------------------


async def test_python_map_filter_reduce() -> None:
    out = await direct(data=[1, 2, 3], language="python", transformFunction="lambda n: n * 2")
    assert out["result"] == [2, 4, 6]
    out = await direct(
        data=[1, 2, 3, 4],
        operation="filter",
        language="python",
        transformFunction="lambda n, i: n % 2 == 0 and i > 1",
    )
    assert out["result"] == [4]
    out = await direct(
        data=[1, 2, 3],
        operation="reduce",
        language="python",
        transformFunction="lambda acc, n: acc + n",
    )
    assert out["result"] == 6
    out = await direct(
        data=["a"],
        operation="reduce",
        language="python",
        transformFunction="lambda acc, s: acc + [s]",
        reduceInitial="[]",
    )
    assert out["result"] == ["a"]


async def test_python_errors() -> None:
    with pytest.raises(NodeError, match="must be a lambda"):
        await direct(data=[1], language="python", transformFunction="len")
    with pytest.raises(NodeError, match="is not valid Python"):
        await direct(data=[1], language="python", transformFunction="lambda x: (")
    with pytest.raises(NodeError, match="private attribute '__class__'"):
        await direct(data=[1], language="python", transformFunction="lambda x: x.__class__")
    with pytest.raises(NodeError, match=r"map with 'lambda x: open\(x\)' failed: NameError"):
        await direct(data=["f"], language="python", transformFunction="lambda x: open(x)")
    with pytest.raises(NodeError, match=r"map with .* failed: KeyError"):
        await direct(data=[{}], language="python", transformFunction="lambda x: x['a']")
    with pytest.raises(NodeError, match="reduce of an empty list with no reduceInitial"):
        await direct(
            data=[], operation="reduce", language="python", transformFunction="lambda a, b: a"
        )
    with pytest.raises(NodeError, match="are JavaScript function bodies"):
        await direct(data=[1], language="python", expression="return data")


# -- operations without a function ----------------------------------------------------------------


async def test_sort_numeric_text_and_direction() -> None:
    out = await direct(data=PEOPLE, operation="sort", sortKey="age")
    assert [p["age"] for p in out["result"]] == [4, 12, 30]
    out = await direct(data=PEOPLE, operation="sort", sortKey="name", sortDirection="desc")
    assert [p["name"] for p in out["result"]] == ["c", "b", "a"]
    out = await direct(data=["10", "9", "100"], operation="sort")
    assert out["result"] == ["9", "10", "100"]  # numeric strings compare as numbers


async def test_group_by_key_and_its_error() -> None:
    out = await direct(data=PEOPLE, operation="group", groupKey="team")
    assert out["result"] == {"x": [PEOPLE[0], PEOPLE[2]], "y": [PEOPLE[1]]}
    assert out["outputCount"] == 2
    out = await direct(data=[{"k": True}, {}], operation="group", sortKey="k")
    assert set(out["result"]) == {"true", "undefined"}
    with pytest.raises(NodeError, match="groupKey or sortKey is required for group operation"):
        await direct(data=PEOPLE, operation="group")


async def test_flatten_unique_reverse() -> None:
    nested = [1, [2, [3, [4]]]]
    assert (await direct(data=nested, operation="flatten"))["result"] == [1, 2, [3, [4]]]
    out = await direct(data=nested, operation="flatten", flattenDepth=3)
    assert out["result"] == [1, 2, 3, 4]
    out = await direct(data=[{"a": 1}, {"a": 1}, 2, 2, "2"], operation="unique")
    assert out["result"] == [{"a": 1}, 2, "2"]
    assert (await direct(data=[1, 2, 3], operation="reverse"))["result"] == [3, 2, 1]


async def test_limit_skip_slice() -> None:
    data = list(range(20))
    assert (await direct(data=data, operation="limit"))["result"] == list(range(10))
    assert (await direct(data=data, operation="limit", limitCount=2))["result"] == [0, 1]
    assert (await direct(data=data, operation="skip", skipCount=18))["result"] == [18, 19]
    assert (await direct(data=data, operation="skip"))["result"] == data
    out = await direct(data=data, operation="slice", sliceStart=2, sliceEnd=4)
    assert out["result"] == [2, 3]
    assert (await direct(data=data, operation="slice", sliceEnd=-18))["result"] == [0, 1]


async def test_input_unwrapping_and_non_list_errors() -> None:
    upstream = {"result": [3, 1, 2], "success": True, "inputCount": 3}
    assert (await direct(input=upstream, operation="sort"))["result"] == [1, 2, 3]
    sheet = {"records": [{"a": "1"}], "headers": ["a"], "rowCount": 1, "format": "csv"}
    assert (await direct(input=sheet, operation="reverse"))["result"] == [{"a": "1"}]
    assert (await direct(input={"result": [1]}, operation="reverse"))["result"] == [1]
    assert (await direct(operation="reverse"))["result"] == []
    with pytest.raises(NodeError, match=r"Input data must be an array for transformation \(sort\)"):
        await direct(data={"a": 1}, operation="sort")
