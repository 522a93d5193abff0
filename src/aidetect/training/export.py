"""ONNX export (opset 17, dynamic batch and image size) with a parity check, and int8 quantisation."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from aidetect.detectors.neural import NeuralDetector

PARITY_TOLERANCE = 1e-4


def export_module(network: torch.nn.Module, path: Path, input_size: int, *, opset: int = 17) -> Path:
    """Write ``network`` as ONNX with input ``input`` (N x 3 x H x W) and output ``logit`` (N x 1).

    Batch, height and width are dynamic (the networks are fully convolutional
    up to a global pooling), so a caller may choose another input size than
    the ``input_size`` traced here, e.g. ``aidetect.load("efficientnet", input_size=224)``.
    """
    network.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's own deprecation chatter
        torch.onnx.export(
            network, (dummy,), str(path), opset_version=opset, input_names=["input"], output_names=["logit"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logit": {0: "batch"}}, dynamo=False,
        )
    return path


def max_parity_error(network: torch.nn.Module, path: Path, batch: np.ndarray) -> float:
    """Largest absolute difference between torch and ONNX Runtime logits on ``batch``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = network.eval()(torch.from_numpy(batch)).numpy()
    actual = session.run(None, {"input": batch})[0]
    return float(np.abs(expected - actual).max())


def export_detector_onnx(detector: NeuralDetector, path: Path, *, opset: int = 17) -> Path:
    """Export a detector's network and prove it: outputs must match torch to `PARITY_TOLERANCE`."""
    network = detector.torch_module()
    size = detector.crop_policy().input_size
    export_module(network, path, size, opset=opset)
    probe = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    error = max_parity_error(network, path, probe)
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export of {detector.name} differs from torch by {error:.2e} > {PARITY_TOLERANCE}")
    return path


def quantize_int8(source: Path, destination: Path, calibration_batches: Sequence[np.ndarray]) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on real input batches."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(calibration_batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"input": batch}

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
