"""The native crate's own Rust unit tests (the pure-Rust cores, without Python)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[3] / "native"


@pytest.mark.toolchain("cargo")
def test_cargo_unit_tests_pass() -> None:
    done = subprocess.run(
        ["cargo", "test", "--quiet", "--no-default-features"],
        cwd=NATIVE,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test result: ok" in done.stdout
