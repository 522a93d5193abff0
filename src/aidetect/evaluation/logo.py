"""Leave one generator out: retrain without each generator and test on it, to measure generalisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidetect.datasets import REAL, Dataset
from aidetect.errors import DatasetError
from aidetect.evaluation.conditions import CLEAN
from aidetect.evaluation.results import ConditionResult, condition_result
from aidetect.evaluation.scoring import detector_name, score_dataset


def _held_out_reals(dataset: Dataset, share: float, seed: int) -> set[int]:
    real_indices = np.flatnonzero(dataset.labels == REAL)
    count = round(share * real_indices.size)
    picks = np.random.default_rng(seed).choice(real_indices, size=count, replace=False)
    return set(picks.tolist())


def leave_one_generator_out(
    make_detector: Callable[[], Any],
    dataset: Dataset,
    generators: Sequence[str],
    *,
    seed: int = 0,
    real_share: float = 0.2,
    batch_size: int = 32,
    threshold: float | None = None,
) -> dict[str, dict[str, float]]:
    """For each generator G: train a fresh detector without G, test on G's images plus held-out reals.

    ``make_detector()`` must return an untrained detector with ``fit(dataset)``.
    A share ``real_share`` of the real images (the same ones for every G,
    drawn with ``seed``) is never trained on and serves as the negatives.
    Returns per G: ``n_ai, n_real, recall`` (share of G's images caught),
    ``specificity``, ``accuracy`` and ``auc`` (G versus the held-out reals).
    """
    if not 0.0 < real_share < 1.0:
        raise ValueError(f"real_share must be in (0, 1), got {real_share}")
    known = set(dataset.generators)
    missing = [g for g in generators if g not in known or g == "real"]
    if missing:
        have = sorted(known - {"real"})
        raise DatasetError(f"no AI images of generator(s) {missing} in {dataset.name}; it has {have}")
    held_out = _held_out_reals(dataset, real_share, seed)
    sample_generators = dataset.generators
    table: dict[str, dict[str, float]] = {}
    for generator in generators:
        train = _subset(dataset, [i for i, g in enumerate(sample_generators) if g != generator and i not in held_out])
        test = _subset(dataset, [i for i, g in enumerate(sample_generators) if g == generator or i in held_out])
        detector = make_detector()
        detector.fit(train)
        scored = score_dataset(detector, test, batch_size=batch_size).conditions[CLEAN]
        table[generator] = _logo_row(condition_result(detector_name(detector), CLEAN, scored, test, threshold))
    return table


def _subset(dataset: Dataset, indices: Sequence[int]) -> Dataset:
    return Dataset(tuple(dataset.samples[i] for i in indices), name=dataset.name, root=dataset.root)


def _logo_row(result: ConditionResult) -> dict[str, float]:
    m = result.metrics
    keys = ("n_ai", "n_real", "recall", "specificity", "accuracy")
    return {**{key: m[key] for key in keys}, "auc": m["roc_auc"]}
