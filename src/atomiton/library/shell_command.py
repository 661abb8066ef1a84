"""``shell-command``: run a program with arguments, never through a shell.

The program and its arguments go to the operating system as a list, so ``;``, ``|`` or ``$(...)``
in an argument are plain text. The child starts in its own session (process group); a timeout or
a cancelled run kills that whole group, so grandchildren die too. As in Atomiton, a non-zero exit
does not fail the node (``success`` is false); a program that cannot start does. Unlike Atomiton,
``stdin`` is written to the program, and a process killed by a signal reports ``exitCode`` as the
negative signal number (Atomiton reports 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import time
from pathlib import Path
from typing import Any, TypedDict

from atomiton.library._compat import node_failure, primary
from atomiton.nodes import NodeContext, node

_TYPE = "shell-command"
_UNSAFE_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH")
_GRACE_S = 2.0
"""How long the group gets after SIGTERM before SIGKILL."""


class ShellCommandOutput(TypedDict, total=False):
    stdout: str
    stderr: str
    exitCode: int
    command: str
    duration: int
    success: bool
    timedOut: bool


@node(id="shell-command", name="Shell Command", category="system", icon="terminal")
async def shell_command(
    input: Any = None,
    program: str | None = None,
    args: list[str] | str | None = None,
    workingDirectory: str | None = None,
    environment: dict[str, str] | None = None,
    stdin: str | None = None,
    *,
    captureOutput: bool = True,
    timeout: int = 30000,
    ctx: NodeContext,
) -> ShellCommandOutput:
    """Run a program with arguments (no shell), with stdin, a timeout and captured output."""
    argv = _argv(program, args)
    cwd = _working_directory(workingDirectory)
    env = {k: v for k, v in os.environ.items() if k not in _UNSAFE_ENV}
    env.update({str(k): str(v) for k, v in (environment or {}).items()})
    feed = stdin if stdin is not None else _stdin_from(primary(input))
    command = shlex.join(argv)
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if feed is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise node_failure(
            _TYPE,
            f"cannot start '{argv[0]}': {exc.strerror or exc}",
            hint="check the program name and that it is on PATH (no shell is used: pass the "
            "arguments in 'args', not in 'program')",
        ) from None
    ctx.log(f"started {command} (pid {process.pid})", "debug")
    out: list[bytes] = []
    err: list[bytes] = []
    io = asyncio.ensure_future(
        asyncio.gather(
            _drain(process.stdout, out),
            _drain(process.stderr, err),
            _feed(process.stdin, feed),
            process.wait(),
        )
    )
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(io), timeout=timeout / 1000 if timeout > 0 else None)
    except TimeoutError:
        timed_out = True
        ctx.log(f"{command} passed its timeout of {timeout} ms; killing its process group")
        await _kill_group(process, io)
    except BaseException:
        await _kill_group(process, io)
        raise
    code = process.returncode if process.returncode is not None else -signal.SIGKILL
    return {
        "stdout": b"".join(out).decode(errors="replace") if captureOutput else "",
        "stderr": b"".join(err).decode(errors="replace") if captureOutput else "",
        "exitCode": code,
        "command": command,
        "duration": round((time.monotonic() - started) * 1000),
        "success": code == 0 and not timed_out,
        "timedOut": timed_out,
    }


def _argv(program: str | None, args: list[str] | str | None) -> list[str]:
    if not program or not program.strip():
        raise node_failure(
            _TYPE,
            "'program' is required",
            hint="set 'program' to the executable (e.g. ls) and 'args' to its arguments",
        )
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else []
        except json.JSONDecodeError:
            raise node_failure(
                _TYPE,
                f"'args' is a string but not a JSON array: {args!r}",
                hint='give args as a list, e.g. ["-l", "/tmp"]',
            ) from None
    if not isinstance(args, list | None):
        raise node_failure(_TYPE, f"'args' must be a list of strings, got {type(args).__name__}")
    return [program, *(str(a) for a in args or [])]


def _working_directory(folder: str | None) -> str | None:
    if folder is None:
        return None
    path = Path(folder)
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        raise node_failure(
            _TYPE,
            f"Invalid or inaccessible working directory: {folder}",
            hint="give an existing folder the engine may enter",
        )
    return str(path)


def _stdin_from(value: Any) -> str | None:
    """A string (or bytes) arriving on ``input`` is written to the program's stdin."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


async def _drain(stream: asyncio.StreamReader | None, sink: list[bytes]) -> None:
    """Collect a pipe chunk by chunk, so what was read survives a kill."""
    while stream is not None and (chunk := await stream.read(65536)):
        sink.append(chunk)


async def _feed(stream: asyncio.StreamWriter | None, text: str | None) -> None:
    if stream is None or text is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(text.encode())
        await stream.drain()
    stream.close()


async def _kill_group(process: asyncio.subprocess.Process, io: asyncio.Future[Any]) -> None:
    """SIGTERM the child's process group, SIGKILL it after a grace period; then stop reading.

    The group is signalled even when the leader has exited: its children may still run.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=_GRACE_S)
            if sig == signal.SIGTERM:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            break
    # A process that left the group (setsid) may hold the pipes open: read briefly, then stop.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(io, timeout=_GRACE_S)
    if not io.done():
        io.cancel()
