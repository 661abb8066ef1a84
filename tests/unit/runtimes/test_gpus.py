"""GPU discovery: ``CUDA_VISIBLE_DEVICES`` first, as CUDA reads it, then the driver's list."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomiton.runtimes.gpus import detect_gpus


@pytest.mark.parametrize(
    ("visible", "count"),
    [("0", 1), ("0,1", 2), ("", 0), ("-1", 0), ("0,-1,1", 1), ("GPU-8e1f, GPU-22a0", 2)],
)
def test_cuda_visible_devices_wins(
    visible: str, count: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    for name in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (tmp_path / name).mkdir()
    assert detect_gpus(tmp_path) == count


def test_the_driver_lists_one_folder_per_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus(tmp_path / "no-driver") == 0
    for name in ("0000:01:00.0", "0000:02:00.0"):
        (tmp_path / name).mkdir()
    assert detect_gpus(tmp_path) == 2
