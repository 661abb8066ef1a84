"""docs/nodes.md is generated from the registry and kept current (scripts/gen_node_docs.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from atomiton.nodes import NodeRegistry

ROOT = Path(__file__).parents[3]
SCRIPT = ROOT / "scripts" / "gen_node_docs.py"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_node_docs", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_reference_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "nodes.md"
    stale.write_text("# Node reference\n\nold\n")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "is stale" in done.stderr
    written = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(stale)], capture_output=True, check=False
    )
    assert written.returncode == 0
    assert stale.read_text() == (ROOT / "docs" / "nodes.md").read_text()


def test_every_node_has_a_section_and_the_output_is_deterministic(gen: ModuleType) -> None:
    registry = NodeRegistry.default()
    text = gen.render(registry)
    assert text == gen.render(reversed(list(registry)))
    for definition in registry:
        assert f"\n### {definition.id}\n" in text
    assert str(ROOT) not in text  # no machine paths


def test_examples_name_declared_values_only(gen: ModuleType) -> None:
    registry = NodeRegistry.default()
    for node_id, parameters in gen.EXAMPLES.items():
        definition = registry.get(node_id)
        assert definition is not None, node_id
        declared = {*definition.input_names, *(p.name for p in definition.parameters)}
        assert set(parameters) <= declared, (node_id, set(parameters) - declared)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, "any"),
        ({"type": "string"}, "string"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "string | null"),
        ({"enum": ["a", "b"], "type": "string"}, '"a" | "b"'),
        ({"type": "array", "items": {"type": "integer"}}, "array<integer>"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "object<string>"),
        ({"type": "string", "format": "binary"}, "bytes"),
        ({"type": "integer", "minimum": 1, "maximum": 10}, "integer (≥ 1, ≤ 10)"),
    ],
)
def test_schema_types_read_well(gen: ModuleType, schema: dict[str, object], expected: str) -> None:
    assert gen._type(schema) == expected
