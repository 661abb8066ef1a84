"""``SqlStore``: run history in any SQLAlchemy database, SQLite by default.

Events go through one writer: a process of its own for a database file or server
(``writer="process"``, see ``process_writer``), so that their encoding and SQL run beside the
engine instead of under its GIL; a thread in this process for an in-memory database, which
no other process can reach, or when asked (``writer="thread"`` or ``$ATOMITON_HISTORY_WRITER``).
``begin_run`` and ``mark_interrupted`` write directly. Reads run in one snapshot each and
first wait for this store's own recorded events, so a caller always reads what it recorded.

``record`` only appends to a queue; past ``high_water`` queued events (the writer far behind)
it waits for the writer to catch up rather than grow without bound or drop anything, and
counts the wait in ``stats``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from atomiton.errors import RunNotFoundError, StoreError
from atomiton.events import Event, EventKind
from atomiton.store.artifacts import SPILL_LIMIT_BYTES, ArtifactFolder
from atomiton.store.base import RUN_STATUSES, NodeRunRecord, RunInfo, RunRecord
from atomiton.store.connect import (
    BUSY_TIMEOUT_MS,
    create_engine,
    default_artifact_dir,
    is_memory,
    resolve_url,
)
from atomiton.store.encoding import from_json, json_text
from atomiton.store.interrupted import interrupt_run, pid_alive
from atomiton.store.migrations import migrate
from atomiton.store.process_writer import ProcessWriter
from atomiton.store.schema import events, node_runs, runs
from atomiton.store.writer import EventWriter, FlushMarker, Writer

_RUN_FINISHED = EventKind.RUN_FINISHED
WRITERS = ("process", "thread")


class SqlStore:
    """Run history at ``url`` (see ``connect.resolve_url``); large outputs under ``artifacts``.

    ``writer`` is ``"process"`` (the default, except in memory) or ``"thread"``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        artifacts: Path | None = None,
        spill_limit: int = SPILL_LIMIT_BYTES,
        interval: float = 0.05,
        batch: int = 500,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        writer: str | None = None,
        high_water: int = 50_000,
    ) -> None:
        self.url = resolve_url(url)
        memory = is_memory(self.url)
        kind = _writer_kind(writer, memory)
        self._engine = create_engine(self.url, busy_timeout_ms=busy_timeout_ms)
        self._lock = threading.Lock() if memory else None
        folder = artifacts or default_artifact_dir(self.url)
        self.artifacts = None if folder is None else ArtifactFolder(folder, spill_limit)
        try:
            self._create_schema()
        except BaseException:
            self._engine.dispose()
            raise
        self._queue: deque[Event | FlushMarker] = deque()
        self._wake = threading.Event()
        self._batch = batch
        self._high_water = max(high_water, 2 * batch)
        self._closed = False
        self._waits = 0
        self._waited_s = 0.0
        self.writer_kind = kind
        self._writer: Writer
        if kind == "process":
            self._writer = ProcessWriter(
                self._engine,
                self._queue,
                self._wake,
                artifacts=self.artifacts,
                interval=interval,
                batch=batch,
                busy_timeout_ms=busy_timeout_ms,
                high_water=self._high_water,
            )
        else:
            self._writer = EventWriter(
                self._engine,
                self._queue,
                self._wake,
                artifacts=self.artifacts,
                lock=self._lock,
                interval=interval,
                batch=batch,
            )
        self._finalizer = weakref.finalize(self, _shut_down, self._writer, self._engine)

    def __repr__(self) -> str:
        return f"SqlStore({self.url.render_as_string(hide_password=True)!r})"

    # writing ------------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        if self._closed:
            raise StoreError(f"{self!r} is closed; event {event.kind} of run {event.run_id} lost")
        queue = self._queue
        queue.append(event)
        waiting = len(queue)
        if event.kind is _RUN_FINISHED or waiting == self._batch:
            self._wake.set()
        elif waiting >= self._high_water:
            self._wait_for_room()

    def flush(self) -> None:
        if self._closed:
            return
        _flush(self._writer, self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    @property
    def dropped(self) -> list[tuple[Event, str]]:
        """Events that could not be stored, with why (a bug if ever non-empty)."""
        return list(self._writer.dropped)

    def prepare(self, timeout: float | None = 0) -> bool:
        """Start the writer now rather than at the first run, and wait up to ``timeout``
        seconds (``None``: as long as it takes) until it is ready; whether it is. A long-lived
        engine (a server) may call it once; ``begin_run`` starts the writer anyway."""
        return self._writer.prepare(timeout)

    @property
    def stats(self) -> dict[str, Any]:
        """The writer in use, queue items it has written (``by_process``: in the writer
        process; ``in_process``: here), and how often and how long ``record`` waited for it."""
        return {
            "writer": self.writer_kind,
            **self._writer.counts,
            "backpressure_waits": self._waits,
            "backpressure_s": self._waited_s,
            "dropped": len(self._writer.dropped),
        }

    def _wait_for_room(self) -> None:
        """The writer is ``high_water`` events behind: wait until it has taken half of them."""
        start = time.perf_counter()
        self._waits += 1
        writer = self._writer
        while len(self._queue) > self._high_water // 2:
            if not writer.alive:
                raise StoreError(
                    f"the history writer of {self!r} has stopped with "
                    f"{len(self._queue)} events queued: {writer.failure}",
                    hint="the run goes on without history; see the error above for why",
                )
            self._wake.set()
            time.sleep(0.001)
        self._waited_s += time.perf_counter() - start

    def begin_run(self, run: RunInfo) -> None:
        self._writer.prepare()
        row = {
            "run_id": run.run_id,
            "status": "running",
            "blueprint_id": run.blueprint_id,
            "blueprint_name": run.blueprint_name,
            "source": run.source,
            "blueprint": json_text(run.blueprint),
            "inputs": json_text(run.inputs),
            "variables": json_text(run.variables),
            "outputs": "{}",
            "pid": run.pid,
            "host": run.host,
            "started_at": run.started_at,
            "last_seq": 0,
        }
        try:
            with self._write() as conn:
                conn.execute(sa.insert(runs), [row])
        except sa.exc.IntegrityError:
            raise StoreError(
                f"run {run.run_id!r} is already in the history at {self.url.database or self.url}",
                run_id=run.run_id,
                hint="every run needs a new id; the engine makes one with uuid4",
            ) from None

    def mark_interrupted(self) -> list[str]:
        if not self._closed and not self._writer.idle:
            self.flush()  # a run this store just finished is not a candidate
        host = socket.gethostname()
        with self._write() as conn:
            rows = conn.execute(
                sa.select(runs.c.run_id, runs.c.pid, runs.c.host, runs.c.started_at)
                .add_columns(runs.c.updated_at, runs.c.last_seq)
                .where(runs.c.status == "running")
            ).all()
            gone = [
                r for r in rows if r.host == host and r.pid is not None and not pid_alive(r.pid)
            ]
            for r in gone:
                interrupt_run(conn, r.run_id, r.pid, host, r.started_at, r.updated_at, r.last_seq)
        return [r.run_id for r in gone]

    # reading ------------------------------------------------------------------------------

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunRecord]:
        if status is not None and status not in RUN_STATUSES:
            raise StoreError(
                f"unknown run status {status!r}", hint=f"use one of {', '.join(RUN_STATUSES)}"
            )
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        if status is not None:
            query = query.where(runs.c.status == status)
        with self._read() as conn:
            rows = conn.execute(query.limit(max(0, limit))).mappings().all()
            counts: dict[str, dict[str, int]] = {row["run_id"]: {} for row in rows}
            if counts:
                count_query = (
                    sa.select(node_runs.c.run_id, node_runs.c.status, sa.func.count())
                    .where(node_runs.c.run_id.in_(list(counts)))
                    .group_by(node_runs.c.run_id, node_runs.c.status)
                )
                for run_id, node_status, n in conn.execute(count_query):
                    counts[run_id][node_status] = n
        return [_run_record(row, {}, counts[row["run_id"]]) for row in rows]

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            full_id = self._resolve(conn, run_id)
            row = conn.execute(sa.select(runs).where(runs.c.run_id == full_id)).mappings().one()
            logs: dict[str, list[dict[str, Any]]] = {}
            log_query = (
                sa.select(events.c.node_id, events.c.time, events.c.payload)
                .where(events.c.run_id == full_id, events.c.kind == EventKind.NODE_LOG.value)
                .order_by(events.c.seq)
            )
            for node_id, time, payload in conn.execute(log_query):
                entry = {"time": time, "level": "info", "message": ""} | json.loads(payload)
                logs.setdefault(node_id, []).append(entry)
            node_query = (
                sa.select(node_runs)
                .where(node_runs.c.run_id == full_id)
                .order_by(node_runs.c.ordinal)
            )
            nodes = {
                node["node_id"]: _node_record(node, logs.get(node["node_id"], []))
                for node in conn.execute(node_query).mappings()
            }
        counts: dict[str, int] = {}
        for node in nodes.values():
            counts[node.status] = counts.get(node.status, 0) + 1
        return _run_record(row, nodes, counts)

    def events(self, run_id: str, *, after_seq: int = 0) -> list[Event]:
        query = (
            sa.select(events)
            .where(events.c.run_id == run_id, events.c.seq > after_seq)
            .order_by(events.c.seq)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            if not rows:
                exists = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id))
                if exists.first() is None:
                    raise self._not_found(conn, run_id)
        return [
            Event(r.run_id, r.seq, EventKind(r.kind), r.time, r.node_id, json.loads(r.payload))
            for r in rows
        ]

    # internals ----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        """Create or upgrade the schema with the Alembic migrations (SQLite and PostgreSQL
        alike); a database written by a newer atomiton is refused."""
        with self._write() as conn:
            migrate(conn, where=f"the history at {self.url.render_as_string(hide_password=True)}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
        else:
            with self._lock:
                yield

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._locked(), self._engine.connect() as conn:
            conn = conn.execution_options(atomiton_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        if not self._closed and not self._writer.idle:
            self.flush()  # read what this store recorded
        with self._locked(), self._engine.connect() as conn:
            yield conn

    def _resolve(self, conn: sa.Connection, run_id: str) -> str:
        if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first():
            return run_id
        matches = []
        if run_id:
            prefix = runs.c.run_id.startswith(run_id, autoescape=True)
            matches = list(conn.scalars(sa.select(runs.c.run_id).where(prefix).limit(6)))
        if len(matches) == 1:
            return str(matches[0])
        if matches:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise RunNotFoundError(
                f"run id prefix {run_id!r} is ambiguous: it matches {shown}",
                run_id=run_id,
                hint="give more characters of the id",
            )
        raise self._not_found(conn, run_id)

    def _not_found(self, conn: sa.Connection, run_id: str) -> RunNotFoundError:
        recent = list(
            conn.scalars(sa.select(runs.c.run_id).order_by(runs.c.started_at.desc()).limit(5))
        )
        where = self.url.database or self.url.render_as_string(hide_password=True)
        if recent:
            hint = f"recent runs: {', '.join(recent)}; `atomiton runs` lists them all"
        else:
            hint = "the history is empty; runs appear here once `atomiton run` has run one"
        return RunNotFoundError(
            f"no run {run_id!r} in the history at {where}", run_id=run_id, hint=hint
        )


def _writer_kind(asked: str | None, memory: bool) -> str:
    kind = asked or os.environ.get("ATOMITON_HISTORY_WRITER") or ("thread" if memory else "process")
    if kind not in WRITERS:
        raise StoreError(
            f"unknown history writer {kind!r}",
            hint=f"use one of {', '.join(WRITERS)} (argument writer= or $ATOMITON_HISTORY_WRITER)",
        )
    if memory and kind == "process":
        if asked is None:  # the environment asked for all stores; memory cannot comply
            return "thread"
        raise StoreError(
            "an in-memory history cannot be written by another process",
            hint="use writer='thread', or a database file",
        )
    return kind


def _flush(writer: Writer, store: SqlStore | None = None) -> None:
    marker = FlushMarker()
    writer.queue.append(marker)
    writer.wake.set()
    while not marker.done.wait(0.05):
        if writer.failure is not None:
            raise StoreError(
                f"could not write run history ({store!r}): {writer.failure}",
                hint="the writer keeps retrying; check free disk space and that no other "
                "program holds a write lock on the database",
            )
        if not writer.alive:
            raise StoreError(f"the history writer of {store!r} has stopped")


def _shut_down(writer: Writer, engine: sa.Engine) -> None:
    """Write what is queued and stop; also run at interpreter exit for a store left open."""
    abort = False
    try:
        _flush(writer)
    except StoreError:
        abort = True
    writer.stop(abort=abort, timeout=10)
    engine.dispose()


def _run_record(row: Any, nodes: dict[str, NodeRunRecord], counts: dict[str, int]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        status=row["status"],
        blueprint_id=row["blueprint_id"],
        blueprint_name=row["blueprint_name"],
        source=row["source"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_ms=row["duration_ms"],
        error=from_json(row["error"]),
        outputs=from_json(row["outputs"]) or {},
        inputs=from_json(row["inputs"]) or {},
        variables=from_json(row["variables"]) or {},
        nodes=nodes,
        pid=row["pid"],
        host=row["host"],
        node_counts=counts,
    )


def _node_record(row: Any, logs: list[dict[str, Any]]) -> NodeRunRecord:
    return NodeRunRecord(
        node_id=row["node_id"],
        status=row["status"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_ms=row["duration_ms"],
        error=from_json(row["error"]),
        outputs=from_json(row["outputs"]),
        reason=row["reason"],
        logs=logs,
    )
