"""``ml-inference``: run an ONNX model with onnxruntime, in batches, on the GPU when there is one.

The definition says ``preferGPU``, so a scheduler may place the node where a GPU is. At run time
the node asks onnxruntime for ``CUDAExecutionProvider`` when it is available and falls back to
the CPU; the provider that actually runs the model (onnxruntime may itself fall back) is returned
in ``provider`` and logged. Running on the CPU although the machine has a GPU is never silent: a
warning says why (an onnxruntime without the CUDA provider, or CUDA libraries it could not load)
and what to install. CUDA and cuDNN libraries installed as pip packages (``nvidia-*``, as PyTorch
brings them) are preloaded with ``onnxruntime.preload_dlls`` before the first CUDA session.
Sessions are cached per model path, modification time and provider, so a loop calling the same
model pays the load once per process.

Inputs are checked against the model before it runs: unknown names list the model's inputs, and
a shape that cannot match says which dimension differs. ``batchSize`` splits the first dimension
into batches and concatenates each output along it.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field

from atomiton.errors import NodeCancelledError, NodeError
from atomiton.library._compat import primary
from atomiton.nodes.context import NodeContext
from atomiton.nodes.decorator import node
from atomiton.runtimes.gpus import detect_gpus

NODE = "ml-inference"
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class InferenceResult(TypedDict, total=False):
    """Each requested output as nested lists, their shapes, and how the model ran."""

    outputs: dict[str, Any]
    shapes: dict[str, list[int]]
    provider: str
    batches: int
    elapsed_ms: float


@node(id=NODE, name="ML inference", category="ml", icon="cpu", prefer_gpu=True, tags=("ml",))
def ml_inference(
    ctx: NodeContext,
    model: str,
    inputs: Any,
    *,
    batchSize: Annotated[int, Field(ge=1)] | None = None,
    outputNames: list[str] | None = None,
    provider: Literal["auto", "cuda", "cpu"] = "auto",
    allowTf32: bool = False,
) -> InferenceResult:
    """Run the ONNX ``model`` on ``inputs`` (a mapping of input name to array, or one array for
    a single-input model); CUDA when available, else CPU. ``allowTf32`` lets CUDA compute float32
    matrix products in TF32 (faster on recent GPUs, about 3 significant digits)."""
    import numpy as np

    started = time.perf_counter()
    gpus = detect_gpus()
    session, wanted_cuda, cuda_problem = _load(model, provider, gpus=gpus, tf32=allowTf32)
    used = session.get_providers()[0]
    if used != CUDA and wanted_cuda:
        message = f"onnxruntime could not start its CUDA provider ({cuda_problem or 'see its log'})"
        if provider == "cuda":
            raise NodeError(
                f"[{NODE}] provider 'cuda' was asked for, but {message}",
                hint="install the CUDA and cuDNN versions this onnxruntime-gpu needs "
                "(pip install onnxruntime-gpu[cuda,cudnn]), or use provider 'auto'",
            )
        ctx.log(f"{NODE}: {message}; running on the CPU", "warning")
    elif used != CUDA and provider == "auto" and gpus:
        ctx.log(
            f"{NODE}: this machine has {gpus} GPU(s) but the installed onnxruntime has no CUDA "
            "provider; running on the CPU (pip install onnxruntime-gpu to use the GPU)",
            "warning",
        )
    ctx.log(f"{NODE}: running {Path(model).name} on {used}")
    feeds = _feeds(session, primary(inputs))
    wanted = _output_names(session, outputNames)
    total = next(iter(feeds.values())).shape[0] if feeds and batchSize else 0
    if batchSize and any(a.ndim == 0 or a.shape[0] != total for a in feeds.values()):
        sizes = {name: (a.shape[0] if a.ndim else None) for name, a in feeds.items()}
        raise NodeError(
            f"[{NODE}] batchSize needs every input to share its first dimension, got {sizes}",
            hint="give inputs with the same number of rows, or leave batchSize unset",
        )
    count = max(1, math.ceil(total / batchSize)) if batchSize else 1
    parts: list[list[Any]] = []
    for index in range(count):
        if ctx.cancelled:
            raise NodeCancelledError(f"[{NODE}] cancelled after {index} of {count} batches")
        chunk = (
            {k: v[index * batchSize : (index + 1) * batchSize] for k, v in feeds.items()}
            if batchSize
            else feeds
        )
        parts.append(_run(session, wanted, chunk))
        ctx.progress(100 * (index + 1) / count, f"batch {index + 1}/{count}")
    merged = [
        np.concatenate([p[i] for p in parts]) if count > 1 else parts[0][i]
        for i in range(len(wanted))
    ]
    return InferenceResult(
        outputs={name: value.tolist() for name, value in zip(wanted, merged, strict=True)},
        shapes={name: list(value.shape) for name, value in zip(wanted, merged, strict=True)},
        provider=used,
        batches=count,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
    )


def _load(model: str, provider: str, *, gpus: int, tf32: bool) -> tuple[Any, bool, str | None]:
    """The cached session, whether CUDA was asked of onnxruntime, and why its libraries did not
    load if they did not; ``gpus`` is how many GPUs this process sees."""
    import onnxruntime as ort

    path = Path(model).expanduser()
    if not path.is_file():
        raise NodeError(
            f"[{NODE}] model file not found: {model}",
            hint="give 'model' as the path of an .onnx file",
        )
    available = ort.get_available_providers()
    if provider == "cuda" and CUDA not in available:
        raise NodeError(
            f"[{NODE}] provider 'cuda' was asked for, but onnxruntime offers only "
            f"{', '.join(available)}",
            hint="install onnxruntime-gpu with a matching CUDA, or use provider 'auto'",
        )
    if provider == "cuda" and not gpus:
        raise NodeError(
            f"[{NODE}] provider 'cuda' was asked for, but no GPU is visible to this process",
            hint="run it on a machine with an NVIDIA GPU (check CUDA_VISIBLE_DEVICES), "
            "or use provider 'auto'",
        )
    use_cuda = provider != "cpu" and CUDA in available and gpus > 0
    problem = _preload_cuda() if use_cuda else None
    providers = (CUDA, CPU) if use_cuda else (CPU,)
    mtime = path.stat().st_mtime_ns
    return _session(str(path.resolve()), mtime, providers, tf32), use_cuda, problem


@functools.cache
def _preload_cuda() -> str | None:
    """Load the CUDA and cuDNN libraries from pip's ``nvidia-*`` packages (or the system's) once
    per process, so that onnxruntime finds them; the reason when that fails, else None."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)  # onnxruntime >= 1.21
    if preload is None:
        return None
    try:
        preload(cuda=True, cudnn=True, msvc=False)
    except Exception as exc:  # it raises OSError or RuntimeError, depending on the version
        return f"{type(exc).__name__}: {exc}"
    return None


@functools.lru_cache(maxsize=16)
def _session(path: str, mtime_ns: int, providers: tuple[str, ...], tf32: bool) -> Any:
    """One InferenceSession per model file version, provider list and precision (``mtime_ns``
    keys it). CUDA computes float32 in float32 unless ``tf32``: onnxruntime's CUDA provider
    would otherwise use TF32 tensor cores, which give about 3 significant digits."""
    import onnxruntime as ort

    chosen: list[Any] = [
        (name, {"use_tf32": "1" if tf32 else "0"}) if name == CUDA else name for name in providers
    ]
    try:
        return ort.InferenceSession(path, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad models
        raise NodeError(
            f"[{NODE}] cannot load the model {path}: {exc}",
            hint="check that the file is an ONNX model this onnxruntime supports",
        ) from None


def _feeds(session: Any, inputs: Any) -> dict[str, Any]:
    import numpy as np

    declared = {arg.name: arg for arg in session.get_inputs()}
    names = ", ".join(declared)
    if not isinstance(inputs, Mapping):
        if len(declared) != 1:
            raise NodeError(
                f"[{NODE}] the model has {len(declared)} inputs ({names}); "
                "give 'inputs' as a mapping of input name to array",
            )
        inputs = {next(iter(declared)): inputs}
    unknown = [k for k in inputs if k not in declared]
    if unknown:
        raise NodeError(
            f"[{NODE}] the model has no input named {', '.join(map(repr, unknown))}",
            hint=f"the model's inputs are: {names}",
        )
    missing = [k for k in declared if k not in inputs]
    if missing:
        raise NodeError(
            f"[{NODE}] missing model input(s): {', '.join(missing)}",
            hint=f"the model's inputs are: {names}",
        )
    feeds: dict[str, Any] = {}
    for name, arg in declared.items():
        dtype = ONNX_TYPES.get(arg.type)
        if dtype is None:
            raise NodeError(f"[{NODE}] input '{name}' has type {arg.type}, which is unsupported")
        try:
            array = np.asarray(inputs[name], dtype=dtype)
        except (ValueError, TypeError) as exc:
            raise NodeError(
                f"[{NODE}] input '{name}' cannot become a {dtype} array: {exc}",
                hint="give a (nested) list of numbers with the same length on each level",
            ) from None
        _check_shape(name, array.shape, arg.shape)
        feeds[name] = array
    return feeds


def _check_shape(name: str, got: tuple[int, ...], expected: list[Any]) -> None:
    shown = "[" + ", ".join(str(d) if isinstance(d, int) else str(d or "?") for d in expected) + "]"
    if len(got) != len(expected):
        raise NodeError(
            f"[{NODE}] input '{name}' has shape {list(got)} ({len(got)} dimensions) but the "
            f"model expects {shown} ({len(expected)} dimensions)",
            hint="reshape the input; named or '?' dimensions may be any size",
        )
    for axis, (size, want) in enumerate(zip(got, expected, strict=True)):
        if isinstance(want, int) and want > 0 and size != want:
            raise NodeError(
                f"[{NODE}] input '{name}' has shape {list(got)} but the model expects {shown}: "
                f"dimension {axis} must be {want}, got {size}",
            )


def _output_names(session: Any, requested: list[str] | None) -> list[str]:
    declared = [arg.name for arg in session.get_outputs()]
    if not requested:
        return declared
    unknown = [n for n in requested if n not in declared]
    if unknown:
        raise NodeError(
            f"[{NODE}] the model has no output named {', '.join(map(repr, unknown))}",
            hint=f"the model's outputs are: {', '.join(declared)}",
        )
    return list(requested)


def _run(session: Any, wanted: list[str], feeds: Mapping[str, Any]) -> list[Any]:
    try:
        return list(session.run(wanted, dict(feeds)))
    except Exception as exc:  # onnxruntime's errors carry no stable type
        raise NodeError(f"[{NODE}] the model failed on this input: {exc}") from None
