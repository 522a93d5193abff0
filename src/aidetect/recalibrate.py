"""Detector-level calibration: fit a calibrator and FPR thresholds on labelled data, into the model card.

The one place a trainable detector's card gets its ``calibration`` and
``fpr_thresholds``: at the end of training (every trainer calls
`calibrated_card`) and afterwards, on data of your choosing (`calibrate`),
e.g. Platt scaling on sources the model never trained on. The calibrators
and threshold arithmetic themselves are in `aidetect.calibration`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from aidetect.calibration import DEFAULT_FPRS, Calibrator, fpr_table, make_calibrator, threshold_for_fpr
from aidetect.datasets import REAL, Dataset

if TYPE_CHECKING:
    from aidetect.detector import Detector
    from aidetect.trainable import TrainableDetector
    from aidetect.weights import ModelCard

__all__ = ["calibrate", "calibrated_card", "fit_calibration", "threshold_for_fpr_on"]


def fit_calibration(
    raw: Iterable[float], labels: np.ndarray, *, method: str, fprs: Iterable[float] = DEFAULT_FPRS
) -> tuple[Calibrator, dict[float, float]]:
    """A ``method`` calibrator fitted on ``raw`` scores, and the FPR thresholds of its outputs on the reals."""
    raw = np.asarray(list(raw) if not isinstance(raw, np.ndarray) else raw, dtype=np.float64)
    calibrator = make_calibrator(method).fit(raw, labels)
    probabilities = calibrator.transform(raw)
    return calibrator, fpr_table(probabilities[np.asarray(labels) == REAL], fprs)


def calibrated_card(
    card: ModelCard,
    raw: Iterable[float],
    labels: np.ndarray,
    *,
    method: str = "platt",
    fitted_on: str | None = None,
    fprs: Iterable[float] = DEFAULT_FPRS,
) -> ModelCard:
    """``card`` with a calibration fitted on ``raw`` scores (one per image) and thresholds for ``fprs``."""
    calibrator, thresholds = fit_calibration(raw, labels, method=method, fprs=fprs)
    calibration = {**calibrator.to_dict(), **({"fitted_on": fitted_on} if fitted_on else {})}
    return card.replace(calibration=calibration, fpr_thresholds=thresholds)


def calibrate(detector: TrainableDetector, dataset: Dataset, *, method: str = "platt",
              batch_size: int = 32) -> ModelCard:
    """Refit ``detector``'s calibration and FPR thresholds on ``dataset``; the detector uses them from now on.

    Scores are the raw scores of inference (mean over the detector's crops), so
    the calibration holds for what `predict` computes. Returns the new card
    (`save` writes it with the weights).
    """
    raw = detector.decision_function(dataset.paths, batch_size=batch_size)
    card = calibrated_card(detector.card_, raw, dataset.labels, method=method,
                           fitted_on=f"{dataset.name} ({len(dataset)} images)")
    detector.adopt_card(card)
    return card


def threshold_for_fpr_on(detector: Detector, dataset: Dataset, fpr: float, batch_size: int = 32) -> float:
    """Score the real images of ``dataset`` with ``detector`` and return `threshold_for_fpr` of them.

    Images that cannot be loaded are skipped with a warning.
    """
    from aidetect.evaluation.scoring import score_dataset

    reals = dataset.where(lambda sample: sample.label == REAL)
    run = score_dataset(detector, reals, batch_size=batch_size)
    if run.errors:
        warnings.warn(
            f"threshold_for_fpr_on: skipped {len(run.errors)} unreadable real image(s), first: {run.errors[0].message}",
            stacklevel=2,
        )
    return threshold_for_fpr(run.conditions["clean"].scores, fpr)
