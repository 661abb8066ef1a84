"""node.yaml manifests yield the same NodeDefinition a decorated function does."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomiton.errors import NodeDefinitionError
from atomiton.nodes.manifest import discover_manifests, load_manifest

FULL = """
id: reverse-text
name: Reverse text
category: text
icon: repeat
tags: [demo]
runtime: {language: typescript, module: ./reverse.ts, handler: reverse, isolated: true}
performance: {parallelizable: true, preferGPU: true}
inputs:
  - {name: text, dataType: string, required: true, description: what to reverse}
  - {name: sep, dataType: string, default: ""}
outputs:
  - {name: output, dataType: string}
parameters:
  - {name: times, schema: {type: integer, minimum: 1}, default: 1}
  - {name: script, templates: false, required: true}
timeout: 5000
retries: 2
"""


def test_a_full_manifest(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(FULL)
    [d] = load_manifest(path)
    assert (d.id, d.name, d.category, d.icon, d.tags) == (
        "reverse-text",
        "Reverse text",
        "text",
        "repeat",
        ("demo",),
    )
    assert d.runtime.to_dict() == {
        "language": "typescript",
        "module": "./reverse.ts",
        "handler": "reverse",
        "path": str(tmp_path.resolve()),
        "isolated": True,
    }
    assert d.performance.parallelizable and d.performance.prefer_gpu
    text, sep = d.inputs
    assert text.required and text.description == "what to reverse" and not text.has_default
    assert sep.has_default and sep.default == ""
    times = d.parameter("times")
    assert times is not None and dict(times.schema) == {"type": "integer", "minimum": 1}
    script = d.parameter("script")
    assert script is not None and script.required and not script.render_templates
    assert (d.timeout_ms, d.retries) == (5000, 2)
    assert d.origin == str(path)
    assert d.parameters_schema()["required"] == ["script"]


def test_defaults_give_one_output_and_several_nodes_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(
        "nodes:\n"
        "  - {id: one, runtime: {language: golang}}\n"
        "  - {id: two, runtime: {language: rust, module: libtwo}}\n"
    )
    one, two = load_manifest(path)
    assert one.output_names == ("output",) and one.name == "one"
    assert two.runtime.language == "rust"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("id: x\n", r"\(node 1\): invalid manifest: runtime: Field required"),
        ("id: x\nruntime: {language: python}\nflavour: sweet\n", "flavour: Extra inputs"),
        (
            "id: x\nruntime: {language: python}\ntimeout: 0\n",
            "timeout: Input should be greater than 0",
        ),
        ("nodes: {id: x}\n", "'nodes' must be a list"),
        ("id: [\n", "invalid YAML"),
        ("id: x\nruntime: {language: cobol}\n", "names runtime language 'cobol'"),
    ],
)
def test_bad_manifests_name_the_file_and_field(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(text)
    with pytest.raises(NodeDefinitionError, match=says) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_an_unreadable_manifest(tmp_path: Path) -> None:
    with pytest.raises(NodeDefinitionError, match="cannot read manifest"):
        load_manifest(tmp_path / "absent.yaml")


def test_discovery_skips_dependency_folders(tmp_path: Path) -> None:
    for folder in ("a", "b/c", "node_modules/x", "target/y", ".git/z"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "node.yaml").write_text("id: x\n")
    (tmp_path / "a" / "other.yaml").write_text("id: x\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discover_manifests(tmp_path)]
    assert found == ["a/node.yaml", "b/c/node.yaml"]
