"""``ProcessWriter``: history written by a separate process, off the engine's GIL.

Encoding payloads as JSON and running SQLAlchemy and SQLite cost several microseconds of CPU
per event; in the engine's process that time is taken from the engine under its GIL. Here the
engine's side only moves events: ``SqlStore.record`` appends to the queue as before, and a
feeder thread wakes every ``interval`` seconds (sooner at ``batch`` events or a finished run,
but at most once per ``interval`` while a run streams events: see ``_feed``),
pickles what is queued as tuples (about 0.3 µs an event) and writes it to the stdin of
``python -m atomiton.store.writer_main``, whose ``EventWriter`` does the rest on another core.

    SqlStore.record -> deque -> feeder thread -> pipe -> writer process -> database
                                reader thread <- pipe <- acks, status (done, failure, dropped)

- The process is started by the first ``begin_run`` or event, so a store that only reads (the
  CLI's ``runs`` and ``show``) never starts one. It takes a few hundred milliseconds to import
  SQLAlchemy; until it says it is ready, the feeder writes batches itself with a
  ``BatchWriter``, exactly as the thread writer would. So ``record`` never waits for the
  process, nothing is less durable meanwhile, and a short run (``atomiton run`` of a few nodes)
  does not wait for it at ``close``: a process that never became ready is killed.
- ``flush`` queues a marker like the thread writer; the process acknowledges it once
  everything before it is committed. Write failures and dropped events are reported back.
- Durability: what was shipped is in the pipe, and the process reads it to the end and commits
  it when the engine dies, even by ``kill -9``; what was queued less than ``interval`` before
  the crash is lost, as with the thread writer.
- Backpressure: the writer process stops reading while far behind, the pipe fills, the feeder
  blocks, the queue grows, and ``SqlStore.record`` waits past its high-water mark.
- ``stop`` ships what is queued, closes the pipe and waits for the process to exit.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, Any

import sqlalchemy as sa

from atomiton.events import Event, to_jsonable
from atomiton.store.artifacts import ArtifactFolder
from atomiton.store.frames import Row, dumps, event_rows, read_frame, to_event, write_frame
from atomiton.store.writer import BatchWriter, FlushMarker

_FRAME_EVENTS = 5_000  # events per frame: bounds the size of one pickle


class WriterFailure(Exception):
    """A failure the writer process reported; the message is the original error's."""


class ProcessWriter:
    def __init__(
        self,
        engine: sa.Engine,
        queue: deque[Event | FlushMarker],
        wake: threading.Event,
        *,
        artifacts: ArtifactFolder | None,
        interval: float = 0.05,
        batch: int = 500,
        busy_timeout_ms: int,
        high_water: int,
    ) -> None:
        self.queue = queue
        self.wake = wake
        self.interval = interval
        self.batch = batch
        self.taken = 0
        self._config: dict[str, Any] = {
            "url": engine.url.render_as_string(hide_password=False),
            "artifacts": None if artifacts is None else str(artifacts.root),
            "spill": 0 if artifacts is None else artifacts.limit,
            "interval": interval,
            "batch": batch,
            "busy_timeout_ms": busy_timeout_ms,
            "high_water": high_water,
            "pid": os.getpid(),
        }
        self._local = BatchWriter(engine, artifacts=artifacts, lock=None)
        self._ready = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self.fallback: str | None = None  # why the process could not take over, if it could not
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._markers: dict[int, FlushMarker] = {}
        self._tokens = itertools.count(1)
        self._failure: BaseException | None = None
        self._dropped: list[tuple[Event, str]] = []
        self._done_there = 0  # queue items the process has written (or dropped)
        self._dropped_here = 0  # events that could not be shipped
        self._ended: str | None = None  # why the process stopped before it was asked to
        self._stopping = False
        self._abort = False
        self._stop = threading.Event()
        self._feeder = threading.Thread(
            target=self._feed, name="atomiton-store-feeder", daemon=True
        )
        self._feeder.start()

    @property
    def pid(self) -> int | None:
        """The writer process's pid, once it is started."""
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._ended is None and self._feeder.is_alive()

    @property
    def idle(self) -> bool:
        done = self._done_there + self._local.done + self._dropped_here
        return not self.queue and self.taken == done

    @property
    def failure(self) -> BaseException | None:
        if self._ended is not None:
            return WriterFailure(self._ended)
        return self._local.failure or self._failure

    @property
    def dropped(self) -> list[tuple[Event, str]]:
        return self._local.dropped + self._dropped

    def prepare(self, timeout: float | None = 0) -> bool:
        """Start the writer process now (a few milliseconds here): events are coming. Wait up
        to ``timeout`` seconds (``None``: for as long as it takes) until it has taken over."""
        self._start()
        if self.fallback is not None:
            return False
        return self._ready.wait(timeout)

    @property
    def counts(self) -> dict[str, int]:
        """Queue items written by the writer process and, while it started, in this one."""
        return {"by_process": self._done_there, "in_process": self._local.done}

    def stop(self, *, abort: bool = False, timeout: float | None = None) -> None:
        """Ship what is queued (unless ``abort``), close the pipe, wait for the process."""
        self._stopping = True
        self._abort = abort
        if abort:
            self._local.abort.set()
        self._stop.set()
        self.wake.set()
        self._feeder.join(timeout)
        process = self._process
        if process is not None:
            if not self._ready.is_set():  # it never took over: nothing to wait for
                process.kill()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout)

    # the feeder thread ----------------------------------------------------------------------

    def _feed(self) -> None:
        """Ship what is queued when woken (a batch is waiting, a run finished, a flush) or
        every ``interval``. While a run streams events (a ship of ``batch`` or more), ships
        are paced to one per ``interval``: each ship takes the GIL from the engine, and at
        three events per node a fast engine fills a batch every few milliseconds, so shipping
        at every batch handed the GIL over dozens of times per second, and each hand-off
        costs the engine milliseconds when the machine's cores are busy. ``stop`` cuts a
        pause short; a flush waits at most one ``interval`` longer meanwhile."""
        queue, wake = self.queue, self.wake
        try:
            while True:
                if len(queue) < self.batch:
                    wake.wait(self.interval)
                wake.clear()
                stopping = self._stop.is_set()
                if queue and not stopping:
                    self._start()
                shipped, began = 0, time.monotonic()
                if queue and not (stopping and self._abort):
                    shipped = self._ship()
                if stopping and (not queue or self._abort):
                    return
                if shipped >= self.batch:
                    self._stop.wait(self.interval - (time.monotonic() - began))
        except OSError as exc:  # the process is gone (a broken pipe) or could not start
            if self._ended is None:
                self._ended = f"the history writer process is gone: {exc}"
        finally:
            self._close_pipe()

    def _ship(self) -> int:
        """Ship (or, until the process is ready, write) what is queued; how many items."""
        queue = self.queue
        count = len(queue)
        self.taken += count  # before the queue empties, so that ``idle`` stays false
        popleft = queue.popleft
        items = [popleft() for _ in range(count)]
        if not self._ready.is_set():  # the process is starting: write them here meanwhile
            self._local.write(items)
            return count
        events: list[Event] = []
        for item in items:
            if isinstance(item, FlushMarker):
                self._send_events(events)
                events = []
                token = next(self._tokens)
                self._markers[token] = item
                self._send(dumps(("flush", token)))
            else:
                events.append(item)
        self._send_events(events)
        return count

    def _send_events(self, events: list[Event]) -> None:
        for start in range(0, len(events), _FRAME_EVENTS):
            chunk = events[start : start + _FRAME_EVENTS]
            try:
                data = dumps(("events", event_rows(chunk)))
            except Exception:  # something in a payload will not pickle: find it
                data = dumps(("events", self._picklable_rows(chunk)))
            self._send(data)

    def _picklable_rows(self, events: list[Event]) -> list[Row]:
        """Each event's row, its payload encoded here if need be; hopeless ones are dropped."""
        rows: list[Row] = []
        for event in events:
            [row] = event_rows([event])
            for attempt in (row, (*row[:5], to_jsonable(row[5]))):
                try:
                    dumps(("events", [attempt]))
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    continue
                rows.append(attempt)
                break
            else:
                self._dropped.append((event, f"cannot send it to the writer process: {reason}"))
                self._dropped_here += 1
        return rows

    def _start(self) -> None:
        """Start the process once; if it cannot start, the feeder goes on writing here."""
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                self._spawn()
                self._started = True

    def _spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the same imports
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "atomiton.store.writer_main"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # Ctrl-C and terminal hang-ups are for the engine
            )
        except OSError as exc:
            self.fallback = f"cannot start the history writer process: {exc}"
            return
        self._reader = threading.Thread(
            target=self._read, name="atomiton-store-reader", daemon=True
        )
        self._reader.start()
        with contextlib.suppress(OSError):  # it died at once: the reader says why
            self._send(dumps(("config", self._config)))

    def _send(self, data: bytes) -> None:
        assert self._process is not None and self._process.stdin is not None
        write_frame(self._process.stdin, data)

    def _close_pipe(self) -> None:
        process = self._process
        if process is None or process.stdin is None or process.stdin.closed:
            return
        try:
            if self._abort:
                self._send(dumps(("abort",)))
            process.stdin.close()
        except OSError:
            pass

    # the reader thread ----------------------------------------------------------------------

    def _read(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        stdout: IO[bytes] = process.stdout
        while True:
            try:
                message = read_frame(stdout)
            except Exception as exc:  # not a frame: the process is broken
                self._ended = f"the history writer process sent garbage: {exc}"
                process.kill()
                break
            if message is None:
                break
            if message[0] == "ready":
                self._ready.set()
            elif message[0] == "ack":
                self._done_there = max(self._done_there, message[2])
                marker = self._markers.pop(message[1], None)
                if marker is not None:
                    marker.finish()
            elif message[0] == "status":
                _, done, failure, dropped = message
                self._dropped.extend((to_event(row), reason) for row, reason in dropped)
                self._failure = None if failure is None else WriterFailure(failure)
                self._done_there = max(self._done_there, done)
        code = process.wait()
        stdout.close()
        if self._stopping or self._ended is not None:
            return
        gone = f"the history writer process (pid {process.pid}) exited with code {code}"
        if self._ready.is_set():
            self._ended = gone
        else:  # it never took over: the feeder goes on writing here
            self.fallback = f"{gone} before it was ready; history is written in this process"
