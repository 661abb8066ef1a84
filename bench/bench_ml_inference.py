"""``ml-inference`` against raw onnxruntime, on the CPU and (where there is one) the GPU, one run.

The model is a multi-layer perceptron with random weights, built by this script (``--features``
inputs, ``--layers`` hidden layers of ``--hidden`` units, 10 outputs), fed ``--rows`` rows in
batches of ``--batch``. Paths, each the best of ``--repeats`` timed calls after a warm-up, the
paths taking turns:

- raw onnxruntime: one ``InferenceSession`` per provider, ``session.run`` on each batch and
  ``numpy.concatenate`` of the outputs: what a user writes by hand (the baseline); and the same
  with ``.tolist()`` at the end, since the node's outputs are JSON values (nested lists) that
  events, history and nodes in other languages can carry;
- the node: ``PythonRuntime.invoke`` of ``ml-inference`` (the engine's call path: the thread
  pool, the input checks, batching, progress, outputs as lists), ``provider`` ``cpu``, then
  ``auto`` (CUDA where onnxruntime has it).

It reports the node's time over raw onnxruntime's for each provider (overhead) and the CPU's
time over CUDA's (what ``preferGPU`` buys). Run: ``.venv/bin/python bench/bench_ml_inference.py``
(writes bench/results/ml-inference.md unless ``--no-write``; ``--out`` writes elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from atomiton.library.ml_inference import ml_inference
from atomiton.nodes.decorator import definition_of
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.gpus import detect_gpus
from atomiton.runtimes.python import PythonRuntime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ml-inference.md"
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def build_mlp(path: Path, features: int, hidden: int, layers: int) -> int:
    """Save the model; return its parameter count."""
    rng = np.random.default_rng(0)
    widths = [features] + [hidden] * layers + [10]
    tensors, graph_nodes, current = [], [], "x"
    for i in range(len(widths) - 1):
        scale = 1 / np.sqrt(widths[i])
        tensors.append(
            numpy_helper.from_array(
                (rng.standard_normal((widths[i], widths[i + 1])) * scale).astype(np.float32),
                f"W{i}",
            )
        )
        tensors.append(numpy_helper.from_array(np.zeros(widths[i + 1], np.float32), f"B{i}"))
        last = i == len(widths) - 2
        graph_nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"B{i}"], [f"z{i}"]))
        current = f"z{i}"
        if not last:
            graph_nodes.append(helper.make_node("Relu", [current], [f"a{i}"]))
            current = f"a{i}"
    graph_nodes.append(helper.make_node("Identity", [current], ["scores"]))
    model = helper.make_model(
        helper.make_graph(
            graph_nodes,
            "bench-mlp",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
            [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
            tensors,
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    onnx.save(model, path)
    return sum(int(np.prod(t.dims)) for t in tensors)


def best_of_interleaved(repeats: int, paths: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Each path's fastest call; the paths take turns in every round, so clock ramps, caches
    and the GPU's memory pool favour none of them."""
    for call in paths.values():
        call()  # warm-up: session creation, CUDA context, kernels' first launch
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(repeats):
        for name, call in paths.items():
            started = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def raw(
    model: Path, provider: str, x: np.ndarray, batch: int, *, lists: bool = False
) -> Callable[[], Any]:
    """``lists``: also turn the result into nested lists, as a JSON-valued node must."""
    providers: list[Any] = [(CUDA, {"use_tf32": "0"}), CPU] if provider == CUDA else [CPU]
    session = ort.InferenceSession(str(model), providers=providers)
    if session.get_providers()[0] != provider:
        raise SystemExit(f"onnxruntime could not start {provider}: {session.get_providers()}")

    def run() -> Any:
        parts = [session.run(None, {"x": x[i : i + batch]})[0] for i in range(0, len(x), batch)]
        result = np.concatenate(parts)
        return result.tolist() if lists else result

    return run


def through_node(model: Path, provider: str, x: np.ndarray, batch: int) -> Callable[[], Any]:
    definition = definition_of(ml_inference)
    assert definition is not None
    call = NodeCall(
        run_id="bench",
        node_id="infer",
        definition=definition,
        inputs={"inputs": x},
        parameters={"model": str(model), "batchSize": batch, "provider": provider},
    )
    runtime = PythonRuntime(threads=1)
    loop = asyncio.new_event_loop()

    def run() -> Any:
        result = loop.run_until_complete(runtime.invoke(call, NullReporter()))
        return result.outputs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    has_cuda = CUDA in ort.get_available_providers()
    x = np.random.default_rng(1).standard_normal((args.rows, args.features)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "mlp.onnx"
        params = build_mlp(model, args.features, args.hidden, args.layers)
        timings: dict[str, float] = {}
        node_provider: dict[str, str] = {}
        for provider, label in [(CPU, "cpu")] + ([(CUDA, "auto")] if has_cuda else []):
            node = through_node(model, label, x, args.batch)
            node_provider[provider] = node()["provider"]
            paths = {
                f"raw {provider}": raw(model, provider, x, args.batch),
                f"raw+lists {provider}": raw(model, provider, x, args.batch, lists=True),
                f"node {provider}": node,
            }
            timings.update(best_of_interleaved(args.repeats, paths))

    gflop = 2 * params * args.rows / 1e9
    lines = [
        "# ml-inference: the node against raw onnxruntime, CPU and GPU",
        "",
        f"Measured by `bench/bench_ml_inference.py` on {time.strftime('%Y-%m-%d')}: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, GPUs visible: {detect_gpus()}, "
        f"Python {platform.python_version()}, onnxruntime {ort.__version__} "
        f"(providers: {', '.join(ort.get_available_providers())}), numpy {np.__version__}; "
        f"load average {os.getloadavg()[0]:.1f}.",
        "",
        f"Model: MLP {args.features} -> {args.layers} x {args.hidden} (ReLU) -> 10, "
        f"{params / 1e6:.1f} M parameters, float32; {args.rows} rows in batches of {args.batch} "
        f"({gflop:.0f} GFLOP per call). Best of {args.repeats} calls after a warm-up, the "
        "paths taking turns in each round.",
        "",
        "| path | provider that ran | per call | rows/s |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, seconds in timings.items():
        ran = node_provider[name.split()[1]] if name.startswith("node") else name.split()[1]
        lines.append(f"| {name} | {ran} | {seconds * 1e3:,.1f} ms | {args.rows / seconds:,.0f} |")
    lines.append("")
    for p in (CPU, CUDA):
        if f"node {p}" in timings:
            via_node, bare, lists = (timings[f"{k} {p}"] for k in ("node", "raw", "raw+lists"))
            lines.append(
                f"- on {p}: node / raw onnxruntime **{via_node / bare:.3f}x**, "
                f"node / raw onnxruntime with `tolist()` **{via_node / lists:.3f}x**"
            )
    if has_cuda:
        speedup = timings[f"node {CPU}"] / timings[f"node {CUDA}"]
        lines.append(f"- the node on CUDA is **{speedup:,.1f}x** faster than on the CPU")
    else:
        lines.append("- no CUDA provider in this onnxruntime: the GPU rows need onnxruntime-gpu")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
