"""What the out-of-process runtime tests share: a reporter that records, a check that a
worker's whole process group is gone, and one that an idle worker sleeps."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from atomiton.errors import RuntimeUnavailableError


class Recorder:
    def __init__(self) -> None:
        self.progress_calls: list[tuple[float, str]] = []
        self.logs: list[tuple[str, str]] = []
        self.started = asyncio.Event()

    def progress(self, percent: float, message: str = "") -> None:
        self.progress_calls.append((percent, message))
        self.started.set()

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append((level, message))


def live_in_group(pgid: int) -> list[int]:
    """Processes (not zombies) whose process group is ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry))
    return found


async def group_gone(pgid: int, within_s: float = 3.0) -> bool:
    """True once no live process is left in group ``pgid`` (SIGKILLed processes take a moment)."""
    deadline = time.monotonic() + within_s
    while live_in_group(pgid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


SPIN_TEXT = "fast please"
"""An ``ATOMITON_WORKER_SPIN_US`` that is not a number: every worker refuses to start with it."""
SPIN_ERROR = r"ATOMITON_WORKER_SPIN_US=.fast please. is not a number.*0 turns it off"


class Closable(Protocol):
    async def aclose(self) -> None: ...


R = TypeVar("R", bound=Closable)


async def refuses_a_spin_window_that_is_not_a_number(
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[], R],
    first_call: Callable[[R], Awaitable[object]],
) -> None:
    """A runtime made (and its worker started) with ``SPIN_TEXT`` fails with the worker's
    message, which names the variable and how to set it."""
    monkeypatch.setenv("ATOMITON_WORKER_SPIN_US", SPIN_TEXT)
    runtime = make()
    try:
        with pytest.raises(RuntimeUnavailableError, match=SPIN_ERROR):
            await first_call(runtime)
    finally:
        await runtime.aclose()


async def sleeps_once_calls_stop(
    call: Callable[[int], Awaitable[None]], pids: Callable[[], list[int]]
) -> None:
    """Back-to-back calls keep the one worker polling for the next; idle, it sleeps: a worker
    polls for at most a window (100 µs by default) after each answer."""
    for index in range(300):
        await call(index)
    (pid,) = pids()
    await asyncio.sleep(0.02)
    before = cpu_seconds(pid)
    await asyncio.sleep(0.3)
    assert cpu_seconds(pid) - before < 0.03


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, to the nanosecond (Linux ``schedstat``)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks) / 1e9
