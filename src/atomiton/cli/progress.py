"""Live per-node progress on a terminal (rich), or one line per finished node elsewhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from atomiton.events import Event, EventKind

MAX_ROWS = 30

_STYLE = {
    "pending": "dim",
    "queued": "cyan",
    "running": "yellow",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim",
    "abandoned": "dim red",
    "cancelled": "red",
}
_STATUS = {
    EventKind.NODE_QUEUED: "queued",
    EventKind.NODE_STARTED: "running",
    EventKind.NODE_RETRYING: "retrying",
    EventKind.NODE_SUCCEEDED: "succeeded",
    EventKind.NODE_FAILED: "failed",
    EventKind.NODE_SKIPPED: "skipped",
    EventKind.NODE_ABANDONED: "abandoned",
    EventKind.NODE_CANCELLED: "cancelled",
}


@dataclass(slots=True)
class _Row:
    status: str = "pending"
    percent: float = 0.0
    message: str = ""
    started: float | None = None
    duration_ms: float | None = None
    attempt: int = 0
    detail: str = ""


@dataclass
class ProgressView:
    """Listens to a run's events and draws them; ``live`` picks the terminal table."""

    console: Console
    live: bool
    rows: dict[str, _Row] = field(default_factory=dict)
    _live: Live | None = None

    def __enter__(self) -> ProgressView:
        if self.live:
            self._live = Live(
                console=self.console, refresh_per_second=8, get_renderable=self._render
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        if event.kind is EventKind.RUN_STARTED:
            for node_id in event.payload.get("nodes", []):
                self.rows.setdefault(node_id, _Row())
            for warning in event.payload.get("warnings", []):
                where = f"node '{warning.get('node_id')}': " if warning.get("node_id") else ""
                hint = f" - {warning['hint']}" if warning.get("hint") else ""
                self.console.print(
                    Text(
                        f"warning [{warning.get('code')}] {where}{warning.get('message')}{hint}",
                        "yellow",
                    )
                )
            return
        if event.node_id is None:
            return
        row = self.rows.setdefault(event.node_id, _Row())
        payload = event.payload
        status = _STATUS.get(event.kind)
        if status is not None:
            row.status = status
        if event.kind is EventKind.NODE_STARTED:
            row.started = time.monotonic()
            row.attempt = int(payload.get("attempt", 1))
            row.percent, row.message = 0.0, ""
        elif event.kind is EventKind.NODE_PROGRESS:
            row.percent = float(payload.get("percent", 0))
            row.message = str(payload.get("message", ""))
        elif event.kind is EventKind.NODE_SUCCEEDED:
            row.percent, row.duration_ms = 100.0, payload.get("duration_ms")
        elif event.kind is EventKind.NODE_FAILED:
            row.duration_ms = payload.get("duration_ms")
            row.detail = str((payload.get("error") or {}).get("message", ""))[:120]
        elif event.kind is EventKind.NODE_RETRYING:
            row.detail = f"retry {payload.get('attempt')} in {payload.get('delay_s')} s"
        elif event.kind in (
            EventKind.NODE_SKIPPED,
            EventKind.NODE_ABANDONED,
            EventKind.NODE_CANCELLED,
        ):
            row.detail = str(payload.get("reason", ""))
        elif event.kind is EventKind.NODE_LOG and not self.live:
            self.console.print(
                f"[dim]{event.node_id}: {payload.get('message')}[/dim]", highlight=False
            )
        if self._live is None and event.kind.is_node_final:
            self._line(event.node_id, row)

    def _line(self, node_id: str, row: _Row) -> None:
        took = f" in {row.duration_ms:.0f} ms" if row.duration_ms is not None else ""
        detail = f": {row.detail}" if row.detail else ""
        style = _STYLE.get(row.status, "")
        self.console.print(Text.assemble((f"{row.status:>9}", style), f"  {node_id}{took}{detail}"))

    def _render(self) -> Group:
        rows = list(self.rows.items())
        hidden = 0
        if len(rows) > MAX_ROWS:  # big graphs: what is moving or broken first, then counts
            rank = {"running": 0, "retrying": 0, "failed": 1, "queued": 2}
            rows.sort(key=lambda item: rank.get(item[1].status, 3))
            hidden, rows = len(rows) - MAX_ROWS, rows[:MAX_ROWS]
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("node")
        table.add_column("state")
        table.add_column("progress", width=22)
        table.add_column("time", justify="right")
        table.add_column("")
        now = time.monotonic()
        for node_id, row in rows:
            if row.duration_ms is not None:
                took = f"{row.duration_ms / 1000:.2f}s"
            elif row.started is not None and row.status == "running":
                took = f"{now - row.started:.1f}s"
            else:
                took = ""
            bar = (
                ProgressBar(total=100, completed=row.percent, width=20)
                if row.status in ("running", "succeeded")
                else Text("")
            )
            table.add_row(
                node_id,
                Text(row.status, _STYLE.get(row.status, "")),
                bar,
                took,
                row.message if row.status == "running" else row.detail,
            )
        if not hidden:
            return Group(table)
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return Group(table, Text(f"... and {hidden} more nodes ({summary})", "dim"))
