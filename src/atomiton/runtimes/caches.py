"""Where runtimes keep what they build once: compiled WASM modules, Go worker binaries,
TypeScript stripped of its types."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$ATOMITON_CACHE_DIR`` or the user cache dir (``~/.cache/atomiton`` on Linux)."""
    configured = os.environ.get("ATOMITON_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("atomiton"))
