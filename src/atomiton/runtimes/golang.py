"""The ``golang`` runtime: Go nodes served by warm worker processes built from the user's package.

A Go node is a handler registered with the Go SDK (``workers/go``, module ``atomiton.dev/sdk``)
in a ``main`` package; ``runtime.module`` is that package's folder relative to the manifest and
``runtime.handler`` the registered name. Design notes:

- **Build on first use, cached by content.** The key hashes every ``.go`` file of the package's
  module, its ``go.mod``/``go.sum``, the same for each local ``replace`` target (the SDK), and the
  Go version. The binary lands in ``<cache>/go/<key>/``; a build writes a temporary file and
  renames it into place, so concurrent builds of one key (threads or processes) never collide.
- **Offline builds.** ``GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local``: the SDK comes in by a
  ``replace`` directive to a local path, nothing is downloaded.
- **Checked once.** The first call of a package hashes and (maybe) builds it; later calls go
  straight to a warm worker. A package edited while the runtime lives is rebuilt by the next
  runtime (the next ``atomiton run``, or a restarted server).
- **Warm workers.** One :class:`~atomiton.runtimes.worker.supervisor.WorkerPool` per binary does
  the supervision (restart on death, timeouts that kill the process group, cancellation). Workers
  run with ``GOMAXPROCS=1`` unless the environment says otherwise (see :func:`_worker_env`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from atomiton.errors import NodeError, RuntimeUnavailableError
from atomiton.nodes.context import Reporter
from atomiton.nodes.definition import NodeDefinition
from atomiton.runtimes.base import NodeCall, NodeResult
from atomiton.runtimes.caches import default_cache_dir
from atomiton.runtimes.worker.calls import execute
from atomiton.runtimes.worker.supervisor import WorkerPool, WorkerSpec

_BUILD_ENV = {"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
_SKIP_DIRS = {"vendor", "testdata", "node_modules", ".git"}
_REPLACE = re.compile(r"^\s*(?:replace\s+)?\S+(?:\s+\S+)?\s+=>\s+(\.{1,2}/\S*|/\S+)\s*$")
_GO_MISSING = (
    "the golang runtime needs the Go toolchain: 'go' (>= 1.24) is not on PATH; install it from "
    "https://go.dev/dl/ and run scripts/setup"
)


class GoRuntime:
    """Runs ``golang`` nodes on pools of warm Go workers, one pool per built package."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        pool_size: int = 2,
        go: str = "go",
    ) -> None:
        self.cache_dir = (cache_dir or default_cache_dir()) / "go"
        self.pool_size = pool_size
        self.go = go
        self.builds = 0
        """How many ``go build`` runs this runtime did (a cache hit does none)."""
        self._pools: dict[Path, WorkerPool] = {}
        self._binaries: dict[Path, Path] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._go_version: str | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return ("golang",)

    def check(self, definition: NodeDefinition) -> str | None:
        if shutil.which(self.go) is None:
            return _GO_MISSING
        package = _package_dir(definition)
        if not package.is_dir():
            return f"node '{definition.id}': Go package folder {package} does not exist"
        if not any(package.glob("*.go")):
            return f"node '{definition.id}': {package} has no .go files"
        if _module_root(package) is None:
            return f"node '{definition.id}': no go.mod in {package} or a folder above it"
        if not definition.runtime.handler:
            return f"node '{definition.id}': runtime.handler must name a registered Go handler"
        return None

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live Go workers (for tests and diagnostics)."""
        return sorted(pid for pool in self._pools.values() for pid in pool.pids)

    async def start(self) -> None:
        return None

    async def invoke(self, call: NodeCall, reporter: Reporter) -> NodeResult:
        package = _package_dir(call.definition)
        binary = self._binaries.get(package)
        if binary is None:
            problem = self.check(call.definition)
            if problem is not None:
                raise RuntimeUnavailableError(problem, node_id=call.node_id)
            binary = self._binaries[package] = await self.build(package, node_id=call.node_id)
        pool = self._pools.get(binary)
        if pool is None:
            spec = WorkerSpec(
                name=f"Go worker {package.name}",
                argv=(str(binary),),
                cwd=str(package),
                env=_worker_env(),
                hint="check that main() registers handlers and calls sdk.Serve()",
            )
            pool = self._pools[binary] = WorkerPool(spec, size=self.pool_size)
        return await execute(
            pool, call, reporter, module=str(package), handler=call.definition.runtime.handler
        )

    async def build(self, package: Path, *, node_id: str | None = None) -> Path:
        """The worker binary for ``package``, built now unless the cache has it."""
        root = _module_root(package)
        if root is None:
            raise RuntimeUnavailableError(f"no go.mod in {package} or above", node_id=node_id)
        key = _content_key(root, await self._version())
        binary = self.cache_dir / key / package.name
        async with self._locks.setdefault(key, asyncio.Lock()):
            if binary.exists():
                return binary
            binary.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=binary.parent, prefix=".build-")
            os.close(fd)
            target = "./" + package.relative_to(root).as_posix()
            process = await asyncio.create_subprocess_exec(
                self.go, "build", "-o", tmp, target,
                cwd=root,
                env={**os.environ, **_BUILD_ENV},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output, _ = await process.communicate()
            if process.returncode != 0:
                os.unlink(tmp)
                raise NodeError(
                    f"'go build {target}' in {root} failed:\n{output.decode(errors='replace')}",
                    node_id=node_id,
                    error_type="GoBuildError",
                    hint="fix the compile errors above; `go build` in that folder shows the same",
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, binary)
            self.builds += 1
        return binary

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.aclose() for pool in pools))

    async def _version(self) -> str:
        if self._go_version is None:
            process = await asyncio.create_subprocess_exec(
                self.go, "env", "GOVERSION", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await process.communicate()
            self._go_version = out.decode().strip()
        return self._go_version


def _worker_env() -> dict[str, str]:
    """The worker's environment: ours, with ``GOMAXPROCS=1`` unless it is set already.

    A worker runs one call at a time (the pool gives parallelism), and a Go runtime with one
    processor answers on the thread that read the request: with more, the call and its reply
    hop between threads and vCPUs, and a warm round trip costs ~90 µs instead of ~45-65 µs
    (bench/results/workers.md). A node that parallelises inside one call can have more by
    setting ``GOMAXPROCS`` in the engine's environment.
    """
    env = dict(os.environ)
    env.setdefault("GOMAXPROCS", "1")
    return env


def _package_dir(definition: NodeDefinition) -> Path:
    runtime = definition.runtime
    package = os.path.join(runtime.path or ".", runtime.module or ".")
    # resolve() costs an lstat per path part; cache it (keyed on cwd while the path is relative).
    return _resolve_dir(package, "" if os.path.isabs(package) else os.getcwd())


@functools.lru_cache(maxsize=1024)
def _resolve_dir(package: str, cwd: str) -> Path:
    return Path(cwd, package).resolve()


def _module_root(package: Path) -> Path | None:
    for folder in (package, *package.parents):
        if (folder / "go.mod").is_file():
            return folder
    return None


def _content_key(root: Path, go_version: str) -> str:
    """A hash of the module's sources and of every local module it replaces (the SDK)."""
    digest = hashlib.sha256(go_version.encode())
    seen: set[Path] = set()
    pending = [root]
    while pending:
        module = pending.pop()
        if module in seen or not (module / "go.mod").is_file():
            continue
        seen.add(module)
        for path in sorted(_module_files(module)):
            digest.update(str(path.relative_to(module)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        for line in (module / "go.mod").read_text(encoding="utf-8").splitlines():
            match = _REPLACE.match(line)
            if match:
                pending.append((module / match.group(1)).resolve())
    return digest.hexdigest()[:24]


def _module_files(module: Path) -> list[Path]:
    files = [module / name for name in ("go.mod", "go.sum") if (module / name).is_file()]
    for folder, dirs, names in os.walk(module):
        here = Path(folder)
        dirs[:] = [
            d
            for d in dirs
            if d not in _SKIP_DIRS
            and not d.startswith((".", "_"))
            and not (here / d / "go.mod").exists()
        ]
        files += [here / n for n in names if n.endswith(".go") and not n.endswith("_test.go")]
    return files


__all__ = ["GoRuntime"]
