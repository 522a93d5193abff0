"""The report model's records: scores of one run, metrics of one detector under one condition, left-out images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aidetect import metrics
from aidetect.datasets import Dataset
from aidetect.evaluation.conditions import CLEAN

DELTA_METRICS = ("roc_auc", "accuracy")
"""Metrics whose change from ``clean`` is reported for every other condition."""


@dataclass(frozen=True)
class EvaluationError:
    """An image left out: ``detector`` and ``condition`` are None when it could not even be loaded."""

    path: str
    message: str
    detector: str | None = None
    condition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "detector": self.detector, "condition": self.condition}


@dataclass
class ScoredImages:
    """One detector's scores on one condition: ``indices`` point into the dataset scored."""

    indices: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    n_uncertain: int = 0


@dataclass
class ScoringRun:
    """What `score_dataset` returns: scores per condition and the images that failed."""

    conditions: dict[str, ScoredImages]
    errors: list[EvaluationError] = field(default_factory=list)


@dataclass
class ConditionResult:
    """Metrics of one detector under one condition, with the data they came from."""

    detector: str
    condition: str
    metrics: dict[str, Any]
    per_generator: dict[str, dict[str, float]]
    scores: np.ndarray
    labels: np.ndarray
    generators: list[str]
    thresholds: np.ndarray
    n_uncertain: int = 0
    delta: dict[str, float] | None = None
    """``metric(condition) - metric(clean)`` for `DELTA_METRICS`: negative means the condition hurts."""
    indices: np.ndarray | None = None
    """Position in the scored dataset of each score (images that failed are left out)."""

    def to_dict(self, include_scores: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "metrics": self.metrics,
            "per_generator": self.per_generator,
            "n_uncertain": self.n_uncertain,
            "delta": self.delta,
        }
        if include_scores:
            data["scores"] = self.scores.tolist()
            data["labels"] = self.labels.tolist()
            data["generators"] = list(self.generators)
        return data


def condition_result(
    detector: str, condition: str, scored: ScoredImages, dataset: Dataset, threshold: float | None
) -> ConditionResult:
    labels = dataset.labels[scored.indices]
    all_generators = dataset.generators
    generators = [all_generators[i] for i in scored.indices.tolist()]
    thresholds = scored.thresholds if threshold is None else np.full(scored.scores.shape, float(threshold))
    return ConditionResult(
        detector=detector,
        condition=condition,
        metrics=metrics.binary_report(labels, scored.scores, thresholds),
        per_generator=metrics.per_group_report(labels, scored.scores, generators, thresholds),
        scores=scored.scores,
        labels=labels,
        generators=generators,
        thresholds=thresholds,
        n_uncertain=scored.n_uncertain,
        indices=scored.indices,
    )


def add_deltas(results: dict[str, ConditionResult]) -> None:
    clean = results.get(CLEAN)
    if clean is None:
        return
    for condition, result in results.items():
        if condition != CLEAN:
            result.delta = {key: result.metrics[key] - clean.metrics[key] for key in DELTA_METRICS}


