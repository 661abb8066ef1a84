"""Ray for the tests: one local Ray per test module, started and shut down by a fixture.

Ray is an optional extra: each test module starts with
``pytest.importorskip`` unless CI is set, so outside CI a
machine without it skips them with a reason; in CI (``ATOMITON_REQUIRE_TOOLCHAINS=1``) a
missing ``ray`` is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

RAY_CPUS = 2


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray with 2 CPUs for this module; workers warmed so timings are not start-ups."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=0.25)
    def warm(seconds: float) -> int:
        import time

        import atomiton.engines.ray.tasks  # noqa: F401  (imported once per worker, here)

        time.sleep(seconds)
        return os.getpid()

    ray.get([warm.remote(0.5) for _ in range(4)])
    try:
        yield ray
    finally:
        ray.shutdown()
