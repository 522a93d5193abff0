"""Training the neural detectors (cnn, efficientnet): network + data -> (trained network, model card).

`train_neural` is the trainer a `NeuralDetector` names: it runs the shared
loop (`aidetect.training.loop.train`) on the detector's `TrainConfig`, then
builds the card and calibrates it on the validation data through the
detector's own inference path (same crops, same averaging as `predict`), and
returns ``(network, card)``; `NeuralDetector.from_trained(network, card)`
(which `fit` calls) serves it. Checkpoints go to the detector's ``work_dir``,
or to a temporary folder deleted when training ends.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aidetect import preprocess
from aidetect.datasets import Dataset, split_dataset
from aidetect.io import load_image
from aidetect.metrics import roc_auc
from aidetect.recalibrate import calibrated_card
from aidetect.trainable import Log
from aidetect.trainconfig import TrainConfig
from aidetect.training.datacard import data_summary
from aidetect.training.loop import TrainResult, train
from aidetect.weights import ModelCard

if TYPE_CHECKING:
    from aidetect.detectors.neural import NeuralDetector

__all__ = ["calibrate_on", "train_neural", "training_card"]


@contextlib.contextmanager
def _work_dir(path: str | os.PathLike[str] | None, name: str) -> Iterator[Path]:
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=f"aidetect-{name}-") as temporary:
        yield Path(temporary)


def train_neural(detector: NeuralDetector, data: Dataset, val: Dataset | None, *, log: Log) -> tuple[Any, ModelCard]:
    """Train ``detector``'s network on ``data``, calibrate on ``val``; return ``(network, card)``."""
    config = detector.training_config()
    if val is None:
        data, val, _ = split_dataset(data, val=0.1, test=0.0, seed=config.seed)
    torch.manual_seed(config.seed)  # the head's random initialisation is part of the run
    network = detector.build_network()
    with _work_dir(detector.work_dir, detector.name) as work_dir:
        resume = None if detector.resume is None else Path(detector.resume)
        result = train(network, data, val, config, work_dir, resume=resume, log=log)
    network.eval()
    card = training_card(detector, data, val, config, result)
    return network, calibrate_on(detector, network, card, val, method=config.calibration)


def training_card(
    detector: NeuralDetector, data: Dataset, val: Dataset, config: TrainConfig, result: TrainResult
) -> ModelCard:
    """The card of a freshly trained network, before calibration (weights entries are filled in by `save`)."""
    return ModelCard(
        name=detector.name,
        architecture=detector.architecture,
        weights_file=f"model{detector.weights_suffix}",
        sha256="",
        input_size=detector.input_size or detector.default_input_size,
        info={
            "network": detector.network_config(),
            "training": {
                **data_summary(data, val),
                "config": config.to_dict(),
                "epochs_run": len(result.history),
                "best_epoch": result.best_epoch + 1,
                "seconds": round(result.seconds, 1),
                "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
                "history": [vars(record) for record in result.history],
            },
        },
    )


def calibrate_on(detector: NeuralDetector, network: Any, card: ModelCard, val: Dataset, *,
                 method: str = "platt") -> ModelCard:
    """``card`` calibrated on ``val`` as ``detector`` would score it, with validation AUCs (clean and normalised)."""
    probe = type(detector).from_trained(network, card, input_size=detector.input_size, threads=detector.threads)
    images = [load_image(path) for path in val.paths]
    raw = probe.decision_function(images, batch_size=detector.training.batch_size)
    raw_normalised = probe.decision_function([preprocess.normalise_format(image) for image in images])
    info = {**card.info, "validation": {"auc": roc_auc(val.labels, raw),
                                        "auc_normalised": roc_auc(val.labels, raw_normalised), "n": len(val)}}
    return calibrated_card(card.replace(info=info), raw, val.labels, method=method)
