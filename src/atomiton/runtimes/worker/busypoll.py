"""Busy polling: the engine spins briefly for a worker's answer, a worker for its next request.

A warm call to a worker is two pipe writes, each of which wakes a process that sleeps. On a
virtual machine a wake-up of a process on another vCPU goes through the hypervisor (an
inter-processor interrupt and, when the vCPU has halted, the host scheduling it again): on the
2-core Firecracker VM this project is measured on, it costs ~20 µs, so a round trip through
``cat`` takes ~46 µs across vCPUs against ~5 µs on one, and which one a run gets is the kernel's
placement, not the code's. If the waiting side is still running when the answer lands, the
answer needs no wake-up at all.

So the loops the engine creates (:func:`new_event_loop`: ``atomiton run``, ``atomiton serve``,
:func:`atomiton.run`, the benchmarks) use :class:`BusyPollSelector`. Each worker request marks
an answer as due for the next ``ATOMITON_WORKER_SPIN_US`` microseconds (default 100); while one
is due and the loop has nothing left to run, the loop polls its file descriptors without
blocking, yielding the CPU between polls so that a worker sharing this vCPU runs first, and only
then sleeps as usual. This is the spin-then-park of adaptive mutexes and of Linux's network
busy polling, applied to the worker pipes:

- it never delays ready work: the loop spins only when it would otherwise block;
- it costs at most one window of CPU per worker request, however long the call then takes,
  and nothing while no call is out;
- ``ATOMITON_WORKER_SPIN_US=0`` turns it off; a loop the engine did not create (your own
  ``asyncio.run``) works exactly as before, without the spin.

On Linux the task that sent the request spins first, in place (:class:`AnswerPoller`), so that
the answer is read in the same task step instead of two turns of the loop later; it gives way
to the loop at the first sign of anything else to do.

The workers spin too, on the other leg: after answering, a worker polls its stdin for the next
request for up to the same window before it blocks (:class:`IdleSpin` here for the Python
worker; the Node.js worker and the Go SDK do the same), so back-to-back calls find it awake.
A worker's spin does not yield the CPU (Node.js cannot), so it backs off where spinning does not
pay: a window that ends with no request (calls far apart), or with one that came only after the
scheduler took the CPU from the worker (the sign of sharing a vCPU with the engine, which cannot
send while the worker spins), doubles a back-off: the next 1, 3, 7 ... 255 waits skip the
spin. A request that arrives during a spin takes one step off it (one there already changes
nothing), and a wait more than 10 ms after the previous one starts afresh, so a burst of calls
after a pause polls from its first call. bench/results/workers.md measures the round trip with
and without.
"""

from __future__ import annotations

import asyncio
import os
import resource
import select
import selectors
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

SPIN_ENV = "ATOMITON_WORKER_SPIN_US"
DEFAULT_SPIN_US = 100.0

T = TypeVar("T")

_yield = getattr(os, "sched_yield", lambda: None)


class BusyPollSelector(selectors.DefaultSelector):
    """The platform's selector, spinning before it blocks while an answer is due."""

    def __init__(self, spin_s: float) -> None:
        super().__init__()
        self.spin_s = spin_s
        self.spin_until = 0.0
        """``time.perf_counter()`` until which an answer is due and the loop may spin."""

    def expect_answer(self) -> None:
        """A request just went to a worker: spin for its answer for up to ``spin_s``."""
        until = time.perf_counter() + self.spin_s
        if until > self.spin_until:
            self.spin_until = until

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            clock = time.perf_counter
            start = clock()
            end = self.spin_until if timeout is None else min(self.spin_until, start + timeout)
            if start < end:
                now = start
                while now < end:
                    ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
                    if ready:
                        return ready
                    _yield()
                    now = clock()
                if timeout is not None:
                    timeout = max(0.0, timeout - (now - start))
        result: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        return result


_THIS_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)  # Linux has it


def _preemptions() -> int:
    """How often the scheduler has taken the CPU from this thread (involuntary switches)."""
    return resource.getrusage(_THIS_THREAD).ru_nivcsw


class IdleSpin:
    """A worker's wait for its next request: poll ``fd`` for up to ``spin_s`` before blocking.

    Call :meth:`wait` when the worker has answered and is about to block reading ``fd``; it
    returns once ``fd`` is readable or the window has passed (the caller then reads as usual).
    """

    MAX_BACKOFF = 8
    """The back-off stops doubling here: at worst, one wait in 2**8 spins."""
    FRESH_AFTER_S = 0.01
    """A wait this long after the previous one starts afresh, with no back-off: after a pause or
    a long call one window costs little next to it, and the next burst of calls should not
    inherit the back-off of the last."""

    def __init__(self, fd: int, spin_s: float) -> None:
        self.spin_s = spin_s
        self.skip = 0
        """Waits left to block at once (the back-off)."""
        self.misses = 0
        """Windows that did not pay, less those that did (0 to ``MAX_BACKOFF``)."""
        self._last = 0.0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def wait(self) -> None:
        """Return once ``fd`` is readable or the window has passed (at once while backing off)."""
        if self.spin_s <= 0:
            return
        poll, clock = self._poll.poll, time.perf_counter
        now = clock()
        if now - self._last > self.FRESH_AFTER_S:
            self.misses = self.skip = 0
        self._last = now
        if self.skip:
            self.skip -= 1
            return
        if poll(0):
            return  # the request was there already: this says nothing about spinning
        preempted = _preemptions()
        end = clock() + self.spin_s
        while not poll(0):
            if clock() >= end:
                break
        else:
            if _preemptions() == preempted:
                self.misses = max(0, self.misses - 1)
                return
        self.misses = min(self.misses + 1, self.MAX_BACKOFF)
        self.skip = (1 << self.misses) - 1


def spin_seconds() -> float:
    """The spin window from ``ATOMITON_WORKER_SPIN_US``; a clear error if it is not a number."""
    raw = os.environ.get(SPIN_ENV, "").strip()
    if not raw:
        return DEFAULT_SPIN_US / 1e6
    try:
        micros = float(raw)
    except ValueError:
        raise ValueError(
            f"{SPIN_ENV}={raw!r} is not a number: set it to the microseconds the engine may "
            f"spin waiting for a worker's answer (default {DEFAULT_SPIN_US:g}, 0 turns it off)"
        ) from None
    return max(0.0, micros) / 1e6


class BusyPollLoop(asyncio.SelectorEventLoop):
    """The engine's loop: a :class:`BusyPollSelector`, and :meth:`answer_poller` for a task
    that would rather wait for its worker's answer in place than through a loop turn."""

    def __init__(self, selector: BusyPollSelector) -> None:
        super().__init__(selector)
        self.busy_selector = selector

    def answer_poller(self, fd: int) -> AnswerPoller | None:
        """An :class:`AnswerPoller` for ``fd`` (a worker's stdout), or None where polling in
        place is off: a spin window of 0, or a platform other than Linux."""
        if self.busy_selector.spin_s <= 0 or not sys.platform.startswith("linux"):
            return None
        return AnswerPoller(self, fd)

    def has_other_work(self) -> bool:
        """Whether a callback is ready to run, or a timer is due within the answer window."""
        if self._ready:  # type: ignore[attr-defined]  # asyncio's queue of ready callbacks
            return True
        timers: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        return bool(timers) and timers[0].when() - self.time() < self.busy_selector.spin_s


class AnswerPoller:
    """Waits for a worker's answer inside the task that asked, without a turn of the loop.

    Spinning in the selector saves the wake-up, but the answer still takes two turns of the
    loop: one runs the pipe's reader callback, which resolves a future, the next resumes the
    task; ~4 µs of a ~23 µs warm call. While an answer is due and the loop has nothing else to
    do (no ready callback, no timer due within the window), :meth:`wait` polls the worker's
    stdout and the loop's own selector (readable when any other descriptor the loop watches is)
    in one ``poll(2)``, yielding the CPU between polls as the selector does. It returns True
    once the stdout is readable; False when the window passes or anything else needs the loop,
    and the task then waits as usual. So it never holds up I/O of other tasks, and ready work
    only ever waits for one poll.
    """

    def __init__(self, loop: BusyPollLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)  # first, so a poll sees it before the loop's fd
        self._poll.register(loop.busy_selector.fileno(), select.POLLIN)

    def wait(self) -> bool:
        """Spin until ``fd`` is readable (True) or the window ends or the loop has work (False)."""
        loop, clock = self._loop, time.perf_counter
        end = loop.busy_selector.spin_until
        if clock() >= end or loop.has_other_work():
            return False
        poll, fd = self._poll.poll, self._fd
        while True:
            ready = poll(0)
            if ready:
                return ready[0][0] == fd
            _yield()
            if clock() >= end:
                return False


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An asyncio loop that busy-polls for a while after each worker request.

    Use it as ``asyncio.Runner(loop_factory=new_event_loop)`` or
    ``asyncio.run(main(), loop_factory=...)`` on Python 3.12+.
    """
    return BusyPollLoop(BusyPollSelector(spin_seconds()))


def selector_of(loop: asyncio.AbstractEventLoop) -> BusyPollSelector | None:
    """The busy-polling selector of ``loop``, or None for a loop :func:`new_event_loop` did
    not make."""
    return loop.busy_selector if isinstance(loop, BusyPollLoop) else None


def answer_poller(loop: asyncio.AbstractEventLoop, fd: int) -> AnswerPoller | None:
    """An :class:`AnswerPoller` for ``fd`` on ``loop``, or None where there is none (a loop
    :func:`new_event_loop` did not make, a window of 0, a platform other than Linux)."""
    return loop.answer_poller(fd) if isinstance(loop, BusyPollLoop) else None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a busy-polling loop: how the engine's own entry points run."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
