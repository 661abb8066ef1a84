"""docs/deploy/raycluster.yaml against KubeRay's own RayCluster CRD (ray-operator v1.5.0).

The CRD comes from the Go module proxy into Go's module cache (scripts/setup.d/80-kuberay-crd.sh);
nothing of it is copied here. The check is the API server's, done offline: the manifest must
validate against the CRD's OpenAPI schema, and, as ``kubectl apply --validate=strict`` would
insist, carry no field the schema does not know (the API server would silently drop it, so a
misspelt ``maxReplicas`` would deploy a cluster that never scales).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "docs" / "deploy" / "raycluster.yaml"
CRD = "config/crd/bases/ray.io_rayclusters.yaml"

pytestmark = pytest.mark.toolchain("kuberay")


@pytest.fixture(scope="module")
def schema(kuberay_operator: Path) -> dict[str, Any]:
    crd = yaml.safe_load((kuberay_operator / CRD).read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return dict(v1["schema"]["openAPIV3Schema"])


def clusters() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return [d for d in docs if d.get("kind") == "RayCluster"]


def unknown_fields(value: Any, schema: dict[str, Any], where: str = "") -> Iterator[str]:
    """Paths of fields the structural schema does not declare (what strict validation rejects)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        known = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            if known is not None and key in known:
                yield from unknown_fields(item, known[key], path)
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, path)
            elif known is not None and not extra:
                yield path
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{where}[{index}]")


def test_the_manifest_holds_one_ray_cluster() -> None:
    (cluster,) = clusters()
    assert cluster["apiVersion"] == "ray.io/v1"


def test_the_ray_cluster_validates_against_kuberays_schema(schema: dict[str, Any]) -> None:
    (cluster,) = clusters()
    problems = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(cluster)
    ]
    assert problems == []
    assert list(unknown_fields(cluster, schema)) == []


def test_the_strict_check_catches_a_misspelt_field(schema: dict[str, Any]) -> None:
    """The check above can fail: a typo in a worker group is reported with its path."""
    (cluster,) = clusters()
    cluster["spec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    assert list(unknown_fields(cluster, schema)) == ["spec.workerGroupSpecs[0].maxReplica"]
