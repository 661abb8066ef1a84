"""parallel: all / race / allSettled over a real body, bounded, through the real engine.

``parallel{probe}``: a parallel node whose one child is ``probe`` (defined in test_loop).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_loop import Overlap, container, engine, probe, run

from atomiton import LocalEngine

__all__ = ["engine", "probe"]  # the fixture and node these tests share with test_loop


async def test_all_settled_collects_values_and_failures(engine: LocalEngine) -> None:
    bp = container("parallel", {"operations": [1, 2, 3]}, {"seconds": 0.01, "failOn": [2]})
    result = await run(engine, bp)
    assert result.status == "succeeded", result.error
    out = result.outputs["c"]
    assert out["results"][0] == 10
    assert out["results"][2] == 30
    assert "bad item 2" in out["results"][1]["error"]
    assert (out["completed"], out["failed"], out["success"]) == (2, 1, False)


async def test_concurrency_bound_holds(engine: LocalEngine) -> None:
    overlap = Overlap()
    bp = container("parallel", {"operations": list(range(10)), "concurrency": 4}, {"seconds": 0.1})
    result = await run(engine, bp, overlap)
    assert result.status == "succeeded", result.error
    assert overlap.max == 4
    assert result.outputs["c"]["results"] == [i * 10 for i in range(10)]
    assert result.outputs["c"]["completed"] == 10


async def test_all_fails_on_the_first_failure_and_cancels_the_rest(engine: LocalEngine) -> None:
    overlap = Overlap()
    bp = container(
        "parallel",
        {"operations": [1, 2, 3, 4, 5, 6], "strategy": "all", "concurrency": 2},
        {"seconds": 0.05, "failOn": [1]},
    )
    result = await run(engine, bp, overlap)
    assert result.status == "failed"
    assert "[parallel] One or more operations failed: operation 0" in result.error["message"]
    assert len(overlap.started) < 6  # later operations never started


async def test_race_first_success_wins_and_the_rest_are_cancelled(engine: LocalEngine) -> None:
    """Operation 1 takes 0.02 s, operations 20 and 30 take 0.4 and 0.6 s: 1 wins, the others
    are cancelled mid-run (the node finishes long before they would)."""
    bp = container(
        "parallel",
        {"operations": [20, 1, 30], "strategy": "race"},
        {"seconds": 0.02, "perItem": True},
    )
    started = time.perf_counter()
    result = await run(engine, bp)
    assert time.perf_counter() - started < 0.35
    assert result.status == "succeeded", result.error
    out = result.outputs["c"]
    assert out["results"] == [10]
    assert (out["completed"], out["success"]) == (1, True)
    assert result.nodes["c/0/p"].status == "cancelled"
    assert result.nodes["c/2/p"].status == "cancelled"


async def test_race_skips_failures_and_fails_only_if_all_fail(engine: LocalEngine) -> None:
    bp = container(
        "parallel",
        {"operations": [1, 2], "strategy": "race", "concurrency": 1},
        {"seconds": 0.01, "failOn": [1]},
    )
    out = (await run(engine, bp)).outputs["c"]
    assert out["results"] == [20]
    assert (out["completed"], out["failed"]) == (1, 1)
    bp = container(
        "parallel", {"operations": [1, 2], "strategy": "race"}, {"seconds": 0, "failOn": [1, 2]}
    )
    result = await run(engine, bp)
    assert result.status == "failed"
    assert "race: all 2 operations failed" in result.error["message"]


async def test_fail_fast_stops_all_settled(engine: LocalEngine) -> None:
    bp = container(
        "parallel",
        {"operations": [1, 2, 3, 4], "concurrency": 1, "failFast": True},
        {"seconds": 0, "failOn": [2]},
    )
    out = (await run(engine, bp)).outputs["c"]
    assert (out["completed"], out["failed"]) == (1, 1)


async def test_operation_timeout(engine: LocalEngine) -> None:
    bp = container("parallel", {"operations": [1], "operationTimeout": 1000}, {"seconds": 5})
    out = (await run(engine, bp)).outputs["c"]
    assert out["failed"] == 1
    assert "did not finish within operationTimeout (1000 ms)" in out["results"][0]["error"]


async def test_completion_order_when_order_is_not_kept(engine: LocalEngine) -> None:
    bp = container(
        "parallel",
        {"operations": [3, 1, 2], "preserveOrder": False},
        {"seconds": 0.05, "perItem": True},
    )
    assert (await run(engine, bp)).outputs["c"]["results"] == [10, 20, 30]
    bp["nodes"][0]["parameters"]["preserveOrder"] = True
    assert (await run(engine, bp)).outputs["c"]["results"] == [30, 10, 20]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"operations": [1, {"a": 2}]}, [1, {"a": 2}]),
        ({"input": "one"}, ["one"]),
        ({"input": {"result": [5], "success": True}}, [5]),
        ({}, []),
    ],
)
async def test_without_a_body_operations_pass_through(
    engine: LocalEngine, given: dict[str, Any], expected: list[Any]
) -> None:
    out = (await run(engine, container("parallel", given))).outputs["c"]
    assert out["results"] == expected
    assert (out["completed"], out["failed"], out["success"]) == (len(expected), 0, True)


async def test_max_iterations_caps_operations(engine: LocalEngine) -> None:
    out = await run(engine, container("parallel", {"operations": [1, 2, 3], "maxIterations": 2}))
    assert out.outputs["c"]["results"] == [1, 2]
