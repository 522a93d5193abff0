"""``aidetect evaluate --explain-worst K``: overlays of the mistakes a detector was surest of.

For each detector of an evaluation report, the K real photos it scored
highest among those it called AI, and the K generated images it scored
lowest among those it called real (clean condition, each image's own
threshold), are explained and their overlays written under
``<report folder>/explain/<detector>/``, with an ``index.md`` that lists them.
An image that cannot be explained is reported in the index and skipped.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.datasets import AI, REAL
from aidetect.errors import AidetectError

if TYPE_CHECKING:
    from aidetect.datasets import Dataset
    from aidetect.evaluation import ConditionResult, EvaluationReport

FOLDER = "explain"
KINDS = {REAL: "real-called-ai", AI: "ai-called-real"}


@dataclass(frozen=True)
class Mistake:
    """One wrongly judged image: where it is in the dataset, its score and the threshold it was judged at."""

    index: int
    score: float
    threshold: float


def worst_mistakes(result: ConditionResult, label: int, k: int) -> list[Mistake]:
    """The ``k`` most confident mistakes on images of ``label``: reals scored highest, fakes lowest."""
    if result.indices is None:
        raise ValueError("the evaluation result does not say which image each score belongs to")
    wrong = result.scores >= result.thresholds if label == REAL else result.scores < result.thresholds
    chosen = np.flatnonzero((result.labels == label) & wrong)
    order = np.argsort(-result.scores[chosen] if label == REAL else result.scores[chosen], kind="stable")
    return [Mistake(int(result.indices[i]), float(result.scores[i]), float(result.thresholds[i]))
            for i in chosen[order][:k]]


def explain_worst(
    report: EvaluationReport,
    dataset: Dataset,
    detectors: Mapping[str, Any],
    k: int,
    directory: str | Path,
    *,
    method: str = "auto",
) -> list[Path]:
    """Write the overlays of each detector's ``k`` worst mistakes per class; return the files written."""
    from aidetect.evaluation import CLEAN

    written: list[Path] = []
    for name, detector in detectors.items():
        folder = Path(directory) / FOLDER / _slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"# {name}: the most confident mistakes on {report.dataset}", ""]
        for label, kind in KINDS.items():
            lines += [f"## {kind}", "", "| rank | score | threshold | generator | image | overlay |", "|---" * 6 + "|"]
            for rank, mistake in enumerate(worst_mistakes(report.result(name, CLEAN), label, k), start=1):
                sample = dataset.samples[mistake.index]
                target = folder / f"{kind}-{rank:02d}-{_slug(Path(sample.path).stem)}.png"
                overlay = _write_overlay(detector, sample.path, target, method)
                written += [target] if overlay else []
                cell = f"![{target.name}]({target.name})" if overlay else "could not be explained"
                lines.append(f"| {rank} | {mistake.score:.3f} | {mistake.threshold:.3f} | {sample.generator or ''} "
                             f"| {sample.path} | {cell} |")
            lines.append("")
        index = folder / "index.md"
        index.write_text("\n".join(lines), encoding="utf-8")
        written.append(index)
    return written


def _write_overlay(detector: Any, source: Path, target: Path, method: str) -> bool:
    from aidetect.explain import explain

    try:
        explanation = explain(detector, source, method=method)
    except AidetectError as exc:
        warnings.warn(f"could not explain {source}: {exc}", stacklevel=3)
        return False
    explanation.overlay().save(target)
    return True


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "detector"
