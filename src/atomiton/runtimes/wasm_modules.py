"""Compiled WebAssembly modules, cached on disk by content hash and wasmtime version."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import wasmtime

_WASMTIME = version("wasmtime")


@dataclass(slots=True)
class CacheStats:
    compiled: int = 0
    """Modules compiled from source (a cache miss)."""
    loaded: int = 0
    """Compiled modules mapped in from the cache directory."""


class ModuleCache:
    """Compiled modules serialised under ``directory``, keyed by content hash and wasmtime version.

    Writes go to a temporary file renamed into place, so concurrent processes never see a
    partial artefact. An index by (path, mtime, size) saves re-hashing unchanged files.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stats = CacheStats()
        self._index: dict[tuple[str, int, int], Path] = {}
        self._lock = threading.Lock()

    def load(self, source: Path, engine: wasmtime.Engine) -> wasmtime.Module:
        artefact = self._artefact(source)
        if artefact.exists():
            try:
                module = wasmtime.Module.deserialize_file(engine, str(artefact))
            except wasmtime.WasmtimeError:
                artefact.unlink(missing_ok=True)  # stale or corrupt: compile again below
            else:
                self.stats.loaded += 1
                return module
        with self._lock:
            module = wasmtime.Module(engine, source.read_bytes())
            self.stats.compiled += 1
            artefact.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=artefact.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(module.serialize())
            os.replace(tmp, artefact)
        return module

    def _artefact(self, source: Path) -> Path:
        st = source.stat()
        key = (str(source), st.st_mtime_ns, st.st_size)
        found = self._index.get(key)
        if found is None:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()[:32]
            found = self.directory / f"{digest}-wasmtime{_WASMTIME}.cwasm"
            self._index[key] = found
        return found
