"""A real PostgreSQL server for ``@pytest.mark.toolchain("postgres")`` tests, started on demand.

When such a test is about to run and ``ATOMITON_TEST_POSTGRES_URL`` is unset, this plugin
starts a throwaway cluster (Debian's postgresql, installed by scripts/setup.d/70-postgres.sh):
``initdb`` into a temporary folder, the server on a free loopback port with a private socket
folder, trust authentication, no fsync. It sets the variable (which the toolchain marker
checks) and stops the server and removes the folder when the session ends. As root, the
server runs as the ``postgres`` user (PostgreSQL refuses to run as root). Where no PostgreSQL
is installed nothing is started and the marker skips (or, in CI, fails) the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

URL_VAR = "ATOMITON_TEST_POSTGRES_URL"
_server_key = pytest.StashKey["PostgresServer | None"]()


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout, else PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="atomiton-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "atomiton", "-A", "trust", "--no-sync")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        self.url = f"postgresql://atomiton@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    wants = any("postgres" in m.args for m in item.iter_markers(name="toolchain"))
    if not wants or os.environ.get(URL_VAR):
        return
    config = item.config
    if _server_key not in config.stash:
        bindir = postgres_bindir()
        config.stash[_server_key] = PostgresServer(bindir) if bindir else None
    server = config.stash[_server_key]
    if server is not None:
        os.environ[URL_VAR] = server.url


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_server_key, None)
    if server is not None:
        server.stop()
        if os.environ.get(URL_VAR) == server.url:
            del os.environ[URL_VAR]
