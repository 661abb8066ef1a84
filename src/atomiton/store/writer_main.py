"""The history writer process: ``python -m atomiton.store.writer_main``, run by ``ProcessWriter``.

It reads frames (see ``frames``) on stdin and hands the events to an ``EventWriter`` thread,
which encodes them and writes them to the database; acknowledgements and status go back on
stdout (fd 1 is kept for frames; anything printed goes to stderr).

It ends when stdin reaches end of file, after writing everything it has read: the engine
closed the store, or died, even by ``kill -9`` (a pipe delivers what was written before its
writer died). As a safeguard against a pipe held open by a forked grandchild of the engine, it
also ends when its parent process changes. SIGINT is ignored: Ctrl-C reaches the whole process
group of a terminal, and the engine still has the cancellation of its run to record. SIGTERM
writes what was read and exits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from atomiton.events import Event
from atomiton.store.artifacts import ArtifactFolder
from atomiton.store.connect import create_engine, resolve_url
from atomiton.store.frames import dumps, event_rows, read_frame, to_event, write_frame
from atomiton.store.writer import EventWriter, FlushMarker

_ORPHAN_CHECK_S = 0.25


class _WriterProcess:
    def __init__(self, config: dict[str, Any], out: IO[bytes]) -> None:
        self.out = out
        self.out_lock = threading.Lock()
        self.parent: int = config["pid"]
        self.high_water: int = config["high_water"]
        self.engine = create_engine(
            resolve_url(config["url"]), busy_timeout_ms=config["busy_timeout_ms"]
        )
        folder = config["artifacts"]
        self.queue: deque[Event | FlushMarker] = deque()
        self.wake = threading.Event()
        self._reported: tuple[int, str | None] = (0, None)
        self._dropped_sent = 0
        self.writer = EventWriter(
            self.engine,
            self.queue,
            self.wake,
            artifacts=None if folder is None else ArtifactFolder(Path(folder), config["spill"]),
            lock=None,
            interval=config["interval"],
            batch=config["batch"],
            pid=self.parent,
            on_change=self.report,
        )

    def send(self, message: tuple[Any, ...]) -> None:
        data = dumps(message)
        # OSError: the engine is gone; the database still gets everything read
        with self.out_lock, contextlib.suppress(OSError):
            write_frame(self.out, data)

    def report(self) -> None:
        """Tell the engine how far the writer got, why it is failing, and what it dropped."""
        writer = self.writer
        failure = None if writer.failure is None else str(writer.failure)
        dropped = writer.dropped[self._dropped_sent :]
        state = (writer.done, failure)
        if state == self._reported and not dropped:
            return
        self._reported = state
        self._dropped_sent += len(dropped)
        rows = [(event_rows([event])[0], reason) for event, reason in dropped]
        self.send(("status", writer.done, failure, rows))

    def acknowledge(self, token: int) -> None:
        """Everything before flush ``token`` is written: ``done`` counts it all."""
        self.send(("ack", token, self.writer.done))

    def serve(self, stdin: IO[bytes]) -> None:
        """Read frames until end of file."""
        queue, wake, writer = self.queue, self.wake, self.writer
        while True:
            message = read_frame(stdin)
            if message is None:
                return
            tag = message[0]
            if tag == "events":
                queue.extend(map(to_event, message[1]))
                wake.set()
                while len(queue) > self.high_water and writer.alive:  # let the pipe fill up
                    time.sleep(0.005)
            elif tag == "flush":
                queue.append(FlushMarker(functools.partial(self.acknowledge, message[1])))
                wake.set()
            elif tag == "abort":
                writer.stop(abort=True, timeout=0)

    def finish(self) -> None:
        self.writer.stop()
        self.report()
        self.engine.dispose()

    def watch_parent(self) -> None:
        while os.getppid() == self.parent:
            time.sleep(_ORPHAN_CHECK_S)
        time.sleep(_ORPHAN_CHECK_S)  # let the reader take in what the pipe still holds
        self.finish()
        os._exit(0)


def main() -> int:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    stdin = sys.stdin.buffer
    first = read_frame(stdin)
    if first is None or first[0] != "config":
        return 0
    process = _WriterProcess(first[1], out)
    process.send(("ready",))
    threading.Thread(target=process.watch_parent, name="atomiton-parent-watch", daemon=True).start()
    try:
        process.serve(stdin)
    finally:
        process.finish()
    return 0


def _exit_on_term(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
