"""How the CLI prints results, validation reports, node lists and run history."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from atomiton.engines import RunResult
from atomiton.events.codec import to_jsonable
from atomiton.nodes import NodeDefinition
from atomiton.validate import Report

_STATUS_STYLE = {
    "succeeded": "bold green",
    "failed": "bold red",
    "cancelled": "bold red",
    "interrupted": "bold yellow",
    "running": "yellow",
}


def dump_json(data: Any) -> str:
    return json.dumps(to_jsonable(data), indent=2, ensure_ascii=False)


def print_report(console: Console, report: Report, source: str) -> None:
    for issue in report.errors:
        console.print(Text.assemble(("error ", "bold red"), str(issue)), highlight=False)
    for issue in report.warnings:
        console.print(Text.assemble(("warning ", "yellow"), str(issue)), highlight=False)
    if report.ok:
        console.print(
            f"[green]{source} is valid[/green]"
            + (f" ({len(report.warnings)} warning(s))" if report.warnings else "")
        )
    else:
        console.print(f"[red]{source} has {len(report.errors)} problem(s)[/red]")


def print_result(console: Console, result: RunResult) -> None:
    style = _STATUS_STYLE.get(result.status, "")
    if result.outputs:
        console.print("[bold]outputs[/bold]")
        for node_id, ports in result.outputs.items():
            for port, value in ports.items():
                console.print(f"  {node_id}.{port} = {_short(value)}", highlight=False)
    counts: dict[str, int] = {}
    for record in result.nodes.values():
        counts[record.status] = counts.get(record.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    console.print(
        Text.assemble(
            (result.status, style),
            f"  run {result.run_id} in {result.duration_ms / 1000:.2f} s ({summary})",
        )
    )
    if result.error:
        where = result.error.get("node_id")
        console.print(
            Text(
                f"error{f' in {where}' if where else ''}: "
                f"{result.error.get('message', result.error)}",
                "red",
            )
        )


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else dump_json(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def print_nodes(console: Console, definitions: Iterable[NodeDefinition]) -> None:
    table = Table(header_style="bold")
    for col in ("type", "runtime", "inputs", "outputs", "parameters", "description"):
        table.add_column(col)
    for d in definitions:
        table.add_row(
            d.id,
            d.runtime.language,
            ", ".join(_port(p.name, p.required) for p in d.inputs),
            ", ".join(d.output_names),
            ", ".join(_port(p.name, p.required) for p in d.parameters),
            d.description.split("\n")[0][:60],
        )
    console.print(table)


def _port(name: str, required: bool) -> str:
    return f"{name}*" if required else name


def print_runs(console: Console, runs: Iterable[Any]) -> None:
    table = Table(header_style="bold")
    for col in ("run id", "status", "blueprint", "started", "duration"):
        table.add_column(col)
    for run in runs:
        started = dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
        took = f"{run.duration_ms / 1000:.2f}s" if run.duration_ms is not None else ""
        table.add_row(
            run.run_id,
            Text(run.status, _STATUS_STYLE.get(run.status, "")),
            run.blueprint_name or run.blueprint_id,
            started,
            took,
        )
    console.print(table)


def print_run(console: Console, record: Mapping[str, Any]) -> None:
    status = str(record.get("status"))
    console.print(
        Text.assemble(
            ("run ", "bold"),
            str(record.get("run_id")),
            "  ",
            (status, _STATUS_STYLE.get(status, "")),
        )
    )
    console.print(
        f"blueprint: {record.get('blueprint_name') or record.get('blueprint_id')}"
        f"  source: {record.get('source') or '-'}"
    )
    table = Table(header_style="bold")
    for col in ("node", "status", "attempts", "duration", "error / outputs"):
        table.add_column(col)
    for node_id, node in (record.get("nodes") or {}).items():
        took = node.get("duration_ms")
        detail = (
            (node.get("error") or {}).get("message")
            if node.get("error")
            else _short(node.get("outputs"), 80)
            if node.get("outputs") is not None
            else ""
        )
        table.add_row(
            node_id,
            Text(str(node.get("status")), _STATUS_STYLE.get(str(node.get("status")), "")),
            str(node.get("attempts", "")),
            f"{took:.1f} ms" if isinstance(took, int | float) else "",
            detail or "",
        )
    console.print(table)
    if record.get("error"):
        console.print(Text(f"error: {record['error'].get('message')}", "red"))
