"""`fit` and `save` of the neural detectors, shared by cnn and efficientnet.

After training, the detector is calibrated on validation data with the same
crop policy it will use at inference (Platt scaling of the mean crop logit),
and the thresholds that give 0.1% / 1% / 5% / 10% false positives on the
validation reals are stored in its model card.
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aidetect import preprocess
from aidetect.calibration import fpr_table, make_calibrator
from aidetect.datasets import Dataset, split_dataset
from aidetect.errors import NotFittedError
from aidetect.io import load_image
from aidetect.metrics import roc_auc
from aidetect.training.augment import AugmentConfig
from aidetect.training.loop import TrainConfig, TrainResult, train
from aidetect.weights import ModelCard, sha256_file

if TYPE_CHECKING:
    from aidetect.detectors.neural import NeuralDetector


def train_config_of(detector: NeuralDetector) -> TrainConfig:
    tuned = detector.tuned_training()
    return TrainConfig(
        epochs=detector.epochs,
        patience=detector.patience,
        batch_size=detector.batch_size,
        lr=detector.lr or tuned.get("lr") or detector.default_lr,
        optimizer=tuned.get("optimizer", detector.optimizer),
        weight_decay=detector.weight_decay,
        seed=detector.seed,
        num_workers=detector.num_workers,
        threads=detector.threads,
        augment=AugmentConfig(crop_size=detector.crop_size or detector.default_crop_size),
    )


def fit_neural_detector(detector: NeuralDetector, data: Dataset, val: Dataset | None) -> None:
    """Train, attach the trained network, calibrate, and fill in the model card."""
    if val is None:
        data, val, _ = split_dataset(data, val=0.1, test=0.0, seed=detector.seed)
    config = train_config_of(detector)
    work_dir = Path(detector.work_dir or tempfile.mkdtemp(prefix=f"aidetect-{detector.name}-"))
    torch.manual_seed(config.seed)  # the head's random initialisation is part of the run
    network = detector.build_network()
    result = train(network, data, val, config, work_dir, resume=detector.resume)
    adopt_trained_network(detector, network, data, val, config, result, work_dir)


def adopt_trained_network(
    detector: NeuralDetector,
    network: torch.nn.Module,
    data: Dataset,
    val: Dataset,
    config: TrainConfig,
    result: TrainResult,
    work_dir: Path,
) -> None:
    """Make ``network`` (trained by `train`) the detector's model: card, backend, calibration."""
    network.eval()
    detector.model_ = network
    detector.history_ = result.history
    card = ModelCard(
        name=detector.name,
        architecture=detector.architecture,
        weights_file=f"model{detector.weights_suffix}",
        sha256="",
        input_size=detector.input_size or detector.default_input_size,
        info={
            "network": detector.network_config(),
            "training": {
                "data": data.name,
                "n_train": len(data),
                "n_val": len(val),
                "config": config.to_dict(),
                "epochs_run": len(result.history),
                "best_epoch": result.best_epoch + 1,
                "seconds": round(result.seconds, 1),
                "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
                "history": [vars(record) for record in result.history],
            },
        },
    )
    detector._attach_trained(network, card, work_dir)
    _calibrate(detector, val)


def _calibrate(detector: NeuralDetector, val: Dataset) -> None:
    images = [load_image(path) for path in val.paths]
    raw = detector.decision_function(images, batch_size=detector.batch_size)
    raw_normalised = detector.decision_function([preprocess.normalise_format(image) for image in images])
    calibrator = make_calibrator(detector.calibration).fit(raw, val.labels)
    probabilities = calibrator.transform(raw)
    card = detector._card
    info = dict(card.info)
    info["validation"] = {
        "auc": roc_auc(val.labels, raw),
        "auc_normalised": roc_auc(val.labels, raw_normalised),
        "n": len(val),
    }
    detector._set_card(
        ModelCard(
            **{**vars(card), "calibration": calibrator.to_dict(),
               "fpr_thresholds": fpr_table(probabilities[val.labels == 0]), "info": info}
        )
    )


def save_neural_detector(detector: NeuralDetector, path: Path) -> Path:
    """Write ``path`` (inference weights), a ``.pt`` state dict and the ``.json`` card beside it."""
    network = torch_module_of(detector)
    weights_path = path.with_suffix(detector.weights_suffix)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state_path = path.with_suffix(".pt")
    torch.save(network.state_dict(), state_path)
    if weights_path != state_path:
        detector.export_onnx(weights_path)
    card = detector.card_
    info = dict(card.info)
    info["torch_state_dict"] = {"file": state_path.name, "sha256": sha256_file(state_path)}
    saved = ModelCard(**{**vars(card), "weights_file": weights_path.name, "sha256": sha256_file(weights_path),
                         "info": info, "path": None})
    saved.write(path.with_suffix(".json"))
    return weights_path


def torch_module_of(detector: NeuralDetector) -> Any:
    """The trained module: the one from `fit`, or rebuilt from the ``.pt`` state dict named by the card."""
    network = getattr(detector, "model_", None)
    if network is not None:
        return network
    card = detector.card_
    if not card.info.get("torch_state_dict"):
        raise NotFittedError(f"{detector.name}: the model card names no torch state dict to rebuild the network from")
    from aidetect.weights import resolve_card_file

    state_path = resolve_card_file(card, "torch_state_dict")  # the wheel leaves it out: cache or download
    network = detector.build_network(pretrained=False)
    network.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    network.eval()
    detector.model_ = network
    return network


def raw_logits(network: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    """Logits of a normalised float32 NCHW batch, with no autograd."""
    with torch.inference_mode():
        return network(torch.from_numpy(batch)).numpy().ravel()
