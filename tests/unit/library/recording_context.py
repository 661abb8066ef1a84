"""A NodeContext test double that records what a node reports (used by the library tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RecordingContext:
    run_id: str = "run-1"
    node_id: str = "node-1"
    attempt: int = 1
    artifact_dir: Path = Path(".")
    variables: Mapping[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    logs: list[tuple[str, str]] = field(default_factory=list)
    progress_reports: list[tuple[float, str]] = field(default_factory=list)

    def progress(self, percent: float, message: str = "") -> None:
        self.progress_reports.append((percent, message))

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append((level, message))

    def messages(self, level: str) -> list[str]:
        return [m for lvl, m in self.logs if lvl == level]
