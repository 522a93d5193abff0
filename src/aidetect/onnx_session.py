"""The one way this library opens an ONNX Runtime session (efficientnet, the CLIP encoder, ...)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["make_session"]


def make_session(model: str | os.PathLike[str] | bytes, threads: int | None) -> Any:
    """One ONNX Runtime session per detector; `InferenceSession.run` is thread-safe.

    ``threads=None`` follows ``OMP_NUM_THREADS`` when it is set (as `aidetect.scan`
    sets it to 1 in each worker process, so that N workers do not each start a
    pool as large as the machine), else ONNX Runtime's default: all cores.
    """
    import onnxruntime as ort

    threads = threads or _threads_from_environment()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def _threads_from_environment() -> int | None:
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None
