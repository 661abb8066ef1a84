"""Atomiton's three templates run end to end: the adapted copies in examples/ (paths only,
see their header comments) against the data in examples/data, and the original files where
their paths allow it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from atomiton import LocalEngine, NodeRegistry
from atomiton.blueprint import load_blueprint
from atomiton.blueprint.bodies import implicit_bodies, with_implicit_bodies
from atomiton.validate import Severity, validate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ORIGINALS = Path(__file__).with_name("atomiton_templates")  # verbatim copies (MIT)
pytestmark = pytest.mark.toolchain("node")


@pytest.fixture
async def engine() -> Any:
    async with LocalEngine(registry=NodeRegistry.default(), store=None) as eng:
        yield eng


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run from the repository root (the examples' relative paths), outputs under tmp_path."""
    monkeypatch.chdir(ROOT)
    return tmp_path


async def test_hello_world_writes_its_message(engine: LocalEngine, in_repo: Path) -> None:
    target = ROOT / ".tmp" / "hello-world-output.txt"
    target.unlink(missing_ok=True)
    result = await engine.execute(EXAMPLES / "hello-world.flow.yaml")
    assert result.status == "succeeded", result.error
    text = target.read_text()
    assert text.startswith("Hello World from Atomiton!\n\nThis is a simple example")
    assert "Created by: Atomiton Flow System" in text
    assert "undefined" not in text


async def test_data_transform_writes_totals(engine: LocalEngine, in_repo: Path) -> None:
    out = in_repo / "totals" / "results.json"
    result = await engine.execute(
        EXAMPLES / "data-transform.flow.yaml", variables={"outputPath": str(out)}
    )
    assert result.status == "succeeded", result.error
    # examples/data/sample.csv: active rows amount 120.50, 42.25, 310.00, 0.25
    assert json.loads(out.read_text()) == {"total": 473, "count": 4, "average": 118.25}
    assert result.nodes["filter-transform"].outputs["outputCount"] == 4


async def test_image_processor_processes_every_image(engine: LocalEngine, in_repo: Path) -> None:
    out = in_repo / "processed"
    result = await engine.execute(
        EXAMPLES / "image-processor.flow.yaml", variables={"outputFolder": str(out)}
    )
    assert result.status == "succeeded", result.error
    loop = result.outputs["image-loop"]
    assert (loop["iterationCount"], loop["success"]) == (2, True)
    written = sorted(out.iterdir())
    assert len(written) == 2
    sizes = set()
    for path in written:
        with Image.open(path) as picture:
            assert picture.format == "PNG"
            sizes.add(picture.size)
    assert sizes == {(800, 533)}  # 1200x800 and 300x200, fit inside 800x600
    resized = [k for k in result.nodes if k.endswith("/image-resize")]
    assert sorted(resized) == [
        "image-loop/0/parallel-processor/0/image-resize",
        "image-loop/1/parallel-processor/0/image-resize",
    ]
    assert all(result.nodes[k].outputs["format"] == "jpeg" for k in resized)


def test_image_processor_bodies_are_nested_with_inherited_concurrency() -> None:
    bp, decisions = implicit_bodies(load_blueprint(EXAMPLES / "image-processor.flow.yaml"))
    assert [n.id for n in bp.nodes] == ["create-output-folder", "image-source", "image-loop"]
    loop = bp.node("image-loop")
    assert loop is not None and loop.blueprint is not None
    assert loop.parameters["concurrency"] == 4
    (par,) = loop.blueprint.nodes
    assert par.blueprint is not None
    assert [n.id for n in par.blueprint.nodes] == [
        "image-resize",
        "image-watermark",
        "save-processed",
    ]
    assert [d.container for d in decisions if d.moved] == [
        "image-loop",
        "image-loop/parallel-processor",
    ]


@pytest.mark.parametrize("name", ["hello-world", "data-transform", "image-processor"])
def test_original_templates_validate(name: str) -> None:
    """Warnings (undeclared handles like 'output', unused parameters) are allowed."""
    bp = with_implicit_bodies(load_blueprint(ORIGINALS / f"{name}.flow.yaml"))
    report = validate(bp, NodeRegistry.default())
    errors = [i for i in report.issues if i.severity is Severity.ERROR]
    assert errors == [], errors


@pytest.mark.parametrize("name", ["hello-world", "data-transform", "image-processor"])
def test_examples_validate(name: str) -> None:
    bp = with_implicit_bodies(load_blueprint(EXAMPLES / f"{name}.flow.yaml"))
    assert validate(bp, NodeRegistry.default()).ok


async def test_original_hello_world_runs_unchanged(
    engine: LocalEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its one path is relative: run it in an empty folder."""
    shutil.copy(ORIGINALS / "hello-world.flow.yaml", tmp_path / "flow.yaml")
    monkeypatch.chdir(tmp_path)
    result = await engine.execute(tmp_path / "flow.yaml")
    assert result.status == "succeeded", result.error
    text = (tmp_path / ".tmp" / "hello-world-output.txt").read_text()
    assert "Hello World from Atomiton!" in text
