"""Shared test configuration.

``@pytest.mark.toolchain("node")`` (or "go", "cargo", "native", "chromium", "postgres") marks a
test that needs an external toolchain. Where the toolchain is missing the test is skipped with
the reason, except when ``ATOMITON_REQUIRE_TOOLCHAINS=1`` (CI sets it): then a missing toolchain
is a failure, so nothing skips silently in CI.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

_CHECKS = {
    "node": lambda: shutil.which("node") is not None,
    "go": lambda: shutil.which("go") is not None,
    "cargo": lambda: shutil.which("cargo") is not None,
    "native": lambda: importlib.util.find_spec("atomiton_native") is not None,
    "chromium": lambda: shutil.which("chromium") is not None,
    "postgres": lambda: bool(os.environ.get("ATOMITON_TEST_POSTGRES_URL")),
}


def require_toolchains() -> bool:
    return os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") == "1"


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(name="toolchain"):
        for name in mark.args:
            check = _CHECKS.get(name)
            if check is None:
                pytest.fail(f"unknown toolchain marker {name!r}; known: {sorted(_CHECKS)}")
            if not check():
                reason = f"needs the {name!r} toolchain, which this machine lacks"
                if require_toolchains():
                    pytest.fail(f"{reason} (ATOMITON_REQUIRE_TOOLCHAINS=1: CI must have it)")
                pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's history database, caches and config out of the user's folders."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("ATOMITON_DB", str(home / "history.db"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
