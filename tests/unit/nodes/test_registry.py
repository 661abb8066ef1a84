"""NodeRegistry: registering, duplicates from two origins, loading every kind of source."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from atomiton.errors import NodeDefinitionError
from atomiton.nodes import NodeDefinition, NodeRegistry, node
from atomiton.nodes.registry import module_name_for

NODE_FILE = """
from atomiton.nodes import NodeDefinition, node

@node
def greet(name: str) -> str:
    return "hi " + name

@node(id="farewell")
def bye(name: str) -> str:
    return "bye " + name

def helper() -> int:
    return 1

NODES = [NodeDefinition("listed", origin="listed-in-NODES")]
"""

MANIFEST = """
id: reverse-text
name: Reverse text
runtime: {language: typescript, module: ./reverse.ts, handler: reverse}
inputs:
  - {name: text, dataType: string, required: true}
"""


@node
def transform(text: str) -> str:
    return text


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_register_definitions_and_functions_and_look_them_up() -> None:
    registry = NodeRegistry([transform, NodeDefinition("plain", category="a")])
    assert "transform" in registry and "plain" in registry and "nope" not in registry
    assert len(registry) == 2
    assert [d.id for d in registry] == ["plain", "transform"]  # by category, then id
    got = registry.get("transform")
    assert got is not None and got.origin.endswith("test_registry.transform")
    registry.register(transform)  # the same origin again is not a clash
    assert len(registry) == 2


def test_a_type_id_defined_twice_names_both_origins() -> None:
    registry = NodeRegistry([NodeDefinition("transform", origin="pack-a")])
    with pytest.raises(NodeDefinitionError) as info:
        registry.register(transform)
    assert "defined twice: by pack-a and by" in str(info.value)
    assert "test_registry.transform" in str(info.value)
    assert info.value.hint == "give one of them another id"


def test_registering_something_else_fails() -> None:
    with pytest.raises(NodeDefinitionError, match="is not a node"):
        NodeRegistry([len])


def test_suggest_offers_close_type_ids() -> None:
    registry = NodeRegistry([transform, NodeDefinition("transfer"), NodeDefinition("fetch")])
    assert registry.suggest("transfrom")[0] == "transform"
    assert registry.suggest("zzzz") == []


def test_load_a_python_file(tmp_path: Path) -> None:
    path = write(tmp_path / "my_nodes.py", NODE_FILE)
    registry = NodeRegistry()
    found = registry.load(str(path))
    assert sorted(d.id for d in found) == ["farewell", "greet", "listed"]
    greet = registry.get("greet")
    assert greet is not None and greet.runtime.path == str(path)
    assert greet.runtime.module == module_name_for(path)
    assert module_name_for(path) in sys.modules
    assert registry.load(str(path)) == found  # loading again reuses the module


def test_load_a_manifest_and_a_folder(tmp_path: Path) -> None:
    manifest = write(tmp_path / "reverse" / "node.yaml", MANIFEST)
    registry = NodeRegistry()
    [reverse] = registry.load(str(manifest))
    assert reverse.runtime.language == "typescript"
    assert reverse.runtime.path == str(manifest.parent.resolve())
    folder = tmp_path / "pack"
    write(folder / "deep" / "node.yaml", MANIFEST.replace("reverse-text", "deep-reverse"))
    write(folder / "node_modules" / "x" / "node.yaml", MANIFEST.replace("reverse-text", "skipme"))
    write(folder / "more.py", NODE_FILE.replace("greet", "greet2").replace('"farewell"', '"f2"'))
    found = NodeRegistry().load(str(folder))
    assert sorted(d.id for d in found) == ["deep-reverse", "f2", "greet2", "listed"]


def test_load_a_module_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "h7_pack_by_name.py", NODE_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    found = NodeRegistry().load("h7_pack_by_name")
    assert {d.id for d in found} == {"greet", "farewell", "listed"}
    assert all(d.runtime.module == "h7_pack_by_name" for d in found if d.id != "listed")
    monkeypatch.delitem(sys.modules, "h7_pack_by_name")


def test_default_registry_takes_extra_sources_in_order(tmp_path: Path) -> None:
    path = write(tmp_path / "extra_nodes.py", NODE_FILE)
    registry = NodeRegistry.default([str(path)], entry_points=False)
    assert sorted(d.id for d in registry) == ["farewell", "greet", "listed"]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: str(p / "missing.py"), "no such file"),
        (lambda p: str(write(p / "empty.py", "X = 1\n")), "no nodes found there"),
        (
            lambda p: str(write(p / "boom.py", "raise RuntimeError('bad import')\n")),
            "importing it failed",
        ),
        (
            lambda p: str(write(p / "notes.txt", "hello")),
            "not a .py file, a node.yaml manifest or a folder",
        ),
        (lambda p: "no_such_module_h7", "cannot import module 'no_such_module_h7'"),
        (
            lambda p: str(write(p / "bad" / "node.yaml", "id: x\nruntime: {language: cobol}\n")),
            "runtime language 'cobol'",
        ),
    ],
    ids=["missing-file", "no-nodes", "import-fails", "not-a-source", "no-module", "bad-manifest"],
)
def test_bad_sources_say_what_is_wrong(make: object, says: str, tmp_path: Path) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(NodeDefinitionError, match=says):
        NodeRegistry().load(source)


def test_the_builtin_library_loads_without_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run from a source tree (``PYTHONPATH=src``) no installer registered the entry point."""
    import atomiton.nodes.registry as registry_module

    installed = NodeRegistry.default()
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [])
    from_source = NodeRegistry.default()
    ids = sorted(d.id for d in from_source)
    assert "ml-inference" in ids
    assert ids == sorted(d.id for d in installed)
