"""``ml-inference`` and the GPU: it says why when it runs on the CPU of a machine with a GPU, and
on a machine with an NVIDIA GPU and onnxruntime-gpu (``@pytest.mark.gpu``) it runs the model on
CUDA with the CPU's numbers, alone and through the engine with several ``preferGPU`` nodes.

CI machines have no GPU, so the ``gpu`` tests skip there with that reason; docs/gpu.md says how
they were run on a GPU machine and what they showed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from recording_context import RecordingContext
from test_ml_inference import EXPECTED_PROVIDER, linear_model

import atomiton
from atomiton.errors import NodeError
from atomiton.library.ml_inference import ml_inference
from atomiton.runtimes.gpus import detect_gpus

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def mlp_model(path: Path, features: int = 64, hidden: int = 256, classes: int = 10) -> str:
    """x [N, features] -> Gemm/Relu -> Gemm/Relu -> Gemm -> logits [N, classes], random weights."""
    rng = np.random.default_rng(7)
    sizes = [features, hidden, hidden, classes]
    nodes, weights, previous = [], [], "x"
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = rng.standard_normal(fan_out).astype(np.float32) / 10
        weights += [
            numpy_helper.from_array(w, f"w{layer}"),
            numpy_helper.from_array(b, f"b{layer}"),
        ]
        out = "logits" if layer == len(sizes) - 2 else f"h{layer}"
        gemm = f"g{layer}" if out != "logits" else out
        nodes.append(helper.make_node("Gemm", [previous, f"w{layer}", f"b{layer}"], [gemm]))
        if out != "logits":
            nodes.append(helper.make_node("Relu", [gemm], [out]))
        previous = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return str(path)


def test_a_visible_gpu_without_the_cuda_provider_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CUDA_VISIBLE_DEVICES=0`` makes one GPU visible to the node, as on a GPU machine."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    ctx = RecordingContext(artifact_dir=tmp_path)
    result = ml_inference(ctx, linear_model(tmp_path / "linear.onnx"), [[1, 2, 3]])
    if EXPECTED_PROVIDER == CUDA:
        assert result["provider"] == CUDA
        assert ctx.messages("warning") == []
    else:
        assert result["provider"] == "CPUExecutionProvider"
        assert ctx.messages("warning") == [
            "ml-inference: this machine has 1 GPU(s) but the installed onnxruntime has no CUDA "
            "provider; running on the CPU (pip install onnxruntime-gpu to use the GPU)"
        ]


def test_no_gpu_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ctx = RecordingContext(artifact_dir=tmp_path)
    result = ml_inference(ctx, linear_model(tmp_path / "linear.onnx"), [[1, 2, 3]])
    assert result["provider"] == "CPUExecutionProvider"
    assert ctx.messages("warning") == []


def test_cuda_asked_for_with_no_gpu_visible_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    model = linear_model(tmp_path / "linear.onnx")
    with pytest.raises(NodeError, match="provider 'cuda' was asked for, but"):
        ml_inference(RecordingContext(), model, [[1, 2, 3]], provider="cuda")


@pytest.mark.gpu
def test_cuda_runs_the_model_with_the_cpus_numbers(tmp_path: Path) -> None:
    model = mlp_model(tmp_path / "mlp.onnx")
    x = np.random.default_rng(1).standard_normal((1000, 64)).astype(np.float32)
    on_gpu = ml_inference(RecordingContext(), model, x, batchSize=256)
    on_cpu = ml_inference(RecordingContext(), model, x, batchSize=256, provider="cpu")
    forced = ml_inference(RecordingContext(), model, x[:3], provider="cuda")
    assert (on_gpu["provider"], on_cpu["provider"], forced["provider"]) == (CUDA, CPU, CUDA)
    assert on_gpu["batches"] == 4 and on_gpu["shapes"] == {"logits": [1000, 10]}
    np.testing.assert_allclose(
        on_gpu["outputs"]["logits"], on_cpu["outputs"]["logits"], rtol=1e-5, atol=1e-5
    )


@pytest.mark.gpu
def test_tf32_is_opt_in(tmp_path: Path) -> None:
    """float32 stays float32 on CUDA unless ``allowTf32``; TF32 keeps about 3 digits."""
    model = mlp_model(tmp_path / "mlp.onnx", features=512, hidden=1024)
    x = np.random.default_rng(3).standard_normal((256, 512)).astype(np.float32)
    exact = np.asarray(
        ml_inference(RecordingContext(), model, x, provider="cpu")["outputs"]["logits"]
    )
    fp32 = ml_inference(RecordingContext(), model, x)
    tf32 = ml_inference(RecordingContext(), model, x, allowTf32=True)
    assert fp32["provider"] == tf32["provider"] == CUDA
    np.testing.assert_allclose(fp32["outputs"]["logits"], exact, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tf32["outputs"]["logits"], exact, rtol=5e-2, atol=5e-2)


@pytest.mark.gpu
def test_prefer_gpu_nodes_run_on_cuda_through_the_engine(tmp_path: Path) -> None:
    """Three ``ml-inference`` nodes share the machine's GPU slots; each reports CUDA."""
    model = mlp_model(tmp_path / "mlp.onnx")
    rows = np.random.default_rng(2).standard_normal((3, 8, 64)).astype(np.float32).tolist()
    nodes = [
        {"id": f"infer{i}", "type": "ml-inference", "parameters": {"model": model, "inputs": r}}
        for i, r in enumerate(rows)
    ]
    result = atomiton.run({"id": "gpu", "name": "gpu", "nodes": nodes, "edges": []})
    assert result.status == "succeeded", result.error
    assert detect_gpus() >= 1
    assert {result.outputs[f"infer{i}"]["provider"] for i in range(3)} == {CUDA}
