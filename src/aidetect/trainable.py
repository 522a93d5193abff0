"""The lifecycle of trainable detectors: the `Trainable` / `Exportable` protocols and their shared base.

One path for every trainable detector, built-in or from a plugin:

* **train**: the detector's *trainer* (a ``"module:function"`` reference, as
  entry points are written) turns data into ``(model, card)``: a fitted network
  or estimator and its `aidetect.weights.ModelCard`. The reference is resolved
  only when `fit` runs, so inference code never imports the training package
  (nor torch or scikit-learn's fitting code).
* **build**: `TrainableDetector.from_trained(model, card, **options)`, the one
  constructor from a trained model, also used by `fit` itself.
* **save / load**: `save(path)` writes the weights and their card;
  ``weights=PATH`` loads them back through card -> verify -> load
  (`aidetect.weights.verified_model`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from aidetect.detector import BaseDetector
from aidetect.errors import InvalidOptionError

if TYPE_CHECKING:
    from aidetect.datasets import Dataset
    from aidetect.weights import ModelCard

Log = Callable[[str], None]
"""Where a trainer reports progress, one line at a time."""

TrainerFunction = Callable[..., "tuple[Any, ModelCard]"]
"""``trainer(detector, train, val, *, log) -> (model, card)``; ``val`` may be None (the trainer splits one off)."""

T = TypeVar("T", bound="TrainableDetector")

__all__ = ["Exportable", "Log", "Trainable", "TrainableDetector", "resolve_trainer"]


@runtime_checkable
class Trainable(Protocol):
    """A detector that can be trained and saved (what ``aidetect train`` and leave-one-out need).

    ``fit(dataset, val=None)`` trains in place and returns the detector; it may
    take a keyword ``log`` (a `Log`) for progress lines. ``save(path)`` writes
    the weights and their card and returns the weights path. `TrainableDetector`
    implements both, plus ``weights_path(path)``, which lets ``aidetect train``
    refuse an ``--out`` it cannot honour before training.
    """

    def fit(self, dataset: Dataset, val: Dataset | None = None) -> Any: ...

    def save(self, path: str | os.PathLike[str]) -> Path: ...


@runtime_checkable
class Exportable(Protocol):
    """A detector whose network can be written as ONNX (what ``aidetect export-onnx`` needs)."""

    def export_onnx(self, path: str | os.PathLike[str], *, opset: int = 17) -> Path: ...


def resolve_trainer(reference: str) -> TrainerFunction:
    """``"package.module:function"`` -> the function (imported now, not when the detector module was)."""
    module_name, _, attribute = reference.partition(":")
    function: TrainerFunction = getattr(importlib.import_module(module_name), attribute)
    return function


def _quiet(message: str) -> None:
    """The default `Log`: training says nothing unless asked."""


class TrainableDetector(BaseDetector):
    """Base of detectors with a `fit` (cnn, efficientnet, forensic-svm, and plugins that want the same path).

    Behaviour comes from the model card: crop policy, calibration, default
    threshold, FPR thresholds. A subclass sets `card_name`, `trainer` and
    `weights_suffix`, and implements `load_model` (weights file -> model),
    `serve` (make a model the one `raw_scores` uses) and `save`.
    """

    card_name: ClassVar[str]
    """The bundled model card used when no ``weights`` are given."""
    trainer: ClassVar[str]
    """``"module:function"`` of the trainer, see `TrainerFunction`."""
    weights_suffix: ClassVar[str]
    """The suffix `save` gives the weights file (``.onnx``, ``.pt``, ``.skops``)."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, **decision: Any) -> None:
        super().__init__(**decision)
        self.weights = weights

    @classmethod
    def from_trained(cls: type[T], model: Any, card: ModelCard, **options: Any) -> T:
        """The detector serving ``model`` (a trained network or fitted estimator) as ``card`` describes.

        The one constructor from a trained model (`fit` ends with it too).
        ``options`` are the constructor's (``threads=``, ``decision=``, ...), never ``weights``.
        """
        detector = cls(**options)
        detector.adopt(model, card)
        return detector

    # -- what a subclass provides ----------------------------------------------------
    def load_model(self, path: Path, card: ModelCard) -> Any:
        """Read the (already sha256-checked) weights file ``path`` into a model `serve` accepts."""
        raise NotImplementedError

    def serve(self, model: Any, card: ModelCard) -> None:
        """Make ``model`` the one `raw_scores` runs."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the weights (`weights_path`) and the model card beside them; return the weights path."""
        raise NotImplementedError

    # -- the model and its card ------------------------------------------------------
    @property
    def card_(self) -> ModelCard:
        """The model card in use (the trained one after `fit`, else the one of ``weights``)."""
        self._ensure_loaded()
        return self._card

    def adopt(self, model: Any, card: ModelCard) -> None:
        """Serve ``model`` with ``card`` from now on (the state loading ``weights`` would have built)."""
        with self._lock:
            self.serve(model, card)
            self.adopt_card(card)

    def adopt_card(self, card: ModelCard) -> None:
        """Keep the model, take ``card``'s calibration and thresholds (e.g. after `aidetect.recalibrate.calibrate`)."""
        from aidetect.calibration import calibrator_from_dict

        self._calibrator = calibrator_from_dict(card.calibration)
        self._card = card

    def _is_loaded(self) -> bool:
        return getattr(self, "_card", None) is not None

    def _load(self) -> None:
        from aidetect.weights import verified_model

        card, path = verified_model(self.weights, card_name=self.card_name, detector=self.name)
        self.adopt(self.load_model(path, card), card)

    def calibrate(self, raw: Any) -> Any:
        import numpy as np

        return self._calibrator.transform(np.asarray(raw, dtype=np.float64))

    def default_threshold(self) -> float:
        return float(self.card_.threshold)

    def fpr_thresholds(self) -> dict[float, float]:
        return dict(self.card_.fpr_thresholds)

    # -- training and saving ---------------------------------------------------------
    def fit(self: T, dataset: Dataset, val: Dataset | None = None, *, log: Log | None = None) -> T:
        """Train on ``dataset``; calibrate and choose thresholds on ``val`` (split off when not given)."""
        model, card = resolve_trainer(self.trainer)(self, dataset, val, log=log or _quiet)
        self.adopt(model, card)
        return self

    def weights_path(self, path: str | os.PathLike[str]) -> Path:
        """The file `save(path)` writes the weights to; refuses a suffix it cannot honour, before any training."""
        path = Path(path)
        if path.suffix not in ("", self.weights_suffix) and not self.accepts_suffix(path.suffix):
            raise InvalidOptionError(
                f"{path}: {self.name} weights are saved as {self.weights_suffix} files; "
                f"use {path.with_suffix(self.weights_suffix)}"
            )
        return path.with_suffix(self.weights_suffix)

    def accepts_suffix(self, suffix: str) -> bool:
        """Whether `save` may be given a path ending in ``suffix`` (it then writes ``weights_suffix``)."""
        return False
