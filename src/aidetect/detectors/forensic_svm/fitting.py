"""Fitting forensic-svm: the SVM pipeline, the optional grid search on the validation split, calibration."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.calibration import Calibrator, fpr_table, make_calibrator
from aidetect.datasets import AI, REAL, Dataset
from aidetect.detectors.forensic_svm.constants import FPRS, PIPELINE_STEPS
from aidetect.detectors.forensic_svm.features import image_margins, scoring_features, training_features
from aidetect.errors import DatasetError

if TYPE_CHECKING:
    from aidetect.detectors.forensic_svm.detector import ForensicSVMDetector


def make_pipeline(C: float, gamma: float | str, kernel: str, seed: int) -> Any:
    """``StandardScaler`` then ``SVC(class_weight="balanced")``: the model forensic-svm trains."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = SVC(C=C, gamma=gamma, kernel=kernel, class_weight="balanced", random_state=seed, cache_size=500)
    return Pipeline([(PIPELINE_STEPS[0], StandardScaler()), (PIPELINE_STEPS[1], svm)])


def train_pipeline(
    detector: ForensicSVMDetector, train: Dataset, val: Dataset, log: Callable[[str], None]
) -> tuple[Any, dict[str, Any] | None, dict[str, float]]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    X, y = training_features(detector, train)
    timings["train_features_s"] = round(time.perf_counter() - started, 2)
    log(f"features of {len(y)} training views in {timings['train_features_s']:.1f} s")
    params = {"C": detector.C, "gamma": detector.gamma, "kernel": detector.kernel}
    search = None
    grid = parse_grid(detector.grid)
    if grid:
        started = time.perf_counter()
        search = _grid_search(detector, grid, X, y, val)
        params.update(search["best_params"])
        timings["grid_search_s"] = round(time.perf_counter() - started, 2)
        log(f"grid search: best {search['best_params']} (val ROC-AUC {search['best_score']:.4f})")
    started = time.perf_counter()
    pipeline = make_pipeline(params["C"], params["gamma"], params["kernel"], detector.seed).fit(X, y)
    timings["svm_fit_s"] = round(time.perf_counter() - started, 2)
    timings["n_train_views"] = len(y)
    return pipeline, search, timings


def _grid_search(
    detector: ForensicSVMDetector, grid: Mapping[str, Sequence[Any]], X: np.ndarray, y: np.ndarray, val: Dataset
) -> dict[str, Any]:
    """Score every grid point on the validation tiles (original files and format-normalised copies)."""
    from sklearn.model_selection import GridSearchCV

    val_X, val_y = [], []
    for normalise in (False, True):
        tiles, labels, _ = scoring_features(detector, val, detector.training_policy(), normalise=normalise)
        val_X += tiles
        val_y += [np.full(len(t), label) for t, label in zip(tiles, labels, strict=True)]
    all_X = np.concatenate([X, *val_X])
    all_y = np.concatenate([y, *val_y])
    split = [(np.arange(len(y)), np.arange(len(y), len(all_y)))]
    param_grid = {f"svm__{key}": list(values) for key, values in grid.items()}
    base = make_pipeline(detector.C, detector.gamma, detector.kernel, detector.seed)
    search = GridSearchCV(base, param_grid, scoring="roc_auc", cv=split, refit=False, n_jobs=detector.n_jobs)
    search.fit(all_X, all_y)
    results = [
        {**{k.removeprefix("svm__"): jsonable(v) for k, v in params.items()}, "val_roc_auc": round(float(score), 4)}
        for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True)
    ]
    best = {k.removeprefix("svm__"): v for k, v in search.best_params_.items()}
    return {"best_params": best, "best_score": float(search.best_score_), "results": results}


def calibrate(
    detector: ForensicSVMDetector, pipeline: Any, val: Dataset, log: Callable[[str], None]
) -> tuple[Calibrator, dict[float, float], dict[str, Any]]:
    """Calibrate the validation margins (``detector.calibration``); thresholds for `FPRS` from the validation reals."""
    from aidetect.metrics import binary_report

    tiles, labels, _ = scoring_features(detector, val, detector.training_policy())
    margins = image_margins(pipeline, tiles)
    calibrator = make_calibrator(detector.calibration).fit(margins, labels)
    probabilities = calibrator.transform(margins)
    thresholds = fpr_table(probabilities[labels == REAL], FPRS)
    report = binary_report(labels, probabilities, 0.5)
    log(f"calibrated on {len(labels)} validation images: {calibrator!r}")
    return calibrator, thresholds, report


def require_both_classes(dataset: Dataset, role: str) -> None:
    labels = set(dataset.labels.tolist())
    if labels != {AI, REAL}:
        raise DatasetError(f"{dataset.name}: the {role} data needs both real and AI images, got {dataset.counts()}")


def parse_grid(text: str | Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]] | None:
    """``"C=1,10;gamma=scale,0.01;kernel=rbf"`` -> ``{"C": [1.0, 10.0], "gamma": ["scale", 0.01], ...}``."""
    if text is None or isinstance(text, Mapping):
        return None if text is None else {k: list(v) for k, v in text.items()}
    grid: dict[str, list[Any]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or key not in ("C", "gamma", "kernel") or not values.strip():
            raise ValueError(f"bad grid entry {part!r}; expected e.g. 'C=1,10;gamma=scale,0.01;kernel=rbf'")
        grid[key] = [_grid_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid or None


def _grid_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
