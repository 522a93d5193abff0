"""`evaluate`: every detector on every condition of a dataset, into one `EvaluationReport`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aidetect.datasets import Dataset
from aidetect.detector import Detector
from aidetect.evaluation.conditions import condition_names, condition_transforms
from aidetect.evaluation.report import EvaluationReport
from aidetect.evaluation.results import ConditionResult, EvaluationError, add_deltas, condition_result
from aidetect.evaluation.scoring import detector_name, score_dataset


def _unique_names(detectors: Sequence[Detector]) -> list[str]:
    """Detector names, numbered when two share one (e.g. the same model at two thresholds)."""
    return unique_names([detector_name(detector) for detector in detectors])


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats numbered: ``efficientnet``, ``efficientnet#2``, ..."""
    unique: list[str] = []
    for base in names:
        name, count = base, 1
        while name in unique:
            count += 1
            name = f"{base}#{count}"
        unique.append(name)
    return unique


def evaluate(
    detectors: Sequence[Detector] | Detector,
    dataset: Dataset,
    *,
    robustness: bool = False,
    normalise: bool = False,
    batch_size: int = 32,
    threshold: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Score ``dataset`` with each detector under each condition and compute every metric.

    Each `Prediction`'s own threshold decides its label unless ``threshold``
    is given. ``progress`` receives the number of images just processed; the
    total is ``len(dataset) * len(detectors) * len(condition_names(...))``.
    """
    # One detector is accepted as is; any iterable is materialised because it is walked twice.
    detectors = [detectors] if isinstance(detectors, Detector) else list(detectors)
    conditions = condition_names(robustness=robustness, normalise=normalise)
    transforms = condition_transforms(conditions)
    names = _unique_names(detectors)
    results: dict[str, dict[str, ConditionResult]] = {}
    errors: list[EvaluationError] = []
    for name, detector in zip(names, detectors, strict=True):
        run = score_dataset(detector, dataset, transforms, batch_size=batch_size, progress=progress)
        results[name] = {
            condition: condition_result(name, condition, scored, dataset, threshold)
            for condition, scored in run.conditions.items()
        }
        add_deltas(results[name])
        errors.extend(_attributed(run.errors, name))
    return EvaluationReport(
        dataset=dataset.name,
        n_images=len(dataset),
        detectors=names,
        conditions=conditions,
        results=results,
        errors=_deduplicated(errors),
        threshold=threshold,
    )


def _attributed(errors: list[EvaluationError], detector: str) -> list[EvaluationError]:
    # Scoring errors carry the detector's own name; use the (possibly numbered) report name instead.
    return [e if e.detector is None else EvaluationError(e.path, e.message, detector, e.condition) for e in errors]


def _deduplicated(errors: list[EvaluationError]) -> list[EvaluationError]:
    # A file that cannot be loaded fails once per detector; report it once.
    return list(dict.fromkeys(errors))


