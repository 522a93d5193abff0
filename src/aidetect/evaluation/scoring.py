"""Scoring a labelled dataset under conditions, chunk by chunk, leaving out (and recording) broken images."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from aidetect.datasets import Dataset, Sample
from aidetect.detector import UNCERTAIN_LABEL, Detector, Prediction
from aidetect.errors import ImageError
from aidetect.evaluation.conditions import CLEAN, Transform
from aidetect.evaluation.results import EvaluationError, ScoredImages, ScoringRun
from aidetect.io import load_image

_LOAD_ERRORS = (ImageError, OSError, ValueError)
"""What a broken image can raise while being loaded or transformed; anything else is a bug and propagates."""


def _chunks(samples: Sequence[Sample], size: int) -> Iterator[tuple[int, Sequence[Sample]]]:
    for start in range(0, len(samples), size):
        yield start, samples[start : start + size]


def detector_name(detector: Detector) -> str:
    return str(getattr(detector, "name", None) or type(detector).__name__)


class _Accumulator:
    """Collects one condition's scores chunk by chunk."""

    def __init__(self) -> None:
        self.indices: list[int] = []
        self.scores: list[float] = []
        self.thresholds: list[float] = []
        self.n_uncertain = 0

    def add(self, index: int, prediction: Prediction) -> None:
        self.indices.append(index)
        self.scores.append(float(prediction.score))
        self.thresholds.append(float(prediction.threshold))
        self.n_uncertain += prediction.label == UNCERTAIN_LABEL

    def result(self) -> ScoredImages:
        return ScoredImages(
            np.asarray(self.indices, dtype=np.int64),
            np.asarray(self.scores, dtype=np.float64),
            np.asarray(self.thresholds, dtype=np.float64),
            self.n_uncertain,
        )


def _predict_isolating_failures(
    detector: Detector, arrays: list[np.ndarray], batch_size: int
) -> list[Prediction | ImageError]:
    """Predict a chunk; if one image breaks the batch, retry one by one so only that image is lost."""
    try:
        return list(detector.predict_batch(arrays, batch_size=batch_size))
    except ImageError:
        pass
    outcomes: list[Prediction | ImageError] = []
    for array in arrays:
        try:
            outcomes.append(detector.predict_batch([array], batch_size=1)[0])
        except ImageError as exc:
            outcomes.append(exc)
    return outcomes


def _reason(exc: Exception) -> str:
    # An ImageError's message starts with the source; the report names the path separately.
    return exc.reason if isinstance(exc, ImageError) else f"{type(exc).__name__}: {exc}"


def _load_chunk(chunk: Sequence[Sample], start: int, errors: list[EvaluationError]) -> list[tuple[int, np.ndarray]]:
    loaded = []
    for offset, sample in enumerate(chunk):
        try:
            loaded.append((start + offset, load_image(sample.path)))
        except _LOAD_ERRORS as exc:
            errors.append(EvaluationError(str(sample.path), _reason(exc)))
    return loaded


def score_dataset(
    detector: Detector,
    dataset: Dataset,
    conditions: Mapping[str, Transform | None] | None = None,
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> ScoringRun:
    """Score every image of ``dataset`` under each condition (name -> transform, None = as loaded).

    Each image is loaded once and transformed for every condition. Images that
    fail to load, transform or score are recorded in ``errors`` and left out.
    ``progress`` is called with the number of images just processed, per
    condition, so its total is ``len(dataset) * len(conditions)``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    transforms = dict(conditions) if conditions is not None else {CLEAN: None}
    name = detector_name(detector)
    accumulators = {condition: _Accumulator() for condition in transforms}
    errors: list[EvaluationError] = []
    for start, chunk in _chunks(dataset.samples, batch_size):
        loaded = _load_chunk(chunk, start, errors)
        for condition, transform in transforms.items():
            indices, arrays = _apply_transform(loaded, transform, dataset, name, condition, errors)
            outcomes = _predict_isolating_failures(detector, arrays, batch_size) if arrays else []
            for index, outcome in zip(indices, outcomes, strict=True):
                if isinstance(outcome, Prediction):
                    accumulators[condition].add(index, outcome)
                else:
                    errors.append(EvaluationError(str(dataset[index].path), _reason(outcome), name, condition))
            if progress is not None:
                progress(len(chunk))
    return ScoringRun({condition: acc.result() for condition, acc in accumulators.items()}, errors)


def _apply_transform(
    loaded: list[tuple[int, np.ndarray]],
    transform: Transform | None,
    dataset: Dataset,
    detector: str,
    condition: str,
    errors: list[EvaluationError],
) -> tuple[list[int], list[np.ndarray]]:
    if transform is None:
        return [index for index, _ in loaded], [image for _, image in loaded]
    indices, arrays = [], []
    for index, image in loaded:
        try:
            arrays.append(transform(image))
            indices.append(index)
        except _LOAD_ERRORS as exc:
            errors.append(EvaluationError(str(dataset[index].path), _reason(exc), detector, condition))
    return indices, arrays


