"""The event writer: drains an event queue into the database in batched transactions.

An ``EventWriter`` is a thread that wakes every ``interval`` seconds (sooner when ``batch``
events are waiting or a run finished), takes everything queued, and writes it in one
transaction: the events, the node rows they change and the run rows. Committed means durable
against a crash of the process (SQLite WAL). It runs either in the engine's process, fed by
``SqlStore.record`` directly (``writer="thread"``), or in the writer process of
``process_writer``, fed from the engine over a pipe (``writer="process"``, the default for a
database file or server), so that encoding and SQL do not compete with the engine for its GIL.

Progress is counted in queue items (events and flush markers): ``taken`` before they leave
the queue, ``done`` once they are written (or dropped), so ``idle`` never misses a batch that
is between the queue and the database.

Failures: an ``OperationalError`` (database locked past the busy timeout, disk full) is
retried with back-off until it succeeds or the store is closed; ``flush`` reports it meanwhile.
Any other error is blamed on the batch's content, which is then written event by event so
that one bad event is dropped (and kept in ``dropped`` with the reason), not the batch.
"""

from __future__ import annotations

import contextlib
import operator
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import sqlalchemy as sa

from atomiton.events import Event, EventKind
from atomiton.store.artifacts import ArtifactFolder
from atomiton.store.encoding import from_json, json_text
from atomiton.store.schema import events, node_runs, runs
from atomiton.store.state import NodeState, RunState, apply_event

_MAX_PER_TRANSACTION = 20_000
_NODE_VALUES = [c.name for c in node_runs.c if c.name not in ("run_id", "node_id")]


class FlushMarker:
    """Queued by ``flush``; the writer sets ``done`` once everything before it is committed
    (and calls ``on_done``, which the writer process uses to acknowledge a flush)."""

    __slots__ = ("done", "on_done")

    def __init__(self, on_done: Callable[[], None] | None = None) -> None:
        self.done = threading.Event()
        self.on_done = on_done

    def finish(self) -> None:
        self.done.set()
        if self.on_done is not None:
            self.on_done()


class Writer(Protocol):
    """What ``SqlStore`` needs from its writer, in this process or in a writer process."""

    queue: deque[Event | FlushMarker]
    wake: threading.Event

    @property
    def alive(self) -> bool: ...

    @property
    def idle(self) -> bool:
        """Nothing queued or on its way to the database."""
        ...

    @property
    def failure(self) -> BaseException | None:
        """Why the last write failed, while the writer retries it; ``None`` when healthy."""
        ...

    @property
    def dropped(self) -> list[tuple[Event, str]]: ...

    def prepare(self, timeout: float | None = 0) -> bool:
        """A run is about to begin: get ready to write its events, waiting up to ``timeout``
        seconds; whether it is ready."""
        ...

    @property
    def counts(self) -> dict[str, int]: ...

    def stop(self, *, abort: bool = False, timeout: float | None = None) -> None: ...


class EventWriter:
    """The writer thread: drains ``queue`` through a ``BatchWriter``."""

    def __init__(
        self,
        engine: sa.Engine,
        queue: deque[Event | FlushMarker],
        wake: threading.Event,
        *,
        artifacts: ArtifactFolder | None,
        lock: threading.Lock | None,
        interval: float = 0.05,
        batch: int = 500,
        pid: int | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.wake = wake
        self.interval = interval
        self.batch = batch
        self.batches = BatchWriter(
            engine, artifacts=artifacts, lock=lock, pid=pid, on_change=on_change
        )
        self.taken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="atomiton-store-writer", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def idle(self) -> bool:
        return not self.queue and self.taken == self.batches.done  # in this order: see _drain

    @property
    def failure(self) -> BaseException | None:
        return self.batches.failure

    @property
    def dropped(self) -> list[tuple[Event, str]]:
        return self.batches.dropped

    @property
    def done(self) -> int:
        return self.batches.done

    def prepare(self, timeout: float | None = 0) -> bool:
        return True  # always ready

    @property
    def counts(self) -> dict[str, int]:
        return {"in_process": self.batches.done}

    def stop(self, *, abort: bool = False, timeout: float | None = None) -> None:
        """Write what is queued (unless ``abort``) and end the thread."""
        if abort:
            self.batches.abort.set()
        self._stop.set()
        self.wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            if len(self.queue) < self.batch:
                self.wake.wait(self.interval)
            self.wake.clear()
            stopping = self._stop.is_set()
            self._drain()
            if stopping and not self.queue:
                return

    def _drain(self) -> None:
        queue = self.queue
        count = min(len(queue), _MAX_PER_TRANSACTION)
        self.taken += count  # before the queue empties, so that ``idle`` stays false
        popleft = queue.popleft
        self.batches.write([popleft() for _ in range(count)])


class BatchWriter:
    """Writes queue items to the database: events folded into rows, flush markers finished
    once everything before them is committed. ``done`` counts the items handled; ``on_change``
    (if given) is called after every ``write`` and whenever a write fails."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        artifacts: ArtifactFolder | None,
        lock: threading.Lock | None,
        pid: int | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.lock = lock
        self.pid = os.getpid() if pid is None else pid  # the engine's, for rows it creates
        self.on_change = on_change
        self.failure: BaseException | None = None
        self.dropped: list[tuple[Event, str]] = []
        self.written = 0
        self.done = 0
        self.abort = threading.Event()
        self._runs: dict[str, RunState] = {}
        self._statements = _Statements(engine.dialect)

    def write(self, items: list[Event | FlushMarker]) -> None:
        pending: list[Event] = []
        for item in items:
            if isinstance(item, FlushMarker):
                self._write_reliably(pending)
                self.done += len(pending) + 1
                pending = []
                item.finish()
            else:
                pending.append(item)
        self._write_reliably(pending)
        self.done += len(pending)
        if self.on_change is not None:
            self.on_change()

    def _write_reliably(self, batch: list[Event]) -> None:
        delay = 0.05
        while batch and not self.abort.is_set():
            try:
                self._write(batch)
            except sa.exc.OperationalError as exc:  # locked or disk trouble: try again later
                self.failure = exc
                if self.on_change is not None:
                    self.on_change()
                self.abort.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:  # something in the batch cannot be stored: isolate it
                if len(batch) > 1:
                    for event in batch:
                        self._write_reliably([event])
                    return
                self.dropped.append((batch[0], f"{type(exc).__name__}: {exc}"))
            self.failure = None
            return

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock is None:
            yield
        else:
            with self.lock:
                yield

    def _write(self, batch: list[Event]) -> None:
        with self._locked():
            touched = self._load_runs({event.run_id for event in batch})
            try:
                self._write_batch(batch, touched)
            except BaseException:
                for run_id in touched:  # the fold ran ahead of a rolled-back transaction
                    self._runs.pop(run_id, None)
                raise
        for run_id, state in touched.items():
            for node in state.dirty.values():
                node.stored = True
            state.dirty.clear()
            if state.changes.get("status", "running") != "running":
                self._runs.pop(run_id, None)  # finished: free the cache
            state.changes.clear()
        self.written += len(batch)

    def _load_runs(self, run_ids: set[str]) -> dict[str, RunState]:
        missing = [run_id for run_id in run_ids if run_id not in self._runs]
        if missing:
            with self.engine.connect() as conn:
                for run_id in missing:
                    self._runs[run_id] = _load_run(conn, run_id)
        return {run_id: self._runs[run_id] for run_id in run_ids}

    def _write_batch(self, batch: list[Event], touched: dict[str, RunState]) -> None:
        new_runs = [state for state in touched.values() if state.changes.get("$new")]
        event_rows: list[tuple[Any, ...]] = []
        for event in batch:
            state = touched[event.run_id]
            if event.seq <= state.last_seq:
                continue  # already stored: a retried batch or a duplicate
            payload = self._payload(event)
            row = (event.run_id, event.seq, event.kind.value, event.time, event.node_id)
            event_rows.append((*row, json_text(payload)))
            apply_event(state, event.kind, event.time, event.node_id, payload)
            state.last_seq = event.seq
        statements = self._statements
        conn = self.engine.connect().execution_options(atomiton_begin="IMMEDIATE")
        with conn, conn.begin():
            for state in new_runs:
                conn.execute(sa.insert(runs), [_new_run_row(state, self.pid)])
            statements.insert_events.execute(conn, event_rows)
            inserts: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            for state in touched.values():
                for node in state.dirty.values():
                    (updates if node.stored else inserts).append(_node_row(state.run_id, node))
            statements.insert_nodes.execute(conn, inserts)
            statements.update_nodes.execute(conn, updates)
            for state in touched.values():
                values = {k: _column(k, v) for k, v in state.changes.items() if k != "$new"}
                values.update(last_seq=state.last_seq, updated_at=state.updated_at)
                conn.execute(sa.update(runs).where(runs.c.run_id == state.run_id).values(**values))

    def _payload(self, event: Event) -> Mapping[str, Any]:
        """The payload to store: the event's own, with large outputs replaced by references."""
        payload = event.payload
        artifacts = self.artifacts
        if artifacts is None or "outputs" not in payload:
            return payload
        outputs = payload["outputs"]
        if event.kind is EventKind.NODE_SUCCEEDED:
            spilled = artifacts.spill(event.run_id, outputs)
        elif event.kind is EventKind.RUN_FINISHED and isinstance(outputs, Mapping):
            spilled = {
                node: artifacts.spill(event.run_id, value) for node, value in outputs.items()
            }
            if all(spilled[node] is value for node, value in outputs.items()):
                spilled = outputs
        else:
            return payload
        return payload if spilled is outputs else {**payload, "outputs": spilled}


class _Statements:
    """The batch statements, compiled once for the engine's driver and run with executemany.

    Rows are tuples in ``names`` order; this skips SQLAlchemy's per-row parameter processing,
    which cost more than SQLite's own insert. A node row serves the insert and the update.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self.insert_events = _Compiled(sa.insert(events), [c.name for c in events.c], dialect)
        self.insert_nodes = _Compiled(sa.insert(node_runs), [c.name for c in node_runs.c], dialect)
        update = (
            sa.update(node_runs)
            .where(node_runs.c.run_id == sa.bindparam("w_run_id"))
            .where(node_runs.c.node_id == sa.bindparam("w_node_id"))
            .values({name: sa.bindparam(f"v_{name}") for name in _NODE_VALUES})
        )
        names = ["w_run_id", "w_node_id"] + [f"v_{name}" for name in _NODE_VALUES]
        self.update_nodes = _Compiled(update, names, dialect)


class _Compiled:
    def __init__(self, statement: Any, names: list[str], dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.names = names
        self.index: list[int] | None = None  # None: rows go to the driver as dicts
        self.reorder: Callable[[tuple[Any, ...]], Any] | None = None
        if compiled.positional:
            self.index = [names.index(name) for name in compiled.positiontup]
            if self.index != list(range(len(names))):
                # A row's values in the statement's order, at C speed: itemgetter of two or
                # more indices returns a tuple.
                self.reorder = operator.itemgetter(*self.index) if len(self.index) > 1 else None

    def execute(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        index = self.index
        params: list[Any]
        if index is None:
            params = [dict(zip(self.names, row, strict=True)) for row in rows]
        elif self.reorder is not None:
            params = list(map(self.reorder, rows))
        elif index == list(range(len(self.names))):
            params = rows
        else:  # one parameter: itemgetter would return the bare value
            params = [tuple(row[i] for i in index) for row in rows]
        conn.exec_driver_sql(self.sql, params)


def _load_run(conn: sa.Connection, run_id: str) -> RunState:
    row = conn.execute(
        sa.select(runs.c.last_seq, runs.c.updated_at, runs.c.status).where(runs.c.run_id == run_id)
    ).first()
    if row is None:  # events without begin_run: the writer creates a minimal run row
        return RunState(run_id, changes={"$new": True})
    state = RunState(run_id, last_seq=row.last_seq, updated_at=row.updated_at)
    query = sa.select(node_runs).where(node_runs.c.run_id == run_id).order_by(node_runs.c.ordinal)
    for node in conn.execute(query).mappings():
        state.nodes[node["node_id"]] = NodeState(
            node_id=node["node_id"],
            ordinal=node["ordinal"],
            status=node["status"],
            attempts=node["attempts"],
            started_at=node["started_at"],
            finished_at=node["finished_at"],
            duration_ms=node["duration_ms"],
            error=from_json(node["error"]),
            outputs=from_json(node["outputs"]),
            reason=node["reason"],
            stored=True,
        )
    return state


def _new_run_row(state: RunState, pid: int) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "status": "running",
        "started_at": state.updated_at or 0.0,
        "pid": pid,
        "host": socket.gethostname(),
    }


def _node_row(run_id: str, node: NodeState) -> tuple[Any, ...]:
    """In ``node_runs`` column order."""
    return (
        run_id,
        node.node_id,
        node.ordinal,
        node.status,
        node.attempts,
        node.started_at,
        node.finished_at,
        node.duration_ms,
        None if node.error is None else json_text(node.error),
        None if node.outputs is None else json_text(node.outputs),
        node.reason,
    )


_JSON_COLUMNS = frozenset({"inputs", "variables", "outputs", "error", "blueprint"})


def _column(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS:
        return None if value is None and name == "error" else json_text(value)
    return value
