"""shell-command: no shell, stdin, cwd, environment, exit codes, timeouts that kill the tree."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from recording_context import RecordingContext

from atomiton.errors import NodeError
from atomiton.library.shell_command import shell_command

PY = sys.executable
# Starts a grandchild that writes its pid to argv[1] and sleeps, then sleeps itself.
SPAWNER = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import os, sys, time; open(sys.argv[1], \"w\").write(str(os.getpid())); time.sleep(60)', "
    "sys.argv[1]])\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a killed orphan stays a zombie until something reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def _dies(pid: int) -> bool:
    """The kernel closes a dying process's pipes just before it turns zombie: allow a moment."""
    for _ in range(100):
        if not _alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def _pid_from(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text():
            return int(path.read_text())
        await asyncio.sleep(0.02)
    raise AssertionError(f"the grandchild never wrote {path}")


async def test_runs_program_with_args() -> None:
    out = await shell_command(program="echo", args=["hello", "world"], ctx=RecordingContext())
    assert out["stdout"] == "hello world\n"
    assert out["stderr"] == ""
    assert out["exitCode"] == 0
    assert out["success"] is True
    assert out["timedOut"] is False
    assert out["command"] == "echo hello world"
    assert out["duration"] >= 0


async def test_no_shell_injection(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = await shell_command(
        program="echo", args=[f"a; rm {victim}", "$(whoami)", "|", "`id`"], ctx=RecordingContext()
    )
    assert out["stdout"] == f"a; rm {victim} $(whoami) | `id`\n"
    assert victim.exists()


async def test_args_as_json_string() -> None:
    out = await shell_command(program="echo", args='["x", "y"]', ctx=RecordingContext())
    assert out["stdout"] == "x y\n"
    with pytest.raises(NodeError, match="'args' is a string but not a JSON array"):
        await shell_command(program="echo", args="x y", ctx=RecordingContext())


async def test_stdin_is_written() -> None:
    out = await shell_command(program="cat", stdin="line 1\nline 2", ctx=RecordingContext())
    assert out["stdout"] == "line 1\nline 2"


async def test_string_input_becomes_stdin() -> None:
    upstream = {"result": "piped", "success": True}
    out = await shell_command(input=upstream, program="cat", ctx=RecordingContext())
    assert out["stdout"] == "piped"


async def test_nonzero_exit_does_not_fail() -> None:
    out = await shell_command(
        program=PY,
        args=["-c", "import sys; print('oops', file=sys.stderr); sys.exit(3)"],
        ctx=RecordingContext(),
    )
    assert out["exitCode"] == 3
    assert out["success"] is False
    assert out["stderr"] == "oops\n"


async def test_signal_exit_code_is_negative() -> None:
    out = await shell_command(
        program=PY,
        args=["-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
        ctx=RecordingContext(),
    )
    assert out["exitCode"] == -signal.SIGTERM
    assert out["success"] is False


async def test_working_directory_and_environment(tmp_path: Path) -> None:
    out = await shell_command(
        program=PY,
        args=["-c", "import os; print(os.getcwd()); print(os.environ['GREETING'])"],
        workingDirectory=str(tmp_path),
        environment={"GREETING": "hej"},
        ctx=RecordingContext(),
    )
    assert out["stdout"].splitlines() == [str(tmp_path.resolve()), "hej"]


async def test_unsafe_loader_variables_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/evil.so")
    out = await shell_command(
        program=PY,
        args=["-c", "import os; print(os.environ.get('LD_PRELOAD', 'unset'))"],
        ctx=RecordingContext(),
    )
    assert out["stdout"] == "unset\n"


async def test_capture_output_false() -> None:
    out = await shell_command(
        program="echo", args=["x"], captureOutput=False, ctx=RecordingContext()
    )
    assert out["stdout"] == ""
    assert out["success"] is True


async def test_bad_working_directory(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="Invalid or inaccessible working directory"):
        await shell_command(
            program="ls", workingDirectory=str(tmp_path / "none"), ctx=RecordingContext()
        )


async def test_missing_program() -> None:
    with pytest.raises(NodeError, match="'program' is required"):
        await shell_command(ctx=RecordingContext())
    with pytest.raises(NodeError, match="cannot start 'no-such-program-xyz'"):
        await shell_command(program="no-such-program-xyz", ctx=RecordingContext())
    with pytest.raises(NodeError, match=r"cannot start 'ls -l'.*no shell is used"):
        await shell_command(program="ls -l", ctx=RecordingContext())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_timeout_kills_the_child_and_grandchild(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    ctx = RecordingContext()
    started = time.monotonic()
    task = asyncio.ensure_future(
        shell_command(program=PY, args=["-c", SPAWNER, str(pid_file)], timeout=1500, ctx=ctx)
    )
    grandchild = await _pid_from(pid_file)
    out = await task
    assert time.monotonic() - started < 10
    assert out["timedOut"] is True
    assert out["success"] is False
    assert out["exitCode"] == -signal.SIGTERM
    assert await _dies(grandchild)
    assert any("passed its timeout of 1500 ms" in m for m in ctx.messages("info"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_cancellation_kills_the_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    task = asyncio.ensure_future(
        shell_command(program=PY, args=["-c", SPAWNER, str(pid_file)], ctx=RecordingContext())
    )
    grandchild = await _pid_from(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _dies(grandchild)


async def test_term_ignoring_program_is_killed() -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    out = await shell_command(program=PY, args=["-c", script], timeout=1000, ctx=RecordingContext())
    assert out["exitCode"] == -signal.SIGKILL
    assert out["stdout"] == "ready\n"  # output read before the kill is kept
    assert out["timedOut"] is True


def test_definition() -> None:
    from atomiton.nodes import definition_of

    definition = definition_of(shell_command)
    assert definition is not None
    assert definition.input_names == (
        "input",
        "program",
        "args",
        "workingDirectory",
        "environment",
        "stdin",
    )
    assert definition.runtime.options["async"] is True
    assert os.path.basename(definition.runtime.path or "") == "shell_command.py"
