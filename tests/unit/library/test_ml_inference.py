"""``ml-inference`` on tiny ONNX models built in the test: a linear layer ``y = x @ W + b`` and a
two-input ``add``; numbers are checked against numpy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from recording_context import RecordingContext

from atomiton.errors import NodeCancelledError, NodeError
from atomiton.library.ml_inference import ml_inference
from atomiton.nodes.decorator import definition_of

WEIGHTS = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
BIAS = np.array([0.5, -1.0], dtype=np.float32)
EXPECTED_PROVIDER = (
    "CUDAExecutionProvider"
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    else "CPUExecutionProvider"
)


def linear_model(path: Path, weights: np.ndarray = WEIGHTS) -> str:
    """x [N, 3] float -> y = x @ W + b [N, 2], and the sum of y per row, s [N]."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
            helper.make_node("ReduceSum", ["y", "axes"], ["s"], keepdims=0),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N"]),
        ],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(BIAS, "b"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
        ],
    )
    return _save(graph, path)


def add_model(path: Path) -> str:
    """a [N, 2] + b [N, 2] (int64) -> total [N, 2]."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["total"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, ["N", 2]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 2]),
        ],
        [helper.make_tensor_value_info("total", TensorProto.INT64, ["N", 2])],
    )
    return _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return str(path)


@pytest.fixture
def ctx(tmp_path: Path) -> RecordingContext:
    return RecordingContext(artifact_dir=tmp_path)


@pytest.fixture
def linear(tmp_path: Path) -> str:
    return linear_model(tmp_path / "linear.onnx")


@pytest.fixture
def adder(tmp_path: Path) -> str:
    return add_model(tmp_path / "add.onnx")


def test_definition_prefers_the_gpu() -> None:
    definition = definition_of(ml_inference)
    assert definition is not None
    assert definition.id == "ml-inference"
    assert definition.performance.prefer_gpu is True
    assert definition.input_names == ("model", "inputs")


def test_linear_model_matches_numpy(ctx: RecordingContext, linear: str) -> None:
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    result = ml_inference(ctx, linear, x.tolist())
    y = x @ WEIGHTS + BIAS
    np.testing.assert_allclose(result["outputs"]["y"], y, rtol=1e-6)
    np.testing.assert_allclose(result["outputs"]["s"], y.sum(axis=1), rtol=1e-6)
    assert result["shapes"] == {"y": [4, 2], "s": [4]}
    assert result["batches"] == 1
    assert result["provider"] == EXPECTED_PROVIDER
    assert ("info", f"ml-inference: running linear.onnx on {EXPECTED_PROVIDER}") in ctx.logs


def test_two_inputs_by_name(ctx: RecordingContext, adder: str) -> None:
    result = ml_inference(ctx, adder, {"a": [[1, 2], [3, 4]], "b": [[10, 20], [30, 40]]})
    assert result["outputs"] == {"total": [[11, 22], [33, 44]]}


def test_batches_split_and_concatenate(ctx: RecordingContext, linear: str) -> None:
    x = np.random.default_rng(1).random((10, 3)).astype(np.float32)
    whole = ml_inference(ctx, linear, {"x": x.tolist()})
    batched = ml_inference(ctx, linear, {"x": x.tolist()}, batchSize=3)
    assert batched["batches"] == 4
    assert batched["shapes"] == {"y": [10, 2], "s": [10]}
    np.testing.assert_allclose(batched["outputs"]["y"], whole["outputs"]["y"], rtol=1e-6)
    assert [p for p, _ in ctx.progress_reports[-4:]] == [25.0, 50.0, 75.0, 100.0]


def test_output_names_select_outputs(ctx: RecordingContext, linear: str) -> None:
    result = ml_inference(ctx, linear, [[1, 0, 0]], outputNames=["s"])
    assert list(result["outputs"]) == ["s"]
    assert result["outputs"]["s"] == pytest.approx([0.5 + (-1.0) + 0.0 + 0.1])


def test_accepts_an_upstream_output_object(ctx: RecordingContext, linear: str) -> None:
    result = ml_inference(ctx, linear, {"result": [[0, 0, 0]], "success": True})
    assert result["outputs"]["y"] == [[0.5, -1.0]]


def test_session_cache_sees_a_rewritten_model(ctx: RecordingContext, tmp_path: Path) -> None:
    path = tmp_path / "swap.onnx"
    linear_model(path)
    before = ml_inference(ctx, str(path), [[1, 1, 1]])["outputs"]["y"]
    linear_model(path, weights=WEIGHTS * 2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = ml_inference(ctx, str(path), [[1, 1, 1]])["outputs"]["y"]
    np.testing.assert_allclose(np.array(after) - BIAS, (np.array(before) - BIAS) * 2, rtol=1e-6)


def test_cancelled_between_batches(ctx: RecordingContext, linear: str) -> None:
    ctx.cancelled = True
    with pytest.raises(NodeCancelledError, match="cancelled after 0 of 2 batches"):
        ml_inference(ctx, linear, [[1, 2, 3], [4, 5, 6]], batchSize=1)


@pytest.mark.parametrize(
    ("model", "inputs", "kwargs", "message"),
    [
        ("linear", {"z": [[1, 2, 3]]}, {}, "no input named 'z' (the model's inputs are: x)"),
        ("adder", {"a": [[1, 2]]}, {}, "missing model input(s): b"),
        ("adder", [[1, 2]], {}, "the model has 2 inputs (a, b); give 'inputs' as a mapping"),
        ("linear", [1, 2, 3], {}, "has shape [3] (1 dimensions) but the model expects [N, 3]"),
        ("linear", [[1, 2]], {}, "dimension 1 must be 3, got 2"),
        ("linear", [[1, 2, 3], [4]], {}, "input 'x' cannot become a float32 array"),
        ("linear", [[1, 2, 3]], {"outputNames": ["w"]}, "no output named 'w'"),
        (
            "adder",
            {"a": [[1, 2]], "b": [[1, 2], [3, 4]]},
            {"batchSize": 1},
            "batchSize needs every input to share its first dimension",
        ),
        (
            "adder",
            {"a": [[1, 2], [3, 4], [5, 6]], "b": [[1, 2], [3, 4]]},
            {},
            "the model failed on this input",
        ),
        ("missing", [[1]], {}, "model file not found"),
        ("garbage", [[1]], {}, "cannot load the model"),
    ],
)
def test_errors(
    ctx: RecordingContext,
    tmp_path: Path,
    linear: str,
    adder: str,
    model: str,
    inputs: Any,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    paths = {"linear": linear, "adder": adder, "missing": "/none.onnx", "garbage": str(garbage)}
    with pytest.raises(NodeError) as caught:
        ml_inference(ctx, paths[model], inputs, **kwargs)
    assert message in str(caught.value)
    assert str(caught.value).startswith("[ml-inference]")


@pytest.mark.skipif(EXPECTED_PROVIDER != "CPUExecutionProvider", reason="CUDA is available here")
def test_asking_for_cuda_without_it_says_so(ctx: RecordingContext, linear: str) -> None:
    with pytest.raises(NodeError, match="provider 'cuda' was asked for"):
        ml_inference(ctx, linear, [[1, 2, 3]], provider="cuda")


def test_cpu_can_be_forced(ctx: RecordingContext, linear: str) -> None:
    result = ml_inference(ctx, linear, [[1, 2, 3]], provider="cpu")
    assert result["provider"] == "CPUExecutionProvider"


async def test_runs_through_the_python_runtime(tmp_path: Path, linear: str) -> None:
    """The provider line reaches the run's reporter when the engine's runtime calls the node."""
    from atomiton.runtimes.base import NodeCall
    from atomiton.runtimes.python import PythonRuntime

    definition = definition_of(ml_inference)
    assert definition is not None
    reporter = RecordingContext()
    call = NodeCall(
        run_id="r1",
        node_id="infer",
        definition=definition,
        inputs={"inputs": [[1, 2, 3]]},
        parameters={"model": linear, "batchSize": 1},
        artifact_dir=tmp_path,
    )
    runtime = PythonRuntime(threads=1)
    try:
        result = await runtime.invoke(call, reporter)
    finally:
        await runtime.aclose()
    assert result.outputs["provider"] == EXPECTED_PROVIDER
    assert result.outputs["shapes"] == {"y": [1, 2], "s": [1]}
    assert reporter.logs == [("info", f"ml-inference: running linear.onnx on {EXPECTED_PROVIDER}")]
