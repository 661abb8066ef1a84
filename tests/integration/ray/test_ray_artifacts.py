"""Large values on shared storage: RayEngine(artifacts=URL) and ``atomiton run --artifacts``.

The S3 test runs moto's S3-compatible server on a free loopback port; the Ray workers reach it
through the store options the engine sends with each task.

    big(blob 200 KiB) -> size(measure)      big writes to storage, size reads it back
    big2(blob 200 KiB)                      a sink: fetched from storage for the result
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") != "1":
    pytest.importorskip("ray", reason="needs the optional 'ray' package: pip install atomiton[ray]")

from test_ray_fusion import registry

from atomiton.artifacts import ArtifactStore
from atomiton.cli.engine import make_engine
from atomiton.engines.ray import RayEngine
from atomiton.errors import AtomitonError
from flows import flow
from s3server import moto_s3

HERE = Path(__file__).resolve().parent
BUCKET = "atomiton-ray"
SIZE = 200 * 1024
RAY_JSON = ("--engine", "ray", "--json")


def big_flow() -> dict[str, Any]:
    return flow(
        [
            {"id": "big", "type": "blob", "parameters": {"size": SIZE}},
            {"id": "size", "type": "measure"},
            {"id": "big2", "type": "blob", "parameters": {"size": SIZE}},
        ],
        [("big", "size", "output", "data")],
    )


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    with moto_s3(BUCKET) as endpoint:
        yield {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }


async def test_large_values_go_to_s3_and_are_read_back_on_the_workers(
    ray_local: Any, s3_options: dict[str, Any]
) -> None:
    root = f"s3://{BUCKET}/runs"
    async with RayEngine(
        registry=registry(), store=None, artifacts=root, artifact_options=s3_options
    ) as engine:
        result = await engine.execute(big_flow())
        assert engine.objects.held(result.run_id) == 0
    assert result.status == "succeeded", result.error
    assert result.outputs["size"] == {"output": SIZE}
    assert result.outputs["big2"]["output"] == bytes(range(256)) * (SIZE // 256)
    recorded = result.nodes["big"].outputs
    assert recorded is not None
    ref = recorded["output"]["$ref"]
    assert ref["spilled"] is True and ref["format"] == "bytes" and ref["bytes"] == SIZE
    assert ref["url"].startswith(f"{root}/{result.run_id}/")
    # Another reader (another machine) loads it from the URL alone; it outlives the run.
    assert ArtifactStore(root, **s3_options).load(recorded["output"]) == bytes(range(256)) * 800


def test_atomiton_run_takes_the_location_from_the_environment(tmp_path: Path) -> None:
    """``ATOMITON_ARTIFACTS=<folder> atomiton run --engine ray``: big's value is a file there."""
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(big_flow()))
    folder = tmp_path / "shared"
    env = {**os.environ, "ATOMITON_DB": str(tmp_path / "h.db"), "ATOMITON_ARTIFACTS": str(folder)}
    nodes = str(HERE / "ray_nodes.py")
    done = subprocess.run(
        [sys.executable, "-m", "atomiton", "run", str(path), "--nodes", nodes, *RAY_JSON],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["outputs"]["size"] == {"output": SIZE}
    ref = document["nodes"]["big"]["outputs"]["output"]["$ref"]
    assert ref["url"].startswith(str(folder)) and Path(ref["url"]).stat().st_size == SIZE


def test_the_local_engine_takes_a_folder_not_a_url(tmp_path: Path) -> None:
    engine = make_engine(
        "local", nodes=[], db=str(tmp_path / "h.db"), concurrency=None, artifacts=str(tmp_path)
    )
    assert engine.artifact_root == tmp_path
    with pytest.raises(AtomitonError, match="takes a folder, not a URL"):
        make_engine("local", nodes=[], db=None, concurrency=None, artifacts="s3://bucket/x")


def test_artifacts_with_a_server_is_refused(tmp_path: Path) -> None:
    """The server's engine keeps its own large values: --artifacts there would be ignored."""
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(big_flow()))
    server = ("--server", "http://127.0.0.1:9", "--token", "t")
    done = subprocess.run(
        [sys.executable, "-m", "atomiton", "run", str(path), *server, "--artifacts", "s3://b/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the server's engine decides" in " ".join(done.stderr.split())
