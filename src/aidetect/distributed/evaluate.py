"""`evaluate`: score a labelled dataset on Ray and report it with the local engine's metrics and report.

The images go through the same job as `aidetect.distributed.scan` (same
actors, retries and isolation of files that kill their worker), the rows
stream back to the driver, and `aidetect.evaluation` turns them into an
`EvaluationReport` exactly as for a local evaluation of the ``clean``
condition (degraded copies are made by the local engine only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.detector import UNCERTAIN_LABEL
from aidetect.distributed.pipeline import RayJob, crash_rows, judge, make_job
from aidetect.distributed.runtime import connect
from aidetect.distributed.schema import row
from aidetect.evaluation.conditions import CLEAN
from aidetect.evaluation.report import EvaluationReport
from aidetect.evaluation.results import ConditionResult, EvaluationError, ScoredImages, condition_result
from aidetect.evaluation.runner import unique_names
from aidetect.registry import DEFAULT_DETECTOR
from aidetect.scan import IMAGE_ERROR

if TYPE_CHECKING:
    from aidetect.datasets import Dataset


def evaluate(
    dataset: Dataset,
    detectors: str | Sequence[str] = DEFAULT_DETECTOR,
    *,
    threshold: float | None = None,
    batch_size: int = 32,
    concurrency: int | None = None,
    num_cpus_per_worker: float = 1.0,
    ray_address: str | None = None,
    retries: int = 3,
    ray_remote_args: dict[str, Any] | None = None,
    progress: bool = False,
) -> EvaluationReport:
    """Score ``dataset`` (local or shared paths) with each of ``detectors`` (``NAME`` or ``NAME=WEIGHTS``) on Ray.

    Each `Prediction`'s own threshold decides its label unless ``threshold``
    is given, as in `aidetect.evaluation.evaluate`; an image without a verdict
    is left out and listed in the report's ``errors``.
    """
    specs = [detectors] if isinstance(detectors, str) else list(detectors)
    jobs = [make_job(*_parse_spec(spec), batch_size, concurrency, num_cpus_per_worker, retries, ray_remote_args)
            for spec in specs]
    connect(ray_address)
    names = unique_names([job.name for job in jobs])
    results: dict[str, dict[str, ConditionResult]] = {}
    errors: list[EvaluationError] = []
    for name, job in zip(names, jobs, strict=True):
        rows = _score(dataset, job, progress)
        scored, left_out = _scored_images(dataset, rows, name)
        results[name] = {CLEAN: condition_result(name, CLEAN, scored, dataset, threshold)}
        errors.extend(left_out)
    return EvaluationReport(dataset=dataset.name, n_images=len(dataset), detectors=names, conditions=[CLEAN],
                            results=results, errors=list(dict.fromkeys(errors)), threshold=threshold)


def _parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    name, _, weights = spec.partition("=")
    return name, ({"weights": str(Path(weights).resolve())} if weights else {})


def _score(dataset: Dataset, job: RayJob, progress: bool) -> dict[str, dict[str, Any]]:
    """Row per absolute path of every image of ``dataset``, streamed back from the actors."""
    files = list(dict.fromkeys(str(Path(sample.path).resolve()) for sample in dataset.samples))
    rows: dict[str, dict[str, Any]] = {}

    def collect(results: Any) -> None:
        for batch in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            rows.update((record["path"], record) for record in batch.to_pylist())

    crashed = judge(files, job, collect, lambda: set(rows), progress)
    rows.update((result.path, row(result)) for result in crash_rows(crashed, job.name))
    return rows


def _scored_images(
    dataset: Dataset, rows: dict[str, dict[str, Any]], name: str
) -> tuple[ScoredImages, list[EvaluationError]]:
    """The verdicts in dataset order, and the images left out (unreadable ones without a detector, as locally)."""
    indices: list[int] = []
    scores: list[float] = []
    thresholds: list[float] = []
    uncertain = 0
    errors: list[EvaluationError] = []
    for index, sample in enumerate(dataset.samples):
        record = rows[str(Path(sample.path).resolve())]
        if record["error"] is None:
            indices.append(index)
            scores.append(float(record["score"]))
            thresholds.append(float(record["threshold"]))
            uncertain += record["label"] == UNCERTAIN_LABEL
        elif record["error_kind"] == IMAGE_ERROR:
            errors.append(EvaluationError(str(sample.path), record["error"]))
        else:
            errors.append(EvaluationError(str(sample.path), f"{record['error_type']}: {record['error']}", name, CLEAN))
    scored = ScoredImages(np.asarray(indices, dtype=np.int64), np.asarray(scores, dtype=np.float64),
                          np.asarray(thresholds, dtype=np.float64), uncertain)
    return scored, errors
