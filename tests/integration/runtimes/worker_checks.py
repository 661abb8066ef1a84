"""What the out-of-process runtime tests share: a reporter that records, and a check that a
worker's whole process group is gone."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


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
