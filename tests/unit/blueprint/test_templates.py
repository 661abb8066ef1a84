"""``{{ }}`` templates: every root, type preservation, interpolation, errors, references."""

from __future__ import annotations

from typing import Any

import pytest

from atomiton.blueprint.templates import (
    Scope,
    TemplateError,
    check,
    has_template,
    node_references,
    render,
)

SCOPE = Scope(
    now="2026-01-02T03:04:05+00:00",
    run_id="run-7",
    inputs={"input": {"user": {"name": "Ada", "tags": ["x", "y"]}, "n": 3}},
    variables={"limit": 10, "region": "eu", "n": 99},
    nodes={"fetch": {"output": {"rows": [1, 2]}, "status": 200}},
)
TWO_INPUTS = Scope(inputs={"left": "L", "right": {"k": 1}})


@pytest.mark.parametrize(
    ("template", "scope", "value"),
    [
        ("{{ $now }}", SCOPE, "2026-01-02T03:04:05+00:00"),
        ("{{$run_id}}", SCOPE, "run-7"),
        ("{{ $input }}", SCOPE, {"user": {"name": "Ada", "tags": ["x", "y"]}, "n": 3}),
        ("{{ $input.user.name }}", SCOPE, "Ada"),
        ("{{ $input.user.tags.1 }}", SCOPE, "y"),
        ("{{ $input }}", TWO_INPUTS, {"left": "L", "right": {"k": 1}}),
        ("{{ $input.right.k }}", TWO_INPUTS, 1),
        ("{{ $inputs.input.n }}", SCOPE, 3),
        ("{{ $inputs.left }}", TWO_INPUTS, "L"),
        ("{{ $vars.limit }}", SCOPE, 10),
        ("{{ $variables.region }}", SCOPE, "eu"),
        ("{{ $nodes.fetch.output.rows }}", SCOPE, [1, 2]),
        ("{{ $nodes.fetch.status }}", SCOPE, 200),
        ("{{ limit }}", SCOPE, 10),
        ("{{ n }}", SCOPE, 99),  # a variable wins over an input field of the same name
        ("{{ user.name }}", SCOPE, "Ada"),
        ("  {{ $vars.limit }}  ", SCOPE, 10),
    ],
)
def test_roots_resolve_and_whole_templates_keep_their_type(
    template: str, scope: Scope, value: Any
) -> None:
    assert render(template, scope) == value


def test_interpolation_makes_text_with_objects_as_json() -> None:
    assert render("{{ $vars.limit }} rows from {{ region }}", SCOPE) == "10 rows from eu"
    assert render("tags={{ $input.user.tags }}", SCOPE) == 'tags=["x", "y"]'
    assert render("{{ $input.user.name }}{{ $vars.region }}", SCOPE) == "Adaeu"


def test_render_walks_lists_and_mappings_and_leaves_other_values() -> None:
    value = {"a": ["{{ limit }}", 2, None], "b": {"c": "{{ $run_id }}"}, "d": 1.5}
    assert render(value, SCOPE) == {"a": [10, 2, None], "b": {"c": "run-7"}, "d": 1.5}
    assert render("no templates here", SCOPE) == "no templates here"


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ $input.user.age }}", "'$input.user' has no 'age' (it has: ['name', 'tags'])"),
        ("{{ $input.user.tags.5 }}", "'$input.user.tags' has no '5' (it has: list)"),
        ("{{ $vars.nope }}", "'$vars' has no 'nope'"),
        ("{{ $nodes.ghost.output }}", "'$nodes' has no 'ghost' (it has: ['fetch'])"),
        ("{{ $env.HOME }}", "unknown template root '$env'"),
        ("{{ missing }}", "available: limit, n, region, user"),
        ("{{ 1 + 2 }}", "is not a path"),
    ],
)
def test_errors_name_the_path_and_what_is_available(template: str, says: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, SCOPE)
    assert says in str(info.value)


def test_bare_names_with_nothing_available_say_none() -> None:
    with pytest.raises(TemplateError, match=r"available: none"):
        render("{{ anything }}", Scope())


def test_node_references_find_every_named_upstream() -> None:
    value = {
        "a": "{{ $nodes.fetch.output }} and {{ $nodes.parse.rows.0 }}",
        "b": ["{{ $vars.x }}", {"c": "{{$nodes.fetch.status}}"}],
    }
    assert node_references(value) == {"fetch", "parse"}
    assert node_references("{{ $nodes }}") == set()
    assert node_references(12) == set()


def test_check_reports_expressions_that_are_not_paths() -> None:
    assert check({"a": "{{ $input.x }}", "b": ["{{ limit }}"]}) == []
    problems = check({"code": "{{ item => item * 2 }}", "ok": "{{ $vars.a }}"})
    assert len(problems) == 1
    assert "'{{ item => item * 2 }}' is not a path" in problems[0]


def test_has_template_looks_inside_containers() -> None:
    assert has_template({"a": [1, {"b": "x {{ y }}"}]})
    assert not has_template({"a": ["{ not }", "{{ unclosed"]})
    assert not has_template(3)
