"""load_blueprint: the Atomiton templates, YAML and JSON text, errors that say where, references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atomiton.blueprint.loader import load_blueprint
from atomiton.blueprint.model import Edge
from atomiton.errors import BlueprintError

TEMPLATES = Path("/work/shared/atomiton")


def test_hello_world_loads_with_ids_types_edges_and_parameters() -> None:
    bp = load_blueprint(TEMPLATES / "hello-world.flow.yaml")
    assert bp.id == "550e8400-e29b-41d4-a716-446655440001"
    assert bp.name == "Hello World Flow"
    assert [(n.id, n.type) for n in bp.nodes] == [
        ("create-message", "edit-fields"),
        ("format-content", "transform"),
        ("write-to-file", "file-system"),
    ]
    assert bp.edges[0] == Edge("edge-1", "create-message", "format-content", "output", "input")
    first = bp.nodes[0]
    assert first.parameters["values"]["timestamp"] == "{{$now}}"
    assert first.position == (100.0, 200.0)
    assert [p.id for p in first.input_ports] == ["input"]
    assert first.output_ports[0].kind == "output"
    assert bp.nodes[1].input_ports[0].required is True
    assert bp.metadata["author"] == "Atomiton Team"
    assert bp.source == str(TEMPLATES / "hello-world.flow.yaml")
    assert bp.on_error == "fail-fast"


def test_data_transform_loads_variables_and_settings() -> None:
    bp = load_blueprint(str(TEMPLATES / "data-transform.flow.yaml"))
    assert [n.id for n in bp.nodes] == [
        "csv-source",
        "filter-transform",
        "aggregate-code",
        "output-file",
    ]
    assert len(bp.edges) == 3
    assert bp.variables["inputPath"].default == "/data/sample.csv"
    assert bp.variables["inputPath"].type == "string"
    assert bp.variable_defaults() == {
        "inputPath": "/data/sample.csv",
        "outputPath": "/output/results.json",
    }
    assert bp.settings["runtime"] == {"timeout": 30000}


def test_image_processor_loads_named_handles_and_trigger_ports() -> None:
    bp = load_blueprint(TEMPLATES / "image-processor.flow.yaml")
    assert [n.type for n in bp.nodes] == [
        "file-system",
        "loop",
        "parallel",
        "image",
        "image",
        "file-system",
    ]
    assert bp.edges[1].source_handle == "item"
    assert bp.variables["concurrency"].default == 4
    assert bp.settings["runtime"]["parallel"] is True
    assert bp.nodes[0].input_ports[0].kind == "trigger"


YAML = """
id: tiny
nodes:
  - id: a
    type: fetch
    parameters: {url: "https://example.org", retries: 2, enabled: false, timeout: 1500}
  - id: b
    type: transform
edges:
  - {source: a, target: b, sourceHandle: null}
variables:
  plain: 3
settings:
  runtime: {onError: continueOnError}
"""


def test_yaml_text_loads_with_loose_defaults() -> None:
    bp = load_blueprint(YAML)
    assert bp.id == "tiny" and bp.name == "tiny"
    assert bp.edges == (Edge("edge-1", "a", "b", None, None),)
    assert bp.variables["plain"].default == 3 and bp.variables["plain"].type == "any"
    assert bp.on_error == "continue"
    a = bp.node("a")
    assert a is not None
    assert (a.enabled, a.timeout_ms, a.retries) == (False, 1500.0, 2)
    assert bp.node("zzz") is None
    assert bp.source is None


def test_json_text_and_json_files_load(tmp_path: Path) -> None:
    data = {"id": "j", "nodes": [{"id": "a", "type": "fetch"}], "edges": []}
    assert load_blueprint(json.dumps(data)).nodes[0].id == "a"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data, indent=2))
    assert load_blueprint(path).id == "j"
    assert load_blueprint(data).id == "j"


def test_a_missing_id_comes_from_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "nightly.flow.yaml"
    path.write_text("nodes: [{id: a, type: fetch}]\n")
    assert load_blueprint(path).id == "nightly"


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.flow.yaml"
    path.write_text("id: x\nnodes:\n  - id: a\n    type: [unclosed\n")
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    assert info.value.source == str(path)
    assert "invalid YAML at line 5, column 1" in str(info.value)


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "id": "x",\n  "nodes": [,]\n}')
    with pytest.raises(BlueprintError, match=r"invalid JSON at line 3, column 13"):
        load_blueprint(path)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BlueprintError, match="file not found") as info:
        load_blueprint(tmp_path / "nope.flow.yaml")
    assert info.value.hint is not None and "check the path" in info.value.hint


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "list"), ("just words", "str")])
def test_not_a_mapping_says_what_it_got(text: str, got: str) -> None:
    with pytest.raises(BlueprintError, match=f"expected a mapping .* got {got}"):
        load_blueprint(text if "\n" in text else text + "\n")


def test_format_errors_name_the_field_path() -> None:
    data = {
        "id": "f",
        "nodes": [
            {"id": "a", "type": "fetch"},
            {"id": "grp", "nodes": [{"id": "x"}], "edges": [{"target": "x"}]},
        ],
    }
    with pytest.raises(BlueprintError) as info:
        load_blueprint(data)
    assert "nodes[1].edges[0].source: Field required" in str(info.value)
    with pytest.raises(BlueprintError, match=r"nodes\[0\]\.id: String should have at least 1"):
        load_blueprint({"id": "f", "nodes": [{"id": ""}]})


def test_nested_inline_groups_become_sub_blueprints() -> None:
    bp = load_blueprint(
        {
            "id": "f",
            "nodes": [
                {
                    "id": "outer",
                    "type": "group",
                    "nodes": [
                        {"id": "inner", "nodes": [{"id": "leaf", "type": "fetch"}]},
                        {"id": "sib", "type": "transform"},
                    ],
                    "edges": [{"source": "inner", "target": "sib"}],
                    "variables": {"v": {"defaultValue": 1}},
                }
            ],
        }
    )
    outer = bp.nodes[0]
    assert outer.is_group and outer.type == "group" and outer.reference is None
    assert outer.blueprint is not None
    assert outer.blueprint.variables["v"].default == 1
    inner = outer.blueprint.nodes[0]
    assert inner.type == "group" and inner.blueprint is not None
    assert inner.blueprint.nodes[0].id == "leaf"
    assert not outer.blueprint.nodes[1].is_group


def test_a_blueprint_references_another_relative_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.flow.yaml").write_text("id: child\nnodes: [{id: c, type: fetch}]\n")
    (tmp_path / "parent.flow.yaml").write_text(
        "id: parent\nnodes:\n  - {id: use, blueprint: ./sub/child.flow.yaml}\n"
    )
    bp = load_blueprint(tmp_path / "parent.flow.yaml")
    use = bp.nodes[0]
    assert use.type == "group" and use.blueprint is not None
    assert use.blueprint.id == "child" and use.blueprint.nodes[0].id == "c"
    assert use.reference == str(tmp_path / "sub" / "child.flow.yaml")
    assert use.blueprint.source is not None and use.blueprint.source.endswith("child.flow.yaml")


def test_a_reference_cycle_is_reported_with_its_chain(tmp_path: Path) -> None:
    (tmp_path / "a.flow.yaml").write_text("id: a\nnodes: [{id: x, blueprint: b.flow.yaml}]\n")
    (tmp_path / "b.flow.yaml").write_text("id: b\nnodes: [{id: y, blueprint: a.flow.yaml}]\n")
    with pytest.raises(BlueprintError) as info:
        load_blueprint(tmp_path / "a.flow.yaml")
    assert "form a cycle: a.flow.yaml -> b.flow.yaml -> a.flow.yaml" in str(info.value)


def test_a_missing_reference_names_the_referenced_file(tmp_path: Path) -> None:
    (tmp_path / "p.flow.yaml").write_text("id: p\nnodes: [{id: x, blueprint: gone.flow.yaml}]\n")
    with pytest.raises(BlueprintError, match=r"gone\.flow\.yaml: file not found"):
        load_blueprint(tmp_path / "p.flow.yaml")


def test_the_same_file_may_be_referenced_twice(tmp_path: Path) -> None:
    """A diamond of references is not a cycle."""
    (tmp_path / "leaf.flow.yaml").write_text("id: leaf\nnodes: [{id: l, type: fetch}]\n")
    (tmp_path / "top.flow.yaml").write_text(
        "id: top\nnodes:\n  - {id: one, blueprint: leaf.flow.yaml}\n"
        "  - {id: two, blueprint: leaf.flow.yaml}\n"
    )
    bp = load_blueprint(tmp_path / "top.flow.yaml")
    assert [n.blueprint.id for n in bp.nodes if n.blueprint] == ["leaf", "leaf"]
