"""Large values by reference, on storage every machine of a cluster can reach.

An :class:`ArtifactStore` is rooted at an fsspec URL: a local folder by default
(``~/.local/share/atomiton/artifacts``), ``s3://bucket/prefix`` on a cluster (or ``gs://``,
``abfs://``, anything fsspec knows, with its package installed). It writes bytes, Arrow tables
(IPC file format), JSON values and pickled Python values under ``<root>/<run_id>/`` and returns
a *reference*, a small JSON value that events, history and other machines pass around instead
of the value::

    {"$ref": {"kind": "url", "url": "s3://bucket/runs/r1/9f86d0...json", "format": "json",
              "bytes": 1832, "sha256": "9f86d0..."}}

:meth:`ArtifactStore.load` reads a reference back on any machine with access to the storage.
Unnamed values are content-addressed (the same value is written once); a local write goes to a
temporary name and is renamed, so a reader never sees half a file; an object store's PUT is
atomic already. Credentials and endpoints are fsspec ``storage_options`` (for S3, the usual
AWS environment variables work too).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import re
import uuid
from collections.abc import Mapping
from typing import Any

from fsspec.core import url_to_fs

from atomiton.errors import StoreError

FORMATS = ("bytes", "arrow", "json", "pickle")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX = {"bytes": "bin", "arrow": "arrow", "json": "json", "pickle": "pickle"}


def default_root() -> str:
    """``$ATOMITON_ARTIFACTS`` (a path or URL), else a folder under the user data directory."""
    import platformdirs

    configured = os.environ.get("ATOMITON_ARTIFACTS")
    return configured or os.path.join(platformdirs.user_data_dir("atomiton"), "artifacts")


def is_reference(value: Any) -> bool:
    ref = value.get("$ref") if isinstance(value, dict) and len(value) == 1 else None
    return isinstance(ref, dict) and ref.get("kind") == "url"


class ArtifactStore:
    def __init__(self, root: str | None = None, **storage_options: Any) -> None:
        self.root = (root or default_root()).rstrip("/")
        self.fs, self._root_path = url_to_fs(self.root, **storage_options)
        self._local = "file" in _protocols(self.fs)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    def url_for(self, run_id: str, name: str) -> str:
        return f"{self.root}/{_safe(run_id)}/{_safe(name)}"

    # -- writing -------------------------------------------------------------------------------

    def write_bytes(self, run_id: str, data: bytes, *, name: str | None = None) -> dict[str, Any]:
        return self._write(run_id, bytes(data), "bytes", name)

    def write_json(self, run_id: str, value: Any, *, name: str | None = None) -> dict[str, Any]:
        from atomiton.events.codec import to_jsonable

        text = json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False)
        return self._write(run_id, text.encode("utf-8"), "json", name)

    def write_table(self, run_id: str, table: Any, *, name: str | None = None) -> dict[str, Any]:
        """A pyarrow Table, or anything with ``to_arrow()`` (a polars DataFrame), as Arrow IPC."""
        pa = _pyarrow()
        if not isinstance(table, pa.Table):
            to_arrow = getattr(table, "to_arrow", None)
            if not callable(to_arrow):
                raise TypeError(
                    f"write_table needs a pyarrow Table or a value with to_arrow(), "
                    f"got {type(table).__name__}"
                )
            table = to_arrow()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return self._write(run_id, sink.getvalue().to_pybytes(), "arrow", name)

    def write_pickle(self, run_id: str, value: Any, *, name: str | None = None) -> dict[str, Any]:
        """Any picklable Python value (read it back only from storage you trust)."""
        return self._write(
            run_id, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "pickle", name
        )

    def write_value(self, run_id: str, value: Any, *, name: str | None = None) -> dict[str, Any]:
        """``value`` in the format that gives the same value back: bytes as bytes, a pyarrow
        Table as Arrow IPC, anything else pickled (a polars DataFrame stays one)."""
        if isinstance(value, bytes | bytearray | memoryview):
            return self.write_bytes(run_id, bytes(value), name=name)
        if type(value).__module__.startswith("pyarrow") and type(value).__name__ == "Table":
            return self.write_table(run_id, value, name=name)
        return self.write_pickle(run_id, value, name=name)

    def _write(self, run_id: str, data: bytes, fmt: str, name: str | None) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        url = self.url_for(run_id, name or f"{digest}.{_SUFFIX[fmt]}")
        path = self._path(url)
        if name is not None or not self.fs.exists(path):
            parent = path.rsplit("/", 1)[0]
            self.fs.makedirs(parent, exist_ok=True)
            if self._local:  # rename into place: a reader never sees half a file
                partial = f"{path}.{uuid.uuid4().hex[:8]}.partial"
                self.fs.pipe_file(partial, data)
                self.fs.mv(partial, path)
            else:
                self.fs.pipe_file(path, data)
        ref = {"kind": "url", "url": url, "format": fmt, "bytes": len(data), "sha256": digest}
        return {"$ref": ref}

    # -- reading -------------------------------------------------------------------------------

    def read_bytes(self, reference: Mapping[str, Any]) -> bytes:
        ref = _body(reference)
        try:
            data: bytes = self.fs.cat_file(self._path(str(ref["url"])))
        except FileNotFoundError:
            raise StoreError(
                f"the artifact {ref['url']} is missing",
                hint="it was deleted, or this machine sees other storage than the writer did",
            ) from None
        if "sha256" in ref and hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise StoreError(
                f"the artifact {ref['url']} does not match its checksum (expected sha256 "
                f"{ref['sha256']})",
                hint="it was overwritten after the reference was made",
            )
        return data

    def load(self, reference: Mapping[str, Any]) -> Any:
        """The value a reference stands for, by its format: bytes, a pyarrow Table, JSON, or
        a pickled Python value."""
        fmt = _body(reference).get("format", "bytes")
        data = self.read_bytes(reference)
        if fmt == "json":
            return json.loads(data)
        if fmt == "pickle":
            return pickle.loads(data)
        if fmt == "arrow":
            pa = _pyarrow()
            return pa.ipc.open_file(pa.py_buffer(data)).read_all()
        return data

    def delete_run(self, run_id: str) -> None:
        path = self._path(f"{self.root}/{_safe(run_id)}")
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def _path(self, url: str) -> str:
        if not url.startswith(self.root + "/"):
            raise StoreError(
                f"the artifact {url} is not under this store's root {self.root}",
                hint="open an ArtifactStore at the reference's root to read it",
            )
        return f"{self._root_path.rstrip('/')}/{url[len(self.root) + 1 :]}"


def _body(reference: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = reference.get("$ref")
    if not isinstance(ref, Mapping) or ref.get("kind") != "url" or "url" not in ref:
        raise StoreError(
            f"not an artifact reference: {dict(reference)!r}",
            hint='expected {"$ref": {"kind": "url", "url": ..., "format": ...}}',
        )
    if ref.get("format", "bytes") not in FORMATS:
        raise StoreError(f"unknown artifact format {ref.get('format')!r}; known: {FORMATS}")
    return ref


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name) or "_"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _pyarrow() -> Any:
    try:  # imported by name: pyarrow is optional and ships no type information
        pa = importlib.import_module("pyarrow")
        importlib.import_module("pyarrow.ipc")
    except ImportError:
        raise StoreError(
            "Arrow tables as artifacts need pyarrow, which is not installed",
            hint="pip install pyarrow",
        ) from None
    return pa


__all__ = ["FORMATS", "ArtifactStore", "default_root", "is_reference"]
