"""Run history: runs, node runs and every event, in SQLite by default or any SQLAlchemy database.

The engine opens a store with ``open_store(url)`` (``$ATOMITON_DB``, else ``history.db`` under
the user data directory), calls ``mark_interrupted()`` to close runs whose process died, writes
each run's row with ``begin_run(RunInfo(...))``, and subscribes ``record`` to the event bus: every
event is queued and a writer thread batches them to disk, deriving the run and node rows from
them. ``get_run`` returns a ``RunRecord`` with every node's status, outputs, error and logs.
"""

from __future__ import annotations

from atomiton.store.artifacts import SPILL_LIMIT_BYTES, load_artifact
from atomiton.store.base import (
    NODE_STATUSES,
    RUN_STATUSES,
    NodeRunRecord,
    RunInfo,
    RunRecord,
    Store,
)
from atomiton.store.connect import default_db_path, resolve_url
from atomiton.store.sql import SqlStore


def open_store(url: str | None = None) -> Store:
    """Open run history at ``url``: a SQLAlchemy URL, a file path, ``memory``, or ``None`` for
    ``$ATOMITON_DB`` or the default file. The caller closes it (``close`` flushes)."""
    return SqlStore(url)


__all__ = [
    "NODE_STATUSES",
    "RUN_STATUSES",
    "SPILL_LIMIT_BYTES",
    "NodeRunRecord",
    "RunInfo",
    "RunRecord",
    "SqlStore",
    "Store",
    "default_db_path",
    "load_artifact",
    "open_store",
    "resolve_url",
]
