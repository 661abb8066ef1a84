"""``atomiton serve``: the engine server for the Atomiton editor, the web page and RemoteEngine.

Registered in ``cli/app.py`` as ``app.command("serve")(serve)``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import platformdirs
import typer

from atomiton.cli.engine import make_engine
from atomiton.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerConfig,
    ServerConfigError,
    create_app,
    default_token_path,
    load_or_create_token,
)
from atomiton.server.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_MESSAGE_BYTES, is_loopback
from atomiton.server.launch import bind_socket, uvicorn_server


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = DEFAULT_HOST,
    port: Annotated[
        int,
        typer.Option("--port", min=0, help="Port (3001: the Atomiton client's default; 0: any)."),
    ] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="ATOMITON_TOKEN",
            help="The API token (default: read or create the token file).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="Where the token is kept (mode 0600).")
    ] = None,
    flows_dir: Annotated[
        Path | None,
        typer.Option("--flows-dir", help="Folder of stored flows (default: user data dir)."),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", help="Also allow this browser Origin (repeatable)."),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Also allow this Host name (repeatable)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="ATOMITON_DB", help="Run history database URL or file."),
    ] = None,
    nodes: Annotated[
        list[str] | None,
        typer.Option("--nodes", help="A .py file, module, node.yaml or folder of nodes to add."),
    ] = None,
    tls_certfile: Annotated[
        Path | None, typer.Option("--tls-certfile", help="TLS certificate (PEM).")
    ] = None,
    tls_keyfile: Annotated[
        Path | None, typer.Option("--tls-keyfile", help="TLS key (PEM).")
    ] = None,
    allow_insecure_remote: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-remote",
            help="Allow a non-loopback address without TLS (trusted networks only).",
        ),
    ] = False,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1024, help="Largest request body.")
    ] = DEFAULT_MAX_BODY_BYTES,
    max_message_bytes: Annotated[
        int, typer.Option("--max-message-bytes", min=1024, help="Largest WebSocket message.")
    ] = DEFAULT_MAX_MESSAGE_BYTES,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Most nodes running at once.")
    ] = None,
    engine_kind: Annotated[
        str, typer.Option("--engine", help="Where nodes run: 'local' or 'ray'.")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", envvar="RAY_ADDRESS", help="The Ray cluster to join."),
    ] = None,
) -> None:
    """Serve the engine to the Atomiton editor (ws://localhost:3001), a web page and --server."""
    if (tls_certfile is None) != (tls_keyfile is None):
        raise typer.BadParameter("give both --tls-certfile and --tls-keyfile, or neither")
    token_path = token_file or default_token_path()
    where = "from --token / $ATOMITON_TOKEN" if token else f"kept in {token_path}"
    token = token or load_or_create_token(token_path)
    try:
        config = ServerConfig(
            token=token,
            host=host,
            port=port,
            flows_dir=flows_dir or Path(platformdirs.user_data_dir("atomiton")) / "flows",
            allowed_origins=tuple(allow_origin or ()),
            allowed_hosts=tuple(allow_host or ()),
            max_body_bytes=max_body_bytes,
            max_message_bytes=max_message_bytes,
            tls=tls_certfile is not None,
            allow_insecure_remote=allow_insecure_remote,
        )
    except ServerConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = make_engine(
        engine_kind, nodes=nodes or [], db=db, concurrency=concurrency, ray_address=ray_address
    )
    sock = bind_socket(host, port)
    real_port = sock.getsockname()[1]
    scheme = "https" if config.tls else "http"
    shown = f"[{host}]" if ":" in host else host
    base = f"{scheme}://{shown}:{real_port}"
    lines = [
        f"atomiton serve: listening on {base}",
        f"  web page:         {base}/#token={token}",
        f"  native API:       {base}/api/v1 (Authorization: Bearer <token>)",
        f"  token:            {token} ({where})",
        f"  Atomiton client:  {'wss' if config.tls else 'ws'}://{shown}:{real_port}/"
        + (" (loopback origins only)" if is_loopback(host) else " (needs ?token=)"),
        f"  flows:            {config.flows_dir}",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
    server = uvicorn_server(
        create_app(config, engine), config, tls_certfile=tls_certfile, tls_keyfile=tls_keyfile
    )
    server.run(sockets=[sock])
