"""Artifacts by reference: a local folder and S3 (moto's S3-compatible server on 127.0.0.1).

The S3 fixture starts ``moto``'s threaded server on a free loopback port for the module, makes
a bucket, and stops the server at the end; the store talks to it through s3fs like any S3.

    write (bytes | Arrow table | JSON) -> reference (small JSON) -> load -> the same value
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from atomiton.artifacts import ArtifactStore, is_reference
from atomiton.errors import StoreError
from s3server import moto_s3

BUCKET = "atomiton-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3(BUCKET) as endpoint:
        yield endpoint


def s3_store(endpoint: str, prefix: str) -> ArtifactStore:
    options: dict[str, Any] = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "skip_instance_cache": True,
    }
    return ArtifactStore(f"s3://{BUCKET}/{prefix}", **options)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    return s3_store(request.getfixturevalue("s3_endpoint"), tmp_path.name)


def test_bytes_round_trip_by_reference(store: ArtifactStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    ref = store.write_bytes("run-1", data)
    assert is_reference(ref) and ref["$ref"]["bytes"] == len(data)
    assert ref["$ref"]["url"].startswith(store.root + "/run-1/")
    assert json.loads(json.dumps(ref)) == ref  # a reference is plain JSON
    assert store.load(ref) == data


def test_arrow_table_round_trip(store: ArtifactStore) -> None:
    table = pa.table({"id": list(range(10_000)), "name": [f"n{i}" for i in range(10_000)]})
    ref = store.write_table("run-1", table, name="rows.arrow")
    assert ref["$ref"]["url"] == store.url_for("run-1", "rows.arrow")
    assert ref["$ref"]["format"] == "arrow"
    loaded = store.load(ref)
    assert isinstance(loaded, pa.Table) and loaded.equals(table)


def test_json_values_are_content_addressed(store: ArtifactStore) -> None:
    value = {"rows": [{"a": i} for i in range(1000)], "when": "today"}
    first = store.write_json("run-2", value)
    second = store.write_json("run-2", value)
    assert first == second
    assert store.load(first) == value


def test_a_reader_elsewhere_reads_it_from_the_url_alone(
    store: ArtifactStore, request: pytest.FixtureRequest
) -> None:
    """A second store at the same root (another machine) loads what the first wrote."""
    ref = store.write_bytes("run-3", b"shared")
    if store.root.startswith("s3://"):
        other = s3_store(request.getfixturevalue("s3_endpoint"), store.root.rsplit("/", 1)[1])
    else:
        other = ArtifactStore(store.root)
    assert other.load(ref) == b"shared"


def test_missing_and_tampered_artifacts_are_clear_errors(store: ArtifactStore) -> None:
    ref = store.write_bytes("run-4", b"original", name="value.bin")
    store.write_bytes("run-4", b"changed!", name="value.bin")
    with pytest.raises(StoreError, match="does not match its checksum"):
        store.load(ref)
    store.delete_run("run-4")
    with pytest.raises(StoreError, match="is missing"):
        store.load(ref)


def test_references_outside_the_root_are_refused(store: ArtifactStore) -> None:
    foreign = {"$ref": {"kind": "url", "url": "s3://elsewhere/x.bin", "format": "bytes"}}
    with pytest.raises(StoreError, match="not under this store's root"):
        store.load(foreign)


def test_write_value_keeps_the_type(store: ArtifactStore) -> None:
    """bytes as bytes, an Arrow table as Arrow IPC, anything else pickled."""
    table = pa.table({"x": [1, 2, 3]})
    other = {"pairs": [(1, "a"), (2, "b")], 3: frozenset({4})}
    formats = [store.write_value("run-5", v)["$ref"]["format"] for v in (b"raw", table, other)]
    assert formats == ["bytes", "arrow", "pickle"]
    assert store.load(store.write_value("run-5", bytearray(b"raw"))) == b"raw"
    assert store.load(store.write_value("run-5", table)).equals(table)
    assert store.load(store.write_value("run-5", other)) == other
