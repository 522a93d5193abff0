"""``cnn``: a small tunable convolutional network in PyTorch.

The founding reports' tunable CNN (filters, pooling, dense units, dropout),
but trained and applied on native-resolution 128 px crops instead of whole
images shrunk to 32 px, which destroyed the evidence. Large images are judged
from a grid of crops. Needs the ``torch`` extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.detectors.cnn_config import CNNConfig
from aidetect.detectors.neural import NeuralDetector
from aidetect.hookspecs import Register, hookimpl
from aidetect.trainconfig import AugmentConfig, TrainConfig
from aidetect.weights import ModelCard


class CNNDetector(NeuralDetector):
    """Small CNN on PyTorch.

    Architecture parameters: ``filters`` (per block), ``convs_per_block``,
    ``pooling`` (``"max"``/``"avg"``), ``dense_units``, ``dropout``,
    ``residual_stem`` (feed the fixed high-pass residual beside the pixels);
    the defaults are those of `aidetect.detectors.cnn_config.CNNConfig`. Or
    ``config``: the path of a JSON written by ``aidetect tune cnn`` (its
    ``training`` entries, e.g. ``lr``, apply unless given explicitly).
    """

    name: ClassVar[str] = "cnn"
    card_name: ClassVar[str] = "cnn"
    architecture: ClassVar[str] = "small-cnn"
    weights_suffix: ClassVar[str] = ".pt"
    default_training: ClassVar[TrainConfig] = TrainConfig(lr=2e-3, weight_decay=1e-2,
                                                          augment=AugmentConfig(crop_size=128))
    default_input_size: ClassVar[int] = 128

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        filters: Sequence[int] = CNNConfig.filters,
        convs_per_block: int = CNNConfig.convs_per_block,
        pooling: str = CNNConfig.pooling,
        dense_units: int = CNNConfig.dense_units,
        dropout: float = CNNConfig.dropout,
        residual_stem: bool = CNNConfig.residual_stem,
        config: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        self.config = config
        tuned = self._tuned()
        super().__init__(weights, **{**dict(tuned.get("training", {})), **options})
        self.filters = tuple(filters)
        self.convs_per_block = convs_per_block
        self.pooling = pooling
        self.dense_units = dense_units
        self.dropout = dropout
        self.residual_stem = residual_stem

    def _tuned(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        tuned: dict[str, Any] = json.loads(Path(self.config).read_text(encoding="utf-8"))
        return tuned

    def network_config(self) -> dict[str, Any]:
        if self.config is not None:
            tuned = self._tuned()
            return dict(tuned.get("network", tuned))
        return {"filters": list(self.filters), "convs_per_block": self.convs_per_block, "pooling": self.pooling,
                "dense_units": self.dense_units, "dropout": self.dropout, "residual_stem": self.residual_stem}

    def build_network(self, pretrained: bool = True, network: dict[str, Any] | None = None) -> Any:
        from aidetect.detectors.architectures import SmallCNN

        return SmallCNN(CNNConfig.from_dict(network or self.network_config()))

    def load_model(self, path: Path, card: ModelCard) -> Any:
        import torch

        network = self.build_network(network=card.info.get("network"))
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return network

    def serve(self, model: Any, card: ModelCard) -> None:
        self.network_ = model.eval()

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        self._ensure_loaded()
        with torch.inference_mode():
            logits: np.ndarray = self.network_(torch.from_numpy(self.inputs(crops))).numpy().ravel()
        return logits


@hookimpl
def register_detectors(register: Register) -> None:
    register(
        "cnn",
        CNNDetector,
        description="Small tunable CNN on native-resolution 128 px crops (PyTorch)",
        backend="torch",
        requires=["torch"],
        extra="torch",
        aliases=["small-cnn"],
        card="cnn",
    )
