"""Torch network -> ONNX (opset 17, dynamic batch and image size) with a parity check, and int8 quantisation.

Neither inference nor training: the bridge between them. It imports torch
(and onnx / onnxruntime's quantiser) lazily, inside the functions.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from aidetect.errors import DetectorError

PARITY_TOLERANCE = 1e-4
"""Largest absolute logit difference between torch and ONNX Runtime an export may show."""

__all__ = ["PARITY_TOLERANCE", "check_parity", "export_module", "max_parity_error", "onnx_bytes", "quantize_int8"]


def export_module(network: Any, path: str | os.PathLike[str] | io.BytesIO, input_size: int, *,
                  opset: int = 17) -> Any:
    """Write ``network`` as ONNX with input ``input`` (N x 3 x H x W) and output ``logit`` (N x 1).

    Batch, height and width are dynamic (the networks are fully convolutional
    up to a global pooling), so a caller may choose another input size than
    the ``input_size`` traced here, e.g. ``aidetect.load("efficientnet", input_size=224)``.
    ``path`` may be a file path or a `io.BytesIO` (see `onnx_bytes`).
    """
    import torch

    network.eval()
    target: Any = path
    if not isinstance(path, io.BytesIO):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target = str(target)
    dummy = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's own deprecation chatter
        torch.onnx.export(
            network, (dummy,), target, opset_version=opset, input_names=["input"], output_names=["logit"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logit": {0: "batch"}}, dynamo=False,
        )
    return path if isinstance(path, io.BytesIO) else Path(path)


def onnx_bytes(network: Any, input_size: int, *, opset: int = 17) -> bytes:
    """The ONNX export of ``network`` in memory: served straight away, no temporary file left behind."""
    buffer = io.BytesIO()
    export_module(network, buffer, input_size, opset=opset)
    return buffer.getvalue()


def max_parity_error(network: Any, model: str | os.PathLike[str] | bytes, batch: np.ndarray) -> float:
    """Largest absolute difference between torch and ONNX Runtime logits on ``batch``."""
    import onnxruntime as ort
    import torch

    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = network.eval()(torch.from_numpy(batch)).numpy()
    actual = session.run(None, {"input": batch})[0]
    return float(np.abs(expected - actual).max())


def check_parity(network: Any, model: str | os.PathLike[str] | bytes, input_size: int, *, what: str) -> float:
    """Raise `DetectorError` unless the ONNX ``model`` matches ``network`` to `PARITY_TOLERANCE` on a probe."""
    probe = np.random.default_rng(0).standard_normal((2, 3, input_size, input_size)).astype(np.float32)
    error = max_parity_error(network, model, probe)
    if error > PARITY_TOLERANCE:
        raise DetectorError(f"ONNX export of {what} differs from torch by {error:.2e} > {PARITY_TOLERANCE}")
    return error


def quantize_int8(source: str | os.PathLike[str], destination: str | os.PathLike[str],
                  calibration_batches: Iterable[np.ndarray]) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on real input batches."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(calibration_batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"input": batch}

    destination = Path(destination)
    prepared = destination.with_suffix(".prep.onnx")
    quant_pre_process(str(source), str(prepared))
    try:
        quantize_static(
            str(prepared), str(destination), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )
    finally:
        prepared.unlink(missing_ok=True)
    return destination
