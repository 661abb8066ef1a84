"""The ``atomiton`` command line: run, validate, nodes, graph, schema, runs, show, serve.

Exit codes: 0 the run succeeded (or the command did its job), 1 the run failed or was
cancelled, 2 invalid input (a Blueprint that does not load or validate, a bad option).
``--json`` prints exactly one JSON document on stdout; everything else goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from atomiton.blueprint import load_blueprint
from atomiton.blueprint.format import blueprint_json_schema
from atomiton.cli.engine import make_engine
from atomiton.cli.graph import to_dot, to_mermaid
from atomiton.cli.progress import ProgressView
from atomiton.cli.render import (
    dump_json,
    print_nodes,
    print_report,
    print_result,
    print_run,
    print_runs,
)
from atomiton.cli.serve import serve
from atomiton.engines import ExecutionEngine, LocalEngine, RunResult, new_run_id
from atomiton.errors import AtomitonError, ValidationError
from atomiton.nodes import NodeRegistry
from atomiton.runtimes.worker import busypoll
from atomiton.store import open_store

app = typer.Typer(
    name="atomiton",
    help="Run Atomiton Blueprints: validated, parallel, multi-runtime, with run history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

NodesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nodes", help="A .py file, module, node.yaml or folder of nodes to add (repeatable)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="ATOMITON_DB",
        help="Run history database URL or file (default: SQLite under the user data directory).",
    ),
]


EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine", help="Where nodes run: 'local' (this process) or 'ray' (a Ray cluster)."
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="The Ray cluster to join (default: start a local Ray).",
    ),
]

ArtifactsOpt = Annotated[
    str | None,
    typer.Option(
        "--artifacts",
        help="Where large values go: a folder, or an fsspec URL (s3://bucket/prefix). With "
        "--engine ray, values over 100 KiB are written there by the worker that made them and "
        "read back by the next (default: $ATOMITON_ARTIFACTS, else Ray's object store); for the "
        "local engine, the folder nodes write files to.",
    ),
]


class Exit2(Exception):
    """Invalid input: print the message, exit 2."""


def main() -> None:
    try:
        app()
    except (AtomitonError, Exit2) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Blueprint file (.flow.yaml or .json).")],
    input: Annotated[
        str | None, typer.Option("--input", help="Run inputs as a JSON object, or @file.json.")
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var", help="Override a variable: NAME=VALUE (VALUE parsed as JSON if it can be)."
        ),
    ] = None,
    nodes: NodesOpt = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Most nodes running at once (default: CPUs, at least 4)."
        ),
    ] = None,
    continue_on_error: Annotated[
        bool,
        typer.Option(
            "--continue-on-error", help="Let independent branches finish after a failure."
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="ATOMITON_SERVER",
            help="Run on an 'atomiton serve' server (its URL) instead of in this process.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="ATOMITON_TOKEN",
            help="The server's token (default: this user's token file).",
        ),
    ] = None,
    engine_kind: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Run a Blueprint: live progress, then its outputs and a summary."""
    inputs = _parse_input(input)
    variables = _parse_vars(var or [])
    blueprint = load_blueprint(file)
    engine = _engine(
        server, token, nodes or [], db, concurrency, engine_kind, ray_address, artifacts
    )
    on_error = "continue" if continue_on_error else None
    result = busypoll.run(_run(engine, blueprint, inputs, variables, on_error, as_json))
    if as_json:
        print(dump_json(result.to_dict()))
    else:
        print_result(err, result)
    raise typer.Exit(0 if result.ok else 1)


def _engine(
    server: str | None,
    token: str | None,
    nodes: list[str],
    db: str | None,
    concurrency: int | None,
    kind: str = "local",
    ray_address: str | None = None,
    artifacts: str | None = None,
) -> ExecutionEngine:
    """A LocalEngine or RayEngine, or a RemoteEngine for --server (same results, same output)."""
    if server is None:
        return make_engine(
            kind,
            nodes=nodes,
            db=db,
            concurrency=concurrency,
            ray_address=ray_address,
            artifacts=artifacts,
        )
    if artifacts is not None:
        raise Exit2(
            "--artifacts sets where this process's engine keeps large values; with --server "
            "the server's engine decides (ATOMITON_ARTIFACTS where it runs)"
        )
    from atomiton.engines.remote import RemoteEngine
    from atomiton.server import default_token_path

    if token is None:
        path = default_token_path()
        if not path.exists():
            raise Exit2(
                f"--server needs the server's token: pass --token or set ATOMITON_TOKEN "
                f"(there is no token file at {path})"
            )
        token = path.read_text(encoding="utf-8").strip()
    return RemoteEngine(server, token=token)


async def _run(
    engine: ExecutionEngine,
    blueprint: Any,
    inputs: dict[str, Any],
    variables: dict[str, Any],
    on_error: str | None,
    as_json: bool,
) -> RunResult:
    run_id = new_run_id()
    loop = asyncio.get_running_loop()
    interrupted = 0

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted > 1:
            err.print("[red]interrupted twice: stopping now[/red]")
            raise SystemExit(130)
        err.print("[yellow]cancelling the run (Ctrl-C again to stop at once)[/yellow]")
        engine.cancel(run_id)

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    view = ProgressView(err, live=err.is_terminal)
    if not as_json:
        engine.subscribe(view, run_id=run_id)
    try:
        with view:
            return await engine.execute(
                blueprint, inputs=inputs, variables=variables, run_id=run_id, on_error=on_error
            )
    except ValidationError as exc:
        if as_json:
            print(
                dump_json(
                    {
                        "run_id": None,
                        "status": "invalid",
                        "outputs": {},
                        "nodes": {},
                        "error": {"type": "ValidationError", "message": exc.message},
                        "validation": exc.report.to_dict(),
                    }
                )
            )
        else:
            print_report(err, exc.report, str(blueprint.source or blueprint.id))
        raise typer.Exit(2) from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await engine.aclose()


app.command("serve")(serve)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Blueprint file.")],
    nodes: NodesOpt = None,
    as_json: JsonOpt = False,
    input: Annotated[str | None, typer.Option("--input", help="Run inputs (JSON).")] = None,
) -> None:
    """Check a Blueprint without running it; every problem in one report. Exit 2 if invalid."""
    engine = LocalEngine(registry=NodeRegistry.default(nodes or []), store=None)
    report = engine.validate(load_blueprint(file), inputs=_parse_input(input))
    if as_json:
        print(dump_json(report.to_dict()))
    else:
        print_report(out, report, str(file))
    raise typer.Exit(0 if report.ok else 2)


@app.command("nodes")
def list_nodes(nodes: NodesOpt = None, as_json: JsonOpt = False) -> None:
    """List every node type available, with its ports and parameters (--json: with schemas)."""
    registry = NodeRegistry.default(nodes or [])
    if as_json:
        print(dump_json([d.to_dict() for d in registry]))
    else:
        print_nodes(out, registry)


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="Blueprint file.")],
    fmt: Annotated[str, typer.Option("--format", help="mermaid or dot.")] = "mermaid",
) -> None:
    """Print a Blueprint's graph as Mermaid (default) or Graphviz DOT text."""
    blueprint = load_blueprint(file)
    if fmt not in ("mermaid", "dot"):
        raise Exit2(f"--format {fmt!r}: use 'mermaid' or 'dot'")
    print(to_mermaid(blueprint) if fmt == "mermaid" else to_dot(blueprint), end="")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the Blueprint file format."""
    print(json.dumps(blueprint_json_schema(), indent=2))


@app.command()
def runs(
    db: DbOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    status: Annotated[str | None, typer.Option("--status")] = None,
) -> None:
    """List recent runs from the history."""
    store = open_store(db)
    try:
        store.mark_interrupted()
        found = store.list_runs(limit=limit, status=status)
    finally:
        store.close()
    if as_json:
        print(dump_json([r.to_dict() for r in found]))
    else:
        print_runs(out, found)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="A run id, or a unique prefix of one.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: status, every node's state, outputs and errors."""
    store = open_store(db)
    try:
        record = store.get_run(run_id).to_dict()
    finally:
        store.close()
    if as_json:
        print(dump_json(record))
    else:
        print_run(out, record)


def _parse_input(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise Exit2(f"--input {text}: cannot read: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Exit2(f"--input is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise Exit2('--input must be a JSON object: {"port": value, ...}')
    return value


def _parse_vars(items: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise Exit2(f"--var {item!r}: expected NAME=VALUE")
        try:
            variables[name] = json.loads(raw)
        except json.JSONDecodeError:
            variables[name] = raw
    return variables
