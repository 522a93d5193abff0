"""The evaluation runner behind ``aidetect evaluate``: scores, metrics, robustness, reports.

`evaluate` scores every image of a labelled `Dataset` with one or more
detectors, under the ``clean`` condition and optionally under a
format-normalised copy (``normalised``) and a set of degradations
(``jpeg95`` ... ``centercrop``), and returns an `EvaluationReport` holding the
metrics of `aidetect.metrics`, a per-generator table, the drop from clean,
the raw scores (for plots) and every image that could not be used.
`EvaluationReport.write` saves ``report.json``, ``report.md`` and PNG plots.

`leave_one_generator_out` measures generalisation to unseen generators by
retraining a detector without each generator in turn.

Images are streamed in chunks of ``batch_size`` and each is loaded once per
detector, whatever the number of conditions, so memory stays bounded on
large datasets. A broken image is recorded and skipped, never fatal.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from aidetect import metrics
from aidetect.datasets import REAL, Dataset, Sample
from aidetect.detector import UNCERTAIN_LABEL, Detector, Prediction
from aidetect.errors import ImageError
from aidetect.io import load_image
from aidetect.preprocess import center_crop, downscale, gaussian_blur, jpeg_recompress, normalise_format

log = logging.getLogger(__name__)

Transform = Callable[[np.ndarray], np.ndarray]
"""An image-to-image function on RGB uint8 arrays."""

CLEAN = "clean"
NORMALISED = "normalised"
CENTER_CROP_SHARE = 0.75


def center_crop_share(image: np.ndarray, share: float = CENTER_CROP_SHARE) -> np.ndarray:
    """The central square whose side is ``share`` of the image's short side."""
    side = max(1, round(share * min(image.shape[:2])))
    return center_crop(image, side)


ROBUSTNESS_CONDITIONS: dict[str, Transform] = {
    "jpeg95": partial(jpeg_recompress, quality=95),
    "jpeg75": partial(jpeg_recompress, quality=75),
    "jpeg50": partial(jpeg_recompress, quality=50),
    "downscale0.5": partial(downscale, factor=0.5),
    "blur1": partial(gaussian_blur, sigma=1.0),
    "centercrop": center_crop_share,
}
"""Degradations a shared image typically goes through, by condition name."""

DELTA_METRICS = ("roc_auc", "accuracy")
"""Metrics whose change from ``clean`` is reported for every other condition."""

_LOAD_ERRORS = (ImageError, OSError, ValueError)
"""What a broken image can raise while being loaded or transformed; anything else is a bug and propagates."""

__all__ = [
    "CLEAN",
    "NORMALISED",
    "ROBUSTNESS_CONDITIONS",
    "ConditionResult",
    "EvaluationError",
    "EvaluationReport",
    "ScoredImages",
    "ScoringRun",
    "center_crop_share",
    "condition_names",
    "evaluate",
    "json_safe",
    "leave_one_generator_out",
    "logo_to_markdown",
    "score_dataset",
]


# -- records -----------------------------------------------------------------------------------


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


# -- scoring ----------------------------------------------------------------------------------


def condition_names(*, robustness: bool = False, normalise: bool = False) -> list[str]:
    """The conditions `evaluate` runs with these options, in report order."""
    names = [CLEAN]
    if normalise:
        names.append(NORMALISED)
    if robustness:
        names.extend(ROBUSTNESS_CONDITIONS)
    return names


def _transforms(names: Sequence[str]) -> dict[str, Transform | None]:
    known: dict[str, Transform | None] = {CLEAN: None, NORMALISED: normalise_format, **ROBUSTNESS_CONDITIONS}
    return {name: known[name] for name in names}


def _chunks(samples: Sequence[Sample], size: int) -> Iterator[tuple[int, Sequence[Sample]]]:
    for start in range(0, len(samples), size):
        yield start, samples[start : start + size]


def _detector_name(detector: Detector) -> str:
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
    name = _detector_name(detector)
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


# -- metrics ----------------------------------------------------------------------------------


def _condition_result(
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


def _add_deltas(results: dict[str, ConditionResult]) -> None:
    clean = results.get(CLEAN)
    if clean is None:
        return
    for condition, result in results.items():
        if condition != CLEAN:
            result.delta = {key: result.metrics[key] - clean.metrics[key] for key in DELTA_METRICS}


def _unique_names(detectors: Sequence[Detector]) -> list[str]:
    """Detector names, numbered when two share one (e.g. the same model at two thresholds)."""
    names: list[str] = []
    for detector in detectors:
        base = _detector_name(detector)
        name, count = base, 1
        while name in names:
            count += 1
            name = f"{base}#{count}"
        names.append(name)
    return names


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
    transforms = _transforms(conditions)
    names = _unique_names(detectors)
    results: dict[str, dict[str, ConditionResult]] = {}
    errors: list[EvaluationError] = []
    for name, detector in zip(names, detectors, strict=True):
        run = score_dataset(detector, dataset, transforms, batch_size=batch_size, progress=progress)
        results[name] = {
            condition: _condition_result(name, condition, scored, dataset, threshold)
            for condition, scored in run.conditions.items()
        }
        _add_deltas(results[name])
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


# -- the report --------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """Plain JSON types only: nan and inf become None, numpy scalars and arrays become Python ones."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(item) for item in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def _signed(value: float | None) -> str:
    """A change, always with its sign, so a drop and a gain read differently at a glance."""
    return "n/a" if value is None or math.isnan(value) else f"{value:+.3f}"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)
    return lines


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "detector"


@dataclass
class EvaluationReport:
    """Every detector's metrics under every condition, plus the images that were left out."""

    dataset: str
    n_images: int
    detectors: list[str]
    conditions: list[str]
    results: dict[str, dict[str, ConditionResult]]
    errors: list[EvaluationError] = field(default_factory=list)
    threshold: float | None = None

    def result(self, detector: str, condition: str = CLEAN) -> ConditionResult:
        return self.results[detector][condition]

    def to_dict(self, include_scores: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (nan becomes null); raw scores only with ``include_scores``."""
        return json_safe(
            {
                "dataset": self.dataset,
                "n_images": self.n_images,
                "threshold": self.threshold,
                "detectors": self.detectors,
                "conditions": self.conditions,
                "results": {
                    detector: {
                        condition: result.to_dict(include_scores) for condition, result in by_condition.items()
                    }
                    for detector, by_condition in self.results.items()
                },
                "errors": [error.to_dict() for error in self.errors],
            }
        )

    def to_markdown(self, max_errors: int = 20) -> str:
        """Readable tables: overall metrics per detector and condition, then recall per generator."""
        lines = [f"# Evaluation on {self.dataset}", "", f"{self.n_images} images, {len(self.errors)} left out.", ""]
        lines += ["## Overall", ""]
        lines += _markdown_table(
            ["detector", "condition", "n", "threshold", "accuracy", "AUC", "F1", "ECE", "EER", "ΔAUC", "Δaccuracy"],
            [self._overall_row(detector, condition) for detector in self.detectors for condition in self.conditions],
        )
        for detector in self.detectors:
            lines += ["", f"## Recall per generator: {detector}", ""]
            lines += ["Share of each generator's images flagged AI; for `real`, the share kept as real.", ""]
            lines += self._generator_table(detector)
        if self.errors:
            lines += ["", "## Images left out", ""]
            lines += [
                f"- `{e.path}`" + (f" ({e.detector}, {e.condition})" if e.detector else "") + f": {e.message}"
                for e in self.errors[:max_errors]
            ]
            if len(self.errors) > max_errors:
                lines.append(f"- ... and {len(self.errors) - max_errors} more (see report.json)")
        return "\n".join(lines) + "\n"

    def _overall_row(self, detector: str, condition: str) -> list[Any]:
        result = self.results[detector][condition]
        m, delta = result.metrics, result.delta or {}
        return [
            detector, condition, m["n"], m["threshold"], m["accuracy"], m["roc_auc"], m["f1"], m["ece"], m["eer"],
            _signed(delta.get("roc_auc")), _signed(delta.get("accuracy")),
        ]

    def _generator_table(self, detector: str) -> list[str]:
        by_condition = self.results[detector]
        generators = sorted({g for result in by_condition.values() for g in result.per_generator})
        rows = []
        for generator in generators:
            row: list[Any] = [generator, by_condition[CLEAN].per_generator.get(generator, {}).get("n", 0)]
            for condition in self.conditions:
                entry = by_condition[condition].per_generator.get(generator)
                key = "specificity" if generator == "real" else "recall"
                row.append(entry[key] if entry else None)
            rows.append(row)
        return _markdown_table(["generator", "n", *self.conditions], rows)

    def write(self, directory: str | Path, include_scores: bool = False) -> list[Path]:
        """Write report.json, report.md and (with matplotlib) PNG plots; return the paths written."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "report.json"
        json_path.write_text(json.dumps(self.to_dict(include_scores), indent=2, allow_nan=False), encoding="utf-8")
        plots = self._write_plots(directory)
        markdown = self.to_markdown()
        if plots is None:
            markdown += "\nPlots skipped: matplotlib is not installed (`pip install matplotlib`).\n"
        else:
            markdown += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
        markdown_path = directory / "report.md"
        markdown_path.write_text(markdown, encoding="utf-8")
        return [json_path, markdown_path, *(plots or [])]

    def _write_plots(self, directory: Path) -> list[Path] | None:
        try:
            import matplotlib

            matplotlib.use("Agg")  # files only: never open a window or need a display
            import matplotlib.pyplot as plt
        except ImportError:
            log.info("matplotlib is not installed; skipping plots")
            return None
        written = []
        for detector in self.detectors:
            slug = _slug(detector)
            by_condition = self.results[detector]
            for kind, draw in (
                ("roc", _plot_roc),
                ("pr", _plot_precision_recall),
                ("confusion", _plot_confusion),
                ("reliability", _plot_reliability),
            ):
                figure, axes = plt.subplots(figsize=(5, 5))
                draw(axes, by_condition)
                axes.set_title(f"{detector}: {axes.get_title()}")
                figure.tight_layout()
                path = directory / f"{kind}_{slug}.png"
                figure.savefig(path, dpi=100)
                plt.close(figure)
                written.append(path)
        return written


# -- plots (matplotlib axes in, nothing out) ----------------------------------------------------


def _both_classes(result: ConditionResult) -> bool:
    return bool(result.labels.size) and 0 < result.labels.sum() < result.labels.size


def _plot_roc(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    for condition, result in by_condition.items():
        if _both_classes(result):
            fpr, tpr, _ = metrics.roc_curve(result.labels, result.scores)
            axes.plot(fpr, tpr, label=f"{condition} (AUC {result.metrics['roc_auc']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    _legend(axes)


def _plot_precision_recall(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    for condition, result in by_condition.items():
        if _both_classes(result):
            precision, recall, _ = metrics.precision_recall_curve(result.labels, result.scores)
            label = f"{condition} (AP {result.metrics['average_precision']:.3f})"
            axes.step(recall, precision, where="post", label=label)
    axes.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    _legend(axes)


def _plot_confusion(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    matrix = np.asarray(by_condition[CLEAN].metrics["confusion_matrix"])
    axes.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, str(count), ha="center", va="center", color="black")
    axes.set(
        xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "ai"], yticklabels=["real", "ai"],
        xlabel="predicted", ylabel="true", title="confusion matrix (clean)",
    )


def _plot_reliability(axes: Any, by_condition: dict[str, ConditionResult], n_bins: int = 15) -> None:
    from aidetect.metrics import reliability_curve

    result = by_condition[CLEAN]
    scores, labels = result.scores, result.labels
    if scores.size and scores.min() >= 0.0 and scores.max() <= 1.0:
        mean_score, ai_share, _ = reliability_curve(labels, scores, n_bins)
        axes.plot(mean_score, ai_share, marker="o", label=f"clean (ECE {result.metrics['ece']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="mean predicted P(AI)", ylabel="share of AI images", title="reliability")
    axes.set(xlim=(0, 1), ylim=(-0.02, 1.02))
    _legend(axes)


def _legend(axes: Any) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")


# -- leave one generator out ------------------------------------------------------------------------


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
        raise ValueError(f"no AI images of generator(s) {missing} in {dataset.name}; it has {sorted(known - {'real'})}")
    held_out = _held_out_reals(dataset, real_share, seed)
    sample_generators = dataset.generators
    table: dict[str, dict[str, float]] = {}
    for generator in generators:
        train = _subset(dataset, [i for i, g in enumerate(sample_generators) if g != generator and i not in held_out])
        test = _subset(dataset, [i for i, g in enumerate(sample_generators) if g == generator or i in held_out])
        detector = make_detector()
        detector.fit(train)
        scored = score_dataset(detector, test, batch_size=batch_size).conditions[CLEAN]
        table[generator] = _logo_row(_condition_result(_detector_name(detector), CLEAN, scored, test, threshold))
    return table


def _subset(dataset: Dataset, indices: Sequence[int]) -> Dataset:
    return Dataset(tuple(dataset.samples[i] for i in indices), name=dataset.name, root=dataset.root)


def _logo_row(result: ConditionResult) -> dict[str, float]:
    m = result.metrics
    keys = ("n_ai", "n_real", "recall", "specificity", "accuracy")
    return {**{key: m[key] for key in keys}, "auc": m["roc_auc"]}


def logo_to_markdown(table: Mapping[str, Mapping[str, float]]) -> str:
    """The `leave_one_generator_out` table as Markdown, one row per held-out generator."""
    header = ["held-out generator", "n_ai", "n_real", "recall", "specificity", "AUC"]
    rows = [[g, r["n_ai"], r["n_real"], r["recall"], r["specificity"], r["auc"]] for g, r in table.items()]
    return "\n".join(_markdown_table(header, rows)) + "\n"

