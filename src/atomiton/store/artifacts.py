"""Large node outputs live in files beside the database, referenced from the rows.

A value whose JSON is larger than the spill limit is written once, content-addressed, to
``<artifacts>/<run_id>/<sha256>.json`` (to a temporary name, then renamed, before the row that
references it is committed) and replaced by ``{"$ref": {"kind": "file", "path", "bytes",
"sha256"}}``. The same value spilled twice (a sink's outputs in ``node.succeeded`` and in
``run.finished``) is one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from atomiton.errors import StoreError
from atomiton.store.encoding import json_text

SPILL_LIMIT_BYTES = 256 * 1024

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactFolder:
    """Writes and reads spilled values under one folder."""

    def __init__(self, root: Path, limit: int = SPILL_LIMIT_BYTES) -> None:
        self.root = root
        self.limit = limit

    def spill(self, run_id: str, value: Any) -> Any:
        """``value`` unchanged when its JSON is small, else a reference to its file."""
        text = json_text(value)
        if len(text) <= self.limit // 4:  # no character takes more than 4 bytes in UTF-8
            return value
        data = text.encode("utf-8")
        if len(data) <= self.limit:
            return value
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / (_UNSAFE.sub("_", run_id) or "_")
        path = folder / f"{digest}.json"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)
        return {"$ref": {"kind": "file", "path": str(path), "bytes": len(data), "sha256": digest}}


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("$ref"), dict)


def load_artifact(value: Any) -> Any:
    """Resolve a ``{"$ref": {"kind": "file", ...}}`` to the value it stands for; else ``value``."""
    if not is_ref(value):
        return value
    ref = value["$ref"]
    if ref.get("kind") != "file":
        raise StoreError(
            f"cannot load an artifact of kind {ref.get('kind')!r}; this store knows 'file'",
            hint="the history was written by a newer atomiton, upgrade to read it",
        )
    path = Path(str(ref["path"]))
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"the artifact file {path} referenced by the run history is missing",
            hint="it was deleted or the history was copied without its artifacts folder",
        ) from None
