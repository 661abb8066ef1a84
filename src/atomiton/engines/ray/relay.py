"""Live progress from Ray tasks: node reports reach the driver while the node runs.

A node's ``ctx.progress`` / ``ctx.log`` inside a Ray task go, besides the call's summary, to a
small async Ray actor, the *relay* (one per driver process and Ray job, named, with no CPU).
Each engine has its own *channel* in it; a worker sends a call's new reports there at most
every :data:`SEND_EVERY_S` (the first at once; a timer sends what a quiet spell left). The
driver long-polls its channel (``drain`` returns when something arrived: no polling loop) and
publishes each report through the call's reporter, so ``node.progress`` events appear while
the task runs.

Exactly the events of an unfused local run, in the same order: a call's reports carry their
position; the driver publishes live only the next ones in sequence, and when the call ends it
replays from its summary whatever live delivery had not published (a report sent late, or
dropped because a channel held :data:`CHANNEL_LIMIT` batches). Reports that arrive after the
call ended are dropped: the summary already carried them. A chain's later nodes (see
:mod:`.fusion`) are not live: their reports are published at their own dispatch, after their
``node.started``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
import uuid
from typing import Any

import ray
import ray.exceptions

from atomiton.nodes.context import Reporter

SEND_EVERY_S = 0.05
CHANNEL_LIMIT = 10_000
CallKey = tuple[str, str, int]
"""(run id, node id, attempt)."""
Batch = tuple[CallKey, int, list[tuple[str, Any, str]]]
"""(call, position of the first report, reports)."""


class Relay:
    """The body of the relay actor: a bounded queue of report batches per channel."""

    def __init__(self) -> None:
        self._queues: dict[str, collections.deque[Batch]] = {}
        self._ready: dict[str, asyncio.Event] = {}

    def _event(self, channel: str) -> asyncio.Event:
        return self._ready.setdefault(channel, asyncio.Event())

    async def push(self, channel: str, batch: Batch) -> None:
        queue = self._queues.setdefault(channel, collections.deque(maxlen=CHANNEL_LIMIT))
        queue.append(batch)
        self._event(channel).set()

    async def drain(self, channel: str) -> list[Batch] | None:
        """Every batch queued on ``channel``, once there is one; None once it is closed."""
        await self._event(channel).wait()
        if channel not in self._ready:
            return None
        self._ready[channel].clear()
        queue = self._queues.pop(channel, None)
        return list(queue) if queue else []

    async def close(self, channel: str) -> None:
        event = self._ready.pop(channel, None)
        self._queues.pop(channel, None)
        if event is not None:
            event.set()


class LiveCall:
    """The driver's side of one call: publishes its live reports in order, then its rest."""

    __slots__ = ("closed", "delivered", "reporter")

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.delivered = 0
        self.closed = False

    def progress(self, percent: float, message: str = "") -> None:
        self.reporter.progress(percent, message)

    def log(self, message: str, level: str = "info") -> None:
        self.reporter.log(message, level)

    def deliver(self, start: int, reports: list[tuple[str, Any, str]]) -> None:
        if self.closed or start != self.delivered:
            return  # after the end, or out of sequence: the summary will carry them
        for kind, first, second in reports:
            if kind == "progress":
                self.reporter.progress(first, second)
            else:
                self.reporter.log(first, second)
        self.delivered += len(reports)

    def finish(self) -> int:
        """Stop live delivery; how many reports were published live."""
        self.closed = True
        return self.delivered


_held: dict[tuple[str, str], Any] = {}
"""This process's relay per (Ray node, job), held so that it lives as long as the job."""


class LiveReports:
    """An engine's channel on the relay: the calls in flight and the loop that drains it."""

    def __init__(self) -> None:
        self.channel = uuid.uuid4().hex
        self.name = ""
        self._calls: dict[CallKey, LiveCall] = {}
        self._actor: Any = None
        self._drainer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Find or create this process's relay (not awaited: it starts while nodes run).
        The handle is kept for the life of the Ray job: an actor whose handles are all gone
        is ended by Ray, under the feet of the next engine."""
        context = ray.get_runtime_context()
        job = context.get_job_id()
        self.name = f"atomiton-relay-{job}"
        key = (context.get_node_id(), job)
        actor = _held.get(key)
        if actor is None:
            options = {"name": self.name, "get_if_exists": True, "num_cpus": 0}
            actor = _held[key] = ray.remote(Relay).options(**options).remote()
        self._actor = actor

    def track(self, key: CallKey, reporter: Reporter) -> LiveCall:
        call = self._calls[key] = LiveCall(reporter)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())
        return call

    def untrack(self, key: CallKey) -> None:
        call = self._calls.pop(key, None)
        if call is not None:
            call.finish()

    async def _drain(self) -> None:
        while self._actor is not None:
            try:
                batches = await self._actor.drain.remote(self.channel)
            except ray.exceptions.RayError:
                return  # the relay is gone (Ray shut down): reports arrive with results
            if batches is None:
                return
            for key, start, reports in batches:
                call = self._calls.get(key)
                if call is not None:
                    call.deliver(start, reports)

    async def aclose(self) -> None:
        actor, self._actor = self._actor, None
        if actor is not None:
            with contextlib.suppress(ray.exceptions.RayError):
                await actor.close.remote(self.channel)
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ray.exceptions.RayError):
                await self._drainer


# -- in the worker ---------------------------------------------------------------------------

_relays: dict[str, Any] = {}


class LiveReporter:
    """A call's reporter in the worker: keeps every report (for the summary) and sends new
    ones to the relay, at most every :data:`SEND_EVERY_S`."""

    __slots__ = (
        "_channel",
        "_closed",
        "_key",
        "_last",
        "_lock",
        "_name",
        "_sent",
        "_timer",
        "reports",
        "spent",
    )

    def __init__(self, name: str, channel: str, key: CallKey) -> None:
        self.reports: list[tuple[str, Any, str]] = []
        self._name = name
        self._channel = channel
        self._key = key
        self._sent = 0
        self._last = 0.0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.spent = 0.0
        """Seconds the node's own thread spent sending (not the node's work)."""

    def progress(self, percent: float, message: str = "") -> None:
        self.reports.append(("progress", percent, message))
        self._send()

    def log(self, message: str, level: str = "info") -> None:
        self.reports.append(("log", message, level))
        self._send()

    def close(self) -> None:
        """The call ended: its summary carries the rest."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _send(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._last + SEND_EVERY_S - now
            if wait <= 0:
                self._flush()
                self.spent += time.monotonic() - now
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._later)
                self._timer.daemon = True
                self._timer.start()

    def _later(self) -> None:
        with self._lock:
            self._timer = None
            self._flush()

    def _flush(self) -> None:
        if self._closed or self._sent >= len(self.reports):
            return
        relay = _relays.get(self._name)
        if relay is None:
            try:
                relay = _relays[self._name] = ray.get_actor(self._name)
            except ValueError:  # no relay (the driver went away): the summary has them
                self._closed = True
                return
        batch: Batch = (self._key, self._sent, self.reports[self._sent :])
        relay.push.remote(self._channel, batch)
        self._sent = len(self.reports)
        self._last = time.monotonic()
