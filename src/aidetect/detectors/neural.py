"""What the PyTorch-trained detectors (cnn, efficientnet) share.

Behaviour comes from the model card: input size, normalisation, crop policy,
calibration, thresholds. Training (`fit`), saving and ONNX export live here
once for both; a subclass says how to build its network (`build_network`),
how to run inference (`raw_scores`) and what its defaults are. This module
imports no torch: `fit` and `export_onnx` import the training package only
when called.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.calibration import calibrator_from_dict
from aidetect.datasets import Dataset
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.errors import NotFittedError
from aidetect.preprocess import to_nchw_float
from aidetect.weights import ModelCard, card_for_weights, load_card, resolve_weights


class NeuralDetector(BaseDetector):
    """Base of the card-driven neural detectors. Subclasses set the class variables below."""

    card_name: ClassVar[str]
    architecture: ClassVar[str]
    weights_suffix: ClassVar[str]
    default_lr: ClassVar[float] = 1e-3
    default_crop_size: ClassVar[int] = 160
    default_input_size: ClassVar[int] = 224
    explain_methods: ClassVar[tuple[str, ...]] = ("window", "occlusion")

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        epochs: int = 8,
        patience: int = 3,
        batch_size: int = 32,
        lr: float | None = None,
        weight_decay: float = 1e-2,
        optimizer: str = "adamw",
        crop_size: int | None = None,
        input_size: int | None = None,
        seed: int = 0,
        resume: str | os.PathLike | None = None,
        work_dir: str | os.PathLike | None = None,
        num_workers: int = 1,
        threads: int | None = None,
        calibration: str = "platt",
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, target_fpr=target_fpr, uncertain_band=uncertain_band)
        self.weights = weights
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.crop_size = crop_size
        self.input_size = input_size
        self.seed = seed
        self.resume = resume
        self.work_dir = work_dir
        self.num_workers = num_workers
        self.threads = threads
        self.calibration = calibration

    # -- model card ------------------------------------------------------------------
    @property
    def card_(self) -> ModelCard:
        """The model card in use (the trained one after `fit`, else the one of ``weights``)."""
        self._ensure_loaded()
        return self._card

    def crop_policy(self) -> CropPolicy:
        card = self.card_
        return CropPolicy(self.input_size or card.input_size, card.max_tiles_per_side)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return self._calibrator.transform(np.asarray(raw, dtype=np.float64))

    def default_threshold(self) -> float:
        return self.card_.threshold

    def fpr_thresholds(self) -> dict[float, float]:
        return self.card_.fpr_thresholds

    def inputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The normalised float32 NCHW batch the network sees for ``crops``."""
        return to_nchw_float(crops, self.card_.normalisation)

    # -- loading ---------------------------------------------------------------------
    def _is_loaded(self) -> bool:
        return getattr(self, "_card", None) is not None

    def _load(self) -> None:
        card = self._card_for(self.weights)
        path = resolve_weights(card, self.weights)
        self._load_backend(path, card)
        self._calibrator = calibrator_from_dict(card.calibration)
        self._card = card

    def _card_for(self, weights: str | os.PathLike | None) -> ModelCard:
        if weights is not None:
            own = card_for_weights(weights)
            if own is not None:
                return own
        try:
            return load_card(self.card_name)
        except Exception as exc:
            raise NotFittedError(
                f"{self.name}: no bundled model card {self.card_name!r} and no card beside the weights; "
                f"train one with `aidetect train {self.name}` or pass weights=PATH (with its .json card beside it)"
            ) from exc

    def _load_backend(self, path: Path, card: ModelCard) -> None:
        raise NotImplementedError

    def _attach_trained(self, network: Any, card: ModelCard, work_dir: Path) -> None:
        """After `fit`: serve the freshly trained ``network`` the way loaded weights are served."""
        raise NotImplementedError

    def _set_card(self, card: ModelCard) -> None:
        self._calibrator = calibrator_from_dict(card.calibration)
        self._card = card

    # -- training --------------------------------------------------------------------
    def build_network(self) -> Any:
        """A fresh torch module (pretrained where the architecture has ImageNet weights)."""
        raise NotImplementedError

    def network_config(self) -> dict[str, Any]:
        """Architecture hyper-parameters to store in the card."""
        return {}

    def tuned_training(self) -> dict[str, Any]:
        """Training hyper-parameters from a tuning result (``lr``, ``optimizer``), if any."""
        return {}

    def fit(self, dataset: Dataset, val: Dataset | None = None) -> NeuralDetector:
        """Train on ``dataset``; calibrate and choose thresholds on ``val`` (split off when not given)."""
        from aidetect.training.fit import fit_neural_detector

        fit_neural_detector(self, dataset, val)
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the weights, the ONNX export where relevant, and the model card beside them."""
        from aidetect.training.fit import save_neural_detector

        return save_neural_detector(self, Path(path))

    def export_onnx(self, path: str | os.PathLike, *, opset: int = 17) -> Path:
        """Export the network to ONNX (dynamic batch, the card's input size); outputs match torch to 1e-4."""
        from aidetect.training.export import export_detector_onnx

        return export_detector_onnx(self, Path(path), opset=opset)

    def torch_module(self) -> Any:
        """The trained torch module (loads it from the state dict beside the weights if needed)."""
        from aidetect.training.fit import torch_module_of

        return torch_module_of(self)
