"""What the PyTorch-trained detectors (cnn, efficientnet) share: inference from a card, saving, ONNX export.

Behaviour comes from the model card: input size, normalisation, crop policy,
calibration, thresholds. A subclass says how to build its network
(`build_network`), how to read and serve a model (`load_model`, `serve`),
how to run inference (`raw_scores`) and its training defaults
(`default_training`). Training itself is `aidetect.training.neural.train_neural`,
named by `trainer` and imported only by `fit`; this module imports neither
torch nor the training package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.detector import CropPolicy
from aidetect.errors import DetectorError, NotFittedError
from aidetect.preprocess import to_nchw_float
from aidetect.trainable import TrainableDetector
from aidetect.trainconfig import TrainConfig
from aidetect.weights import sha256_file


class NeuralDetector(TrainableDetector):
    """Base of the card-driven neural detectors. Subclasses set the class variables below.

    Parameters
    ----------
    weights
        Weights file with its ``.json`` model card beside it; ``None``: the bundled model.
    input_size
        Crop size at inference (default: the card's).
    threads
        CPU threads for inference (and for training, unless the training config sets its own).
    decision, threshold, target_fpr, uncertain_band
        The decision rule, see `aidetect.detector.BaseDetector`.
    training
        A `aidetect.TrainConfig` for `fit`; default: `default_training`.
    resume, work_dir
        `fit` continues from this checkpoint / keeps its checkpoints in this
        folder (default: a temporary folder, deleted after training).
    **training_options
        Fields of `TrainConfig` (``epochs=``, ``lr=``, ``batch_size=``, ...,
        and ``crop_size=`` for the training crops), applied over ``training``;
        an unknown name or bad value raises `aidetect.errors.InvalidOptionError` here.
    """

    architecture: ClassVar[str]
    trainer: ClassVar[str] = "aidetect.training.neural:train_neural"
    default_training: ClassVar[TrainConfig] = TrainConfig(weight_decay=1e-2)
    default_input_size: ClassVar[int] = 224
    explain_methods: ClassVar[tuple[str, ...]] = ("window", "occlusion")

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        input_size: int | None = None,
        threads: int | None = None,
        training: TrainConfig | None = None,
        resume: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        decision: Any = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
        **training_options: Any,
    ) -> None:
        super().__init__(weights, decision=decision, threshold=threshold, target_fpr=target_fpr,
                         uncertain_band=uncertain_band)
        self.input_size = input_size
        self.threads = _thread_count(threads, self.name)
        self.training = (training or self.default_training).with_options(**training_options)
        self.resume = resume
        self.work_dir = work_dir
        self.network_: Any = None

    def training_config(self) -> TrainConfig:
        """The config `fit` runs: `training`, with this detector's threads and inference crop size filled in.

        Validation crops are cut at the inference ``input_size``, so the epoch
        chosen is the best one for the crops `predict` will see.
        """
        config = self.training
        return replace(config, threads=config.threads or self.threads,
                       eval_size=config.eval_size or self.input_size or self.default_input_size)

    @property
    def history_(self) -> list[dict[str, Any]]:
        """Per-epoch training records of the model in use (from its card; empty if it has none)."""
        history: list[dict[str, Any]] = self.card_.info.get("training", {}).get("history", [])
        return history

    # -- inference -------------------------------------------------------------------
    def crop_policy(self) -> CropPolicy:
        card = self.card_
        return CropPolicy(self.input_size or card.input_size, card.max_tiles_per_side)

    def inputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The normalised float32 NCHW batch the network sees for ``crops``."""
        return to_nchw_float(crops, self.card_.normalisation)

    # -- the torch network -----------------------------------------------------------
    def build_network(self, pretrained: bool = True) -> Any:
        """A fresh torch module (pretrained where the architecture has ImageNet weights)."""
        raise NotImplementedError

    def network_config(self) -> dict[str, Any]:
        """Architecture hyper-parameters to store in the card."""
        return {}

    def torch_module(self) -> Any:
        """The trained torch module: the one served or trained, else rebuilt from the card's ``.pt`` state dict."""
        self._ensure_loaded()
        if self.network_ is not None:
            return self.network_
        import torch

        from aidetect.weights import resolve_card_file

        card = self.card_
        if not card.info.get("torch_state_dict"):
            raise NotFittedError(f"{self.name}: the model card names no torch state dict to rebuild the network from")
        state_path = resolve_card_file(card, "torch_state_dict")  # the wheel leaves it out: cache or download
        network = self.build_network(pretrained=False)
        network.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
        self.network_ = network.eval()
        return self.network_

    # -- saving and export -----------------------------------------------------------
    def accepts_suffix(self, suffix: str) -> bool:
        return True  # `save` writes the weights with `weights_suffix` and the state dict as .pt beside them

    def save(self, path: str | os.PathLike[str], **variants: Any) -> Path:
        """Write the weights (`weights_path`), the ``.pt`` state dict and the ``.json`` card beside them.

        ``variants`` go to `saved_variants` (efficientnet: ``int8_calibration=DATASET``).
        """
        import torch

        network = self.torch_module()
        weights_path = self.weights_path(path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        state_path = weights_path.with_suffix(".pt")
        torch.save(network.state_dict(), state_path)
        if weights_path != state_path:
            self.export_onnx(weights_path)
        card = self.card_
        saved = card.replace(
            weights_file=weights_path.name, sha256=sha256_file(weights_path), path=None,
            weights_format="onnx" if weights_path.suffix == ".onnx" else "torch",
            info={**{key: value for key, value in card.info.items() if key != "int8"},  # only variants made now
                  "torch_state_dict": {"file": state_path.name, "sha256": sha256_file(state_path)},
                  **self.saved_variants(weights_path, **variants)},
        )
        saved.write(weights_path.with_suffix(".json"))
        return weights_path

    def saved_variants(self, weights_path: Path, **variants: Any) -> dict[str, Any]:
        """Write extra files beside ``weights_path`` (e.g. an int8 model); return their card entries."""
        if variants:
            from aidetect.errors import InvalidOptionError

            raise InvalidOptionError(f"{self.name}: save() takes no {sorted(variants)}")
        return {}

    def export_onnx(self, path: str | os.PathLike[str], *, opset: int = 17) -> Path:
        """Export the network to ONNX (dynamic batch, the card's input size); outputs match torch to 1e-4."""
        from aidetect.export import check_parity, export_module

        network = self.torch_module()
        size = self.crop_policy().input_size
        exported = Path(export_module(network, Path(path), size, opset=opset))
        check_parity(network, exported, size, what=self.name)
        return exported


def _thread_count(threads: Any, detector: str) -> int | None:
    """``threads`` checked here: a wrong type would surface as a backend's binding signature, not as our error."""
    if threads is None or (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        return threads
    raise DetectorError(f"{detector}: threads must be a whole number of at least 1, got {threads!r}")
