"""Which NVIDIA GPUs this process may use, found without importing a GPU library.

The count sizes the scheduler's GPU slots (``preferGPU`` nodes) and lets a node say why it runs
on the CPU although the machine has a GPU. ``CUDA_VISIBLE_DEVICES`` wins when it is set, as it
does for CUDA itself (``""`` or ``-1`` hides every GPU); otherwise the NVIDIA driver's
``/proc/driver/nvidia/gpus`` lists one folder per GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


def detect_gpus(driver_gpus: Path = DRIVER_GPUS) -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d.strip() for d in visible.split(",")]
        return len(devices[: devices.index("-1")] if "-1" in devices else [d for d in devices if d])
    return len(list(driver_gpus.iterdir())) if driver_gpus.is_dir() else 0
