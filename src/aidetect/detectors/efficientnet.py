"""``efficientnet``: EfficientNet-Lite0 fine-tuned in PyTorch, served by ONNX Runtime.

The library's default detector. Prediction imports onnxruntime, numpy and
Pillow only: torch is needed to train (`fit`) or re-export, never to predict.
Images larger than the input are judged from up to 3x3 native-resolution
crops whose logits are averaged (per-crop scores are kept in the Prediction).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.detectors.neural import NeuralDetector
from aidetect.errors import WeightsError
from aidetect.hookspecs import hookimpl
from aidetect.weights import ModelCard, verify


class EfficientNetDetector(NeuralDetector):
    """EfficientNet-Lite0 on ONNX Runtime.

    Parameters beyond `NeuralDetector`'s: ``quantized`` uses the int8 variant
    named in the model card (smaller, faster, slightly less accurate);
    ``threads`` sets ONNX Runtime's intra-op threads (default: ``OMP_NUM_THREADS`` if set, else all cores).
    """

    name: ClassVar[str] = "efficientnet"
    card_name: ClassVar[str] = "efficientnet"
    architecture: ClassVar[str] = "efficientnet-lite0"
    weights_suffix: ClassVar[str] = ".onnx"
    default_lr: ClassVar[float] = 5e-4
    default_crop_size: ClassVar[int] = 160
    default_input_size: ClassVar[int] = 224

    def __init__(self, weights: str | os.PathLike | None = None, *, quantized: bool = False, **options: Any) -> None:
        super().__init__(weights, **options)
        self.quantized = quantized

    def _load_backend(self, path: Path, card: ModelCard) -> None:
        if self.quantized:
            variant = card.info.get("int8")
            if not variant or card.path is None:
                raise WeightsError(f"{self.name}: the model card offers no int8 variant")
            path = verify(card.path.parent / variant["file"], variant["sha256"])
        self.session_ = _make_session(path, self.threads)

    def _attach_trained(self, network: Any, card: ModelCard, work_dir: Path) -> None:
        """After `fit`: export the trained network and serve it through ONNX Runtime, as a loaded model is."""
        from aidetect.training.export import export_module

        onnx_path = export_module(network, work_dir / "model.onnx", card.input_size)
        self.session_ = _make_session(onnx_path, self.threads)
        self._set_card(card)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self._ensure_loaded()
        return self.session_.run(None, {"input": self.inputs(crops)})[0].ravel()

    def build_network(self, pretrained: bool = True) -> Any:
        from aidetect.training.architectures import build_efficientnet_lite0

        return build_efficientnet_lite0(pretrained=pretrained)


def _make_session(path: Path, threads: int | None) -> Any:
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
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _threads_from_environment() -> int | None:
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "efficientnet",
        EfficientNetDetector,
        description="EfficientNet-Lite0 fine-tuned on mixed-v1, ONNX Runtime inference (default)",
        backend="onnxruntime",
        requires=["onnxruntime"],
        aliases=["effnet", "efficientnet-lite0"],
        card="efficientnet",
    )
