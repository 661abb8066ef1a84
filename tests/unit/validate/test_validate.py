"""Validation: one case per Code, every problem in one report, nested groups prefixed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from atomiton.blueprint.loader import load_blueprint
from atomiton.nodes import node
from atomiton.nodes.definition import NodeDefinition
from atomiton.nodes.registry import NodeRegistry
from atomiton.plan.planner import build_plan
from atomiton.validate import Code, Report, Severity, find_cycles, validate

TEMPLATES = Path("/work/shared/atomiton")


@node
def fetch(url: str, *, limit: Annotated[int, Field(ge=1, le=10)] = 5) -> str:
    """Fetch a page."""
    return url * limit


@node
def transform(text: str, *, mode: Literal["upper", "lower"] = "upper") -> str:
    return text.upper() if mode == "upper" else text.lower()


@node
def merge(left: str, right: str) -> dict[str, str]:
    return {"left": left, "right": right}


@node
def count(items: list[int]) -> int:
    return len(items)


@node
def keyed(*, key: str) -> str:
    return key


REGISTRY = NodeRegistry([fetch, transform, merge, count, keyed])


def n(node_id: str, node_type: str | None, **parameters: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": node_id, "parameters": parameters}
    if node_type is not None:
        data["type"] = node_type
    return data


def e(
    source: str, target: str, out: str | None = "output", into: str | None = None
) -> dict[str, Any]:
    return {"source": source, "target": target, "sourceHandle": out, "targetHandle": into}


def check(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = (), **kw: Any) -> Report:  # type: ignore[assignment]
    return validate(
        load_blueprint({"id": "f", "nodes": nodes, "edges": list(edges)}), REGISTRY, **kw
    )


def only(report: Report, code: Code) -> Any:
    found = [i for i in report.issues if i.code is code]
    assert len(found) == 1, report.issues
    return found[0]


# Each case: code, nodes, edges, validate() options, and what the issue says.
CASES: list[
    tuple[Code, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[str, Any]]
] = [
    (Code.MISSING_TYPE, [n("a", None)], [], {}, {"node_id": "a"}),
    (
        Code.UNKNOWN_TYPE,
        [n("a", "transfrom", text="x")],
        [],
        {},
        {"node_id": "a", "hint": "did you mean 'transform'?"},
    ),
    (
        Code.DUPLICATE_ID,
        [n("a", "fetch", url="u"), n("a", "fetch", url="v")],
        [],
        {},
        {"node_id": "a"},
    ),
    (
        Code.EDGE_MISSING_SOURCE,
        [n("b", "transform")],
        [e("fetc", "b", into="text")],
        {},
        {"node_id": "b"},
    ),
    (
        Code.EDGE_MISSING_TARGET,
        [n("a", "fetch", url="u")],
        [e("a", "nowhere", into="text")],
        {},
        {"node_id": "a"},
    ),
    (
        Code.UNKNOWN_INPUT_PORT,
        [n("a", "fetch", url="u"), n("b", "transform")],
        [e("a", "b", into="txt")],
        {},
        {"node_id": "b", "port": "txt", "hint": "did you mean 'text'?"},
    ),
    (
        Code.UNKNOWN_OUTPUT_PORT,
        [n("a", "fetch", url="u"), n("b", "transform")],
        [e("a", "b", out="body", into="text")],
        {},
        {"node_id": "a", "port": "body", "severity": Severity.WARNING},
    ),
    (
        Code.AMBIGUOUS_PORT,
        [n("a", "fetch", url="u"), n("m", "merge", right="r")],
        [e("a", "m", into=None)],
        {},
        {"node_id": "m"},
    ),
    (
        Code.DUPLICATE_INPUT,
        [n("a", "fetch", url="u"), n("b", "fetch", url="v"), n("t", "transform")],
        [e("a", "t", into="text"), e("b", "t", into="text")],
        {},
        {"node_id": "t", "port": "text"},
    ),
    (
        Code.CYCLE,
        [n("a", "transform"), n("b", "transform")],
        [e("a", "b", into="text"), e("b", "a", into="text")],
        {},
        {"node_id": "a", "message": "the graph has a cycle: a -> b -> a"},
    ),
    (Code.MISSING_INPUT, [n("t", "transform")], [], {}, {"node_id": "t", "port": "text"}),
    (Code.INVALID_PARAMETER, [n("a", "fetch", url="u", limit=50)], [], {}, {"node_id": "a"}),
    (
        Code.UNKNOWN_PARAMETER,
        [n("a", "fetch", url="u", limt=3)],
        [],
        {},
        {"node_id": "a", "severity": Severity.WARNING, "hint": "did you mean 'limit'?"},
    ),
    (
        Code.INVALID_TEMPLATE,
        [n("t", "transform", text="{{ x => x * 2 }}")],
        [],
        {},
        {"node_id": "t"},
    ),
    (
        Code.UNKNOWN_TEMPLATE_NODE,
        [n("fetcher", "fetch", url="u"), n("t", "transform", text="{{ $nodes.fetchr.output }}")],
        [],
        {},
        {"node_id": "t", "hint": "did you mean 'fetcher'?"},
    ),
    (
        Code.RUNTIME_UNAVAILABLE,
        [n("a", "fetch", url="u")],
        [],
        {"runtime_check": lambda d: "python is switched off" if d.id == "fetch" else None},
        {"node_id": "a"},
    ),
    (
        Code.INCOMPATIBLE_PORTS,
        [n("c", "count", items=[1]), n("t", "transform")],
        [e("c", "t", into="text")],
        {},
        {"node_id": "t", "port": "text", "severity": Severity.WARNING},
    ),
    (Code.EMPTY_BLUEPRINT, [], [], {}, {}),
]


@pytest.mark.parametrize(
    ("code", "nodes", "edges", "options", "expected"), CASES, ids=[c[0].value for c in CASES]
)
def test_each_problem_has_its_code(
    code: Code,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    options: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    report = check(nodes, edges, **options)
    issue = only(report, code)
    for field, value in expected.items():
        if field == "message":
            assert issue.message == value
        else:
            assert getattr(issue, field) == value, issue
    assert report.ok is (issue.severity is Severity.WARNING and len(report.errors) == 0)
    assert str(issue).startswith(f"[{code.value}]")


def test_every_code_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(Code)


def test_an_unknown_output_port_still_flows_the_whole_object() -> None:
    """a.body -> b: a warning, and the plan passes a's whole output object."""
    bp = load_blueprint(
        {
            "id": "f",
            "nodes": [n("a", "fetch", url="u"), n("b", "transform")],
            "edges": [e("a", "b", out="body", into="text")],
        }
    )
    report = validate(bp, REGISTRY)
    assert report.ok and report.codes() == ["unknown-output-port"]
    assert build_plan(bp, REGISTRY).steps[1].bindings[0].source_port is None


def test_a_template_closes_a_cycle() -> None:
    """a -> b by an edge, and a's parameter names {{ $nodes.b.output }}."""
    report = check(
        [n("a", "transform", text="{{ $nodes.b.output }}"), n("b", "transform")],
        [e("a", "b", into="text")],
    )
    assert only(report, Code.CYCLE).message == "the graph has a cycle: a -> b -> a"


def test_find_cycles_draws_self_loops_and_separate_tangles() -> None:
    graph = {"a": ["a"], "b": ["c"], "c": ["d"], "d": ["b"], "e": []}
    assert find_cycles(graph) == [["a"], ["b", "c", "d"]]
    assert find_cycles({"x": ["y"], "y": []}) == []


@pytest.mark.parametrize(
    ("nodes", "edges", "provided"),
    [
        ([n("t", "transform", text="hello")], [], ()),
        ([n("a", "fetch", url="u"), n("t", "transform")], [e("a", "t", into="text")], ()),
        ([n("t", "transform")], [], ("text",)),
    ],
    ids=["by-parameter", "by-edge", "by-run-input"],
)
def test_a_required_input_may_be_satisfied(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], provided: tuple[str, ...]
) -> None:
    assert check(nodes, edges, provided_inputs=provided).ok


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"url": "u", "limit": "many"}, "'many' is not of type 'integer'"),
        ({"url": "u", "limit": 0}, "0 is less than the minimum of 1"),
        ({"url": 3}, "3 is not of type 'string'"),
        ({"url": "u", "timeout": -5}, "less than or equal to the minimum of 0"),
        ({"url": "u", "enabled": "no"}, "'no' is not of type 'boolean'"),
        ({"url": "u", "retries": 1.5}, "not of type 'integer'"),
    ],
)
def test_parameters_are_checked_against_their_schemas(
    parameters: dict[str, Any], says: str
) -> None:
    issue = only(check([n("a", "fetch", **parameters)]), Code.INVALID_PARAMETER)
    assert says in issue.message


def test_literal_choices_and_required_keyword_parameters() -> None:
    wrong = only(check([n("t", "transform", text="x", mode="title")]), Code.INVALID_PARAMETER)
    assert "'title' is not one of ['upper', 'lower']" in wrong.message
    missing = only(check([n("k", "keyed")]), Code.INVALID_PARAMETER)
    assert missing.message == "required parameter 'key' is not set"
    assert check([n("t", "transform", text="{{ $vars.text }}")]).ok  # checked once rendered


def test_five_problems_come_back_in_one_report() -> None:
    """unknown type, duplicate id, edge to a missing node, missing input, bad parameter."""
    report = check(
        [
            n("a", "fech", url="u"),
            n("b", "fetch", url="u", limit=99),
            n("b", "transform", text="t"),
            n("t", "transform"),
        ],
        [e("b", "ghost", into="text")],
    )
    assert sorted(report.codes()) == sorted(
        [
            "unknown-node-type",
            "duplicate-node-id",
            "edge-missing-target",
            "required-input-missing",
            "invalid-parameter",
        ]
    )
    assert not report.ok
    data = report.to_dict()
    assert data["valid"] is False and len(data["errors"]) == 5
    assert {"code", "severity", "message", "node_id", "port", "hint"} == set(data["errors"][0])


def test_issues_inside_groups_are_prefixed_with_the_group() -> None:
    """outer: grp (inline: inner of an unknown type, t missing its input)."""
    bp = load_blueprint(
        {
            "id": "f",
            "nodes": [
                {
                    "id": "grp",
                    "type": "group",
                    "nodes": [n("inner", "nope"), n("t", "transform"), n("u", "transform")],
                    "edges": [],
                }
            ],
            "edges": [],
        }
    )
    report = validate(bp, REGISTRY, provided_inputs=())
    assert {(i.code, i.node_id) for i in report.issues} == {
        (Code.UNKNOWN_TYPE, "grp/inner"),
        (Code.MISSING_INPUT, "grp/t"),
        (Code.MISSING_INPUT, "grp/u"),
    }


def test_a_group_passes_its_inputs_to_its_children() -> None:
    """a -> grp (port text) where grp holds t, which needs 'text'."""
    bp = load_blueprint(
        {
            "id": "f",
            "nodes": [
                n("a", "fetch", url="u"),
                {"id": "grp", "nodes": [n("t", "transform")], "edges": []},
            ],
            "edges": [e("a", "grp", into="text")],
        }
    )
    assert validate(bp, REGISTRY).ok


@pytest.mark.parametrize("name", ["hello-world", "data-transform", "image-processor"])
def test_the_atomiton_templates_report_unknown_types_clearly(name: str) -> None:
    bp = load_blueprint(TEMPLATES / f"{name}.flow.yaml")
    report = validate(bp, NodeRegistry())
    assert set(report.codes()) == {"unknown-node-type"}
    assert len(report.errors) == len(bp.nodes)
    assert all(
        f"unknown node type '{bp.node(i.node_id or '').type}'" == i.message  # type: ignore[union-attr]
        for i in report.errors
    )


def test_a_definition_listed_directly_validates_too() -> None:
    plain = NodeDefinition("plain")
    report = validate(
        load_blueprint({"id": "f", "nodes": [n("p", "plain")]}), NodeRegistry([plain])
    )
    assert report.ok and report.issues == ()
