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

from aidetect.datasets import Dataset
from aidetect.detectors.neural import NeuralDetector
from aidetect.errors import WeightsError
from aidetect.hookspecs import Register, hookimpl
from aidetect.onnx_session import make_session
from aidetect.trainconfig import TrainConfig
from aidetect.weights import ModelCard, sha256_file, verify


class EfficientNetDetector(NeuralDetector):
    """EfficientNet-Lite0 on ONNX Runtime.

    Parameters beyond `NeuralDetector`'s: ``quantized`` uses the int8 variant
    named in the model card (smaller, faster, slightly less accurate);
    ``threads`` sets ONNX Runtime's intra-op threads (default: ``OMP_NUM_THREADS`` if set, else all cores).

    `from_trained` accepts the trained torch network (exported to ONNX in
    memory and served from there: no temporary file) or an ONNX model (bytes or path).
    """

    name: ClassVar[str] = "efficientnet"
    card_name: ClassVar[str] = "efficientnet"
    architecture: ClassVar[str] = "efficientnet-lite0"
    weights_suffix: ClassVar[str] = ".onnx"
    default_training: ClassVar[TrainConfig] = TrainConfig(lr=5e-4, weight_decay=1e-2)
    default_input_size: ClassVar[int] = 224

    def __init__(self, weights: str | os.PathLike[str] | None = None, *, quantized: bool = False,
                 **options: Any) -> None:
        super().__init__(weights, **options)
        self.quantized = quantized

    def load_model(self, path: Path, card: ModelCard) -> Any:
        if self.quantized:
            variant = card.info.get("int8")
            if not variant or card.path is None:
                raise WeightsError(f"{self.name}: the model card offers no int8 variant")
            path = verify(card.path.parent / variant["file"], variant["sha256"])
        return path

    def serve(self, model: Any, card: ModelCard) -> None:
        """``model``: an ONNX file path or bytes, or a torch network (kept for `save`, exported in memory)."""
        if isinstance(model, (str, os.PathLike, bytes)):
            self.session_ = make_session(model, self.threads)
            return
        if model is not self.network_ or getattr(self, "session_", None) is None:
            from aidetect.export import onnx_bytes

            self.session_ = make_session(onnx_bytes(model.eval(), card.input_size), self.threads)
        self.network_ = model

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self._ensure_loaded()
        logits: np.ndarray = self.session_.run(None, {"input": self.inputs(crops)})[0].ravel()
        return logits

    def build_network(self, pretrained: bool = True) -> Any:
        """A fresh network of the model card's architecture (EfficientNet-Lite0, -Lite1 or -Lite2)."""
        from aidetect.detectors.architectures import build_efficientnet_lite

        return build_efficientnet_lite(self.card_.architecture or self.architecture, pretrained=pretrained)

    def saved_variants(  # type: ignore[override]  # narrows **variants to the one variant it supports
        self, weights_path: Path, *, int8_calibration: Dataset | None = None,
        int8_crops: int = 64,
    ) -> dict[str, Any]:
        """With ``save(path, int8_calibration=DATASET)``: also ``*-int8.onnx``, named in the card.

        The int8 model is quantised statically, calibrated on ``int8_crops``
        inference crops of the ``int8_calibration`` images; ``quantized=True`` loads it.
        """
        if int8_calibration is None:
            return {}
        from aidetect.export import quantize_int8

        int8_path = weights_path.with_name(f"{weights_path.stem}-int8.onnx")
        quantize_int8(weights_path, int8_path, self._int8_batches(int8_calibration, int8_crops))
        return {"int8": {"file": int8_path.name, "sha256": sha256_file(int8_path),
                         "method": f"onnxruntime static QDQ, per-channel, {int8_crops} crops of "
                                   f"{int8_calibration.name}"}}

    def _int8_batches(self, dataset: Dataset, crops: int) -> list[np.ndarray]:
        picked: list[np.ndarray] = []
        for path in dataset.paths:
            picked.extend(self.crops(self.load(path)))
            if len(picked) >= crops:
                break
        return [self.inputs(picked[i : i + 8]) for i in range(0, min(len(picked), crops), 8)]


@hookimpl
def register_detectors(register: Register) -> None:
    register(
        "efficientnet",
        EfficientNetDetector,
        description="EfficientNet-Lite0 fine-tuned on mixed-v1 + photoreal-v1, ONNX Runtime inference (default)",
        backend="onnxruntime",
        requires=["onnxruntime"],
        aliases=["effnet", "efficientnet-lite0"],
        card="efficientnet",
    )
