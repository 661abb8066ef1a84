"""Busy polling: the event loop spins briefly before it sleeps while a worker's answer is due.

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

Workers themselves never spin: two spinners sharing one vCPU would each burn their window
waiting for the other. bench/results/workers.md measures the round trip with and without.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import time
import weakref
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


_selectors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BusyPollSelector] = (
    weakref.WeakKeyDictionary()
)


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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An asyncio loop whose selector busy-polls for a while after each worker request.

    Use it as ``asyncio.Runner(loop_factory=new_event_loop)`` or
    ``asyncio.run(main(), loop_factory=...)`` on Python 3.12+.
    """
    selector = BusyPollSelector(spin_seconds())
    loop = asyncio.SelectorEventLoop(selector)
    _selectors[loop] = selector
    return loop


def selector_of(loop: asyncio.AbstractEventLoop) -> BusyPollSelector | None:
    """The busy-polling selector of ``loop``, or None for a loop :func:`new_event_loop` did
    not make."""
    return _selectors.get(loop)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a busy-polling loop: how the engine's own entry points run."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
