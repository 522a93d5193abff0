"""Deprecated: the neural detectors' `fit`, `save` and `torch_module` are their own methods now.

Training is `aidetect.training.neural.train_neural` (``(network, card)`` out),
and a detector is built from its result with ``Detector.from_trained(network, card)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"aidetect.training.fit.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def fit_neural_detector(detector: Any, data: Any, val: Any) -> None:
    _deprecated("fit_neural_detector", "detector.fit(data, val)")
    detector.fit(data, val)


def save_neural_detector(detector: Any, path: Path) -> Path:
    _deprecated("save_neural_detector", "detector.save(path)")
    saved: Path = detector.save(path)
    return saved


def torch_module_of(detector: Any) -> Any:
    _deprecated("torch_module_of", "detector.torch_module()")
    return detector.torch_module()


def raw_logits(network: Any, batch: np.ndarray) -> np.ndarray:
    """Logits of a normalised float32 NCHW batch, with no autograd."""
    import torch

    _deprecated("raw_logits", "the network itself under torch.inference_mode()")
    with torch.inference_mode():
        logits: np.ndarray = network(torch.from_numpy(batch)).numpy().ravel()
    return logits
