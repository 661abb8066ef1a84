"""Shared test configuration.

``@pytest.mark.toolchain("node")`` (or "go", "cargo", "native", "chromium", "postgres",
"kuberay") marks a test that needs an external toolchain. Where the toolchain is missing the
test is skipped with the reason, except when ``ATOMITON_REQUIRE_TOOLCHAINS=1`` (CI sets it):
then a missing toolchain is a failure, so nothing skips silently in CI.

``@pytest.mark.gpu`` marks a test that needs an NVIDIA GPU and onnxruntime-gpu. CI machines have
no GPU (the workplace cannot give CI one), so these skip there, always with that reason, and run
on a GPU machine as docs/gpu.md describes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

_CHECKS = {
    "node": lambda: shutil.which("node") is not None,
    "go": lambda: shutil.which("go") is not None,
    "cargo": lambda: shutil.which("cargo") is not None,
    "native": lambda: importlib.util.find_spec("atomiton_native") is not None,
    "chromium": lambda: shutil.which("chromium") is not None,
    "postgres": lambda: bool(os.environ.get("ATOMITON_TEST_POSTGRES_URL")),
    "kuberay": lambda: kuberay_operator_dir() is not None,
}


@functools.cache
def kuberay_operator_dir() -> Path | None:
    """KubeRay's ray-operator module in Go's module cache (scripts/setup.d/80-kuberay-crd.sh),
    or None where it is not there."""
    if shutil.which("go") is None:
        return None
    cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout
    folder = Path(cache.strip()) / "github.com/ray-project/kuberay/ray-operator@v1.5.0"
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def kuberay_operator() -> Path:
    """The ray-operator module's folder (tests marked ``toolchain("kuberay")`` have it)."""
    folder = kuberay_operator_dir()
    assert folder is not None
    return folder


def require_toolchains() -> bool:
    return os.environ.get("ATOMITON_REQUIRE_TOOLCHAINS") == "1"


def _gpu_missing() -> str | None:
    import onnxruntime

    from atomiton.runtimes.gpus import detect_gpus

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "needs onnxruntime-gpu (this onnxruntime has no CUDA provider); see docs/gpu.md"
    if not detect_gpus():
        return "needs an NVIDIA GPU, which this machine lacks (CI has none); see docs/gpu.md"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None and (reason := _gpu_missing()):
        pytest.skip(reason)
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
