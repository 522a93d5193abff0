"""Training forensic-svm: features -> (optional grid search) -> SVM -> calibration -> ``(pipeline, card)``.

`train_forensic_svm` is the trainer `ForensicSVMDetector` names; `fit`
serves its result through ``ForensicSVMDetector.from_trained(pipeline, card)``.
The card is the same `aidetect.weights.ModelCard` the neural detectors have,
calibrated by the same `aidetect.recalibrate.calibrated_card`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.calibration import calibrator_from_dict
from aidetect.datasets import AI, REAL, Dataset, split_dataset
from aidetect.detectors.forensic_svm.constants import (
    CARD_NAME,
    JPEG_PROBABILITY,
    JPEG_QUALITY_RANGE,
    PIPELINE_STEPS,
    WEIGHTS_FILE,
)
from aidetect.detectors.forensic_svm.grid import parse_grid
from aidetect.errors import DatasetError
from aidetect.recalibrate import calibrated_card
from aidetect.trainable import Log
from aidetect.training.datacard import data_summary
from aidetect.training.forensic_features import image_margins, scoring_features, training_features
from aidetect.weights import ModelCard

if TYPE_CHECKING:
    from aidetect.detectors.forensic_svm.detector import ForensicSVMDetector

__all__ = ["make_pipeline", "train_forensic_svm", "training_card"]


def train_forensic_svm(
    detector: ForensicSVMDetector, data: Dataset, val: Dataset | None, *, log: Log
) -> tuple[Any, ModelCard]:
    """Train on ``data``; select (with ``grid``), calibrate and set thresholds on ``val``.

    Without ``val``, 10% of ``data`` (stratified by label and generator) is
    split off for that. Training images are augmented (JPEG, random
    native-resolution crop); validation images are scored as at inference.
    """
    if val is None:
        data, val, _ = split_dataset(data, val=0.1, test=0.0, seed=detector.seed)
    require_both_classes(data, "training")
    require_both_classes(val, "validation")
    started = time.perf_counter()
    pipeline, search, timings = train_pipeline(detector, data, val, log)
    tiles, labels, _ = scoring_features(detector, val, detector.training_policy())
    margins = image_margins(pipeline, tiles)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    card = calibrated_card(training_card(detector, pipeline, data, val, search, timings), margins, labels,
                           method=detector.calibration,
                           fitted_on=f"{val.name} ({len(labels)} images, mean tile margin)")
    card = _with_validation_metrics(card, margins, labels, val)
    auc = card.info["training"]["validation"]["metrics"]["roc_auc"]
    log(f"trained in {timings['total_s']:.1f} s; val ROC-AUC {auc:.4f}")
    return pipeline, card


def _with_validation_metrics(card: ModelCard, margins: np.ndarray, labels: np.ndarray, val: Dataset) -> ModelCard:
    from aidetect.metrics import binary_report

    probabilities = calibrator_from_dict(card.calibration).transform(margins)
    report = binary_report(labels, probabilities, 0.5)
    training = {**card.info["training"], "validation": {"data": val.name, "n": len(val), "metrics": _rounded(report)}}
    return card.replace(info={**card.info, "training": training})


def make_pipeline(C: float, gamma: float | str, kernel: str, seed: int) -> Any:
    """``StandardScaler`` then ``SVC(class_weight="balanced")``: the model forensic-svm trains."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = SVC(C=C, gamma=gamma, kernel=kernel, class_weight="balanced", random_state=seed, cache_size=500)
    return Pipeline([(PIPELINE_STEPS[0], StandardScaler()), (PIPELINE_STEPS[1], svm)])


def train_pipeline(
    detector: ForensicSVMDetector, train: Dataset, val: Dataset, log: Log
) -> tuple[Any, dict[str, Any] | None, dict[str, float]]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    X, y = training_features(detector, train)
    timings["train_features_s"] = round(time.perf_counter() - started, 2)
    log(f"features of {len(y)} training views in {timings['train_features_s']:.1f} s")
    params: dict[str, Any] = {"C": detector.C, "gamma": detector.gamma, "kernel": detector.kernel}
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


def require_both_classes(dataset: Dataset, role: str) -> None:
    labels = set(dataset.labels.tolist())
    if labels != {AI, REAL}:
        raise DatasetError(f"{dataset.name}: the {role} data needs both real and AI images, got {dataset.counts()}")


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def training_card(
    detector: ForensicSVMDetector,
    pipeline: Any,
    train: Dataset,
    val: Dataset,
    search: dict[str, Any] | None,
    timings: dict[str, float],
) -> ModelCard:
    """The model card of a freshly fitted model, before calibration (the weights entry is filled in by `save`)."""
    from aidetect.features import FEATURE_NAMES

    svm = pipeline.named_steps["svm"]
    policy = detector.training_policy()
    return ModelCard(
        name=CARD_NAME,
        architecture=f"StandardScaler + SVC(kernel={svm.kernel}) on forensic features",
        weights_file=WEIGHTS_FILE,
        sha256="",
        weights_format="skops",
        input_size=policy.input_size,
        max_tiles_per_side=policy.max_tiles_per_side,
        threshold=0.5,
        info={
            "features": {"count": len(FEATURE_NAMES), "families": ["ela", "noise", "spectrum"],
                         "names": FEATURE_NAMES},
            "training": {
                **data_summary(train, val),
                "split": "train",
                "n": int(timings["n_train_views"]),
                "counts": train.counts(),
                "augmentation": {
                    "jpeg_recompress": {"p": JPEG_PROBABILITY, "quality": list(JPEG_QUALITY_RANGE)}
                    if detector.augment_jpeg else None,
                    "crop": f"{detector.views_per_image} random native-resolution {policy.input_size} px tile(s) "
                            "per image, each with its own JPEG re-save (smaller images enlarged to the tile first, "
                            "as at inference)",
                },
                "hyper_parameters": {
                    "C": float(svm.C), "gamma": jsonable(svm.gamma), "kernel": svm.kernel,
                    "class_weight": "balanced", "seed": detector.seed, "views_per_image": detector.views_per_image,
                    "n_support_vectors": int(svm.n_support_.sum()),
                },
                "grid_search": search,
                "training_time_seconds": timings["total_s"],
                "timings": timings,
                "machine": _machine(),
            },
            "metrics": {},
            "license": "Apache-2.0 (model); training images keep their sources' terms, research use",
        },
    )


def _rounded(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}
