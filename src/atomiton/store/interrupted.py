"""Runs whose process died: finding them (same host only) and closing their records.

A zombie (dead, not yet reaped by its parent) counts as gone. A pid reused by an unrelated
process after a crash counts as alive: the run then stays ``running`` until that process ends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sqlalchemy as sa

from atomiton.events import EventKind
from atomiton.store.encoding import json_text
from atomiton.store.schema import events, node_runs, runs

_UNFINISHED_NODES = ("running", "queued", "retrying")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS): trust kill(0)
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def interrupt_run(
    conn: sa.Connection,
    run_id: str,
    pid: int,
    host: str,
    started_at: float,
    updated_at: float | None,
    last_seq: int,
) -> None:
    """Close a run whose process died: its unfinished nodes, the run row, a final event."""
    finished_at = updated_at if updated_at is not None else started_at
    duration_ms = max(0.0, (finished_at - started_at) * 1000.0)
    reason = f"the process running this run (pid {pid} on {host}) ended without finishing it"
    error = {"type": "RunInterrupted", "message": reason, "run_id": run_id}
    unfinished = list(
        conn.scalars(
            sa.select(node_runs.c.node_id).where(
                node_runs.c.run_id == run_id, node_runs.c.status.in_(_UNFINISHED_NODES)
            )
        )
    )
    if unfinished:
        conn.execute(
            sa.update(node_runs)
            .where(node_runs.c.run_id == run_id, node_runs.c.node_id.in_(unfinished))
            .values(status="interrupted", reason=reason, finished_at=finished_at)
        )
    payload = {
        "status": "interrupted",
        "outputs": {},
        "error": error,
        "duration_ms": duration_ms,
        "interrupted_nodes": unfinished,
    }
    conn.execute(
        sa.insert(events).values(
            run_id=run_id,
            seq=last_seq + 1,
            kind=EventKind.RUN_FINISHED.value,
            time=finished_at,
            node_id=None,
            payload=json_text(payload),
        )
    )
    conn.execute(
        sa.update(runs)
        .where(runs.c.run_id == run_id, runs.c.status == "running")
        .values(
            status="interrupted",
            finished_at=finished_at,
            duration_ms=duration_ms,
            error=json_text(error),
            last_seq=last_seq + 1,
        )
    )


if sys.platform == "win32":
    import ctypes

    def _windows_pid_alive(pid: int) -> bool:
        process_query_limited_information = 0x1000
        still_active = 259
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == still_active
        finally:
            kernel32.CloseHandle(handle)
