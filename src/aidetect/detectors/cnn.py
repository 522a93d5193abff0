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

from aidetect.detectors.neural import NeuralDetector
from aidetect.hookspecs import hookimpl
from aidetect.training.cnn_config import CNNConfig
from aidetect.weights import ModelCard


class CNNDetector(NeuralDetector):
    """Small CNN on PyTorch.

    Architecture parameters: ``filters`` (per block), ``convs_per_block``,
    ``pooling`` (``"max"``/``"avg"``), ``dense_units``, ``dropout``,
    ``residual_stem`` (feed the fixed high-pass residual beside the pixels);
    the defaults are those of `aidetect.training.cnn_config.CNNConfig`. Or
    ``config``: the path of a JSON written by ``aidetect tune cnn``.
    """

    name: ClassVar[str] = "cnn"
    card_name: ClassVar[str] = "cnn"
    architecture: ClassVar[str] = "small-cnn"
    weights_suffix: ClassVar[str] = ".pt"
    default_lr: ClassVar[float] = 2e-3
    default_crop_size: ClassVar[int] = 128
    default_input_size: ClassVar[int] = 128

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        filters: Sequence[int] = CNNConfig.filters,
        convs_per_block: int = CNNConfig.convs_per_block,
        pooling: str = CNNConfig.pooling,
        dense_units: int = CNNConfig.dense_units,
        dropout: float = CNNConfig.dropout,
        residual_stem: bool = CNNConfig.residual_stem,
        config: str | os.PathLike | None = None,
        **options: Any,
    ) -> None:
        super().__init__(weights, **options)
        self.filters = tuple(filters)
        self.convs_per_block = convs_per_block
        self.pooling = pooling
        self.dense_units = dense_units
        self.dropout = dropout
        self.residual_stem = residual_stem
        self.config = config

    def _tuned(self) -> dict[str, Any]:
        return json.loads(Path(self.config).read_text(encoding="utf-8")) if self.config is not None else {}

    def network_config(self) -> dict[str, Any]:
        if self.config is not None:
            tuned = self._tuned()
            return dict(tuned.get("network", tuned))
        return {"filters": list(self.filters), "convs_per_block": self.convs_per_block, "pooling": self.pooling,
                "dense_units": self.dense_units, "dropout": self.dropout, "residual_stem": self.residual_stem}

    def tuned_training(self) -> dict[str, Any]:
        return dict(self._tuned().get("training", {}))

    def build_network(self, pretrained: bool = True, network: dict[str, Any] | None = None) -> Any:
        from aidetect.training.architectures import SmallCNN

        return SmallCNN(CNNConfig.from_dict(network or self.network_config()))

    def _load_backend(self, path: Path, card: ModelCard) -> None:
        import torch

        network = self.build_network(network=card.info.get("network"))
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model_ = network.eval()

    def _attach_trained(self, network: Any, card: ModelCard, work_dir: Path) -> None:
        self.model_ = network.eval()
        self._set_card(card)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        from aidetect.training.fit import raw_logits

        self._ensure_loaded()
        return raw_logits(self.model_, self.inputs(crops))


@hookimpl
def register_detectors(register: Any) -> None:
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
