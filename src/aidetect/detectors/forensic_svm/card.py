"""The model card of a freshly fitted forensic-svm."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aidetect.calibration import Calibrator
from aidetect.datasets import Dataset
from aidetect.detectors.forensic_svm.constants import CARD_NAME, JPEG_PROBABILITY, JPEG_QUALITY_RANGE
from aidetect.detectors.forensic_svm.fitting import jsonable

if TYPE_CHECKING:
    from aidetect.detectors.forensic_svm.detector import ForensicSVMDetector


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def build_card(
    detector: ForensicSVMDetector,
    pipeline: Any,
    train: Dataset,
    val: Dataset,
    search: dict[str, Any] | None,
    timings: dict[str, float],
    calibration: Calibrator,
    thresholds: dict[float, float],
    val_report: dict[str, Any],
) -> dict[str, Any]:
    """The model card of a freshly fitted model (the weights entry is filled in by `save`)."""
    from aidetect.features import FEATURE_NAMES

    svm = pipeline.named_steps["svm"]
    policy = detector.training_policy()
    return {
        "name": CARD_NAME,
        "architecture": f"StandardScaler + SVC(kernel={svm.kernel}) on forensic features",
        "features": {"count": len(FEATURE_NAMES), "families": ["ela", "noise", "spectrum"], "names": FEATURE_NAMES},
        "input_size": policy.input_size,
        "crop_policy": {"input_size": policy.input_size, "max_tiles_per_side": policy.max_tiles_per_side},
        "calibration": {**calibration.to_dict(), "fitted_on": f"{val.name} ({len(val)} images, mean tile margin)"},
        "threshold": 0.5,
        "fpr_thresholds": {f"{fpr:g}": value for fpr, value in sorted(thresholds.items())},
        "weights": {"file": None, "sha256": None, "format": "skops"},
        "training": {
            "data": train.name,
            "split": "train",
            "n": int(timings["n_train_views"]),
            "counts": train.counts(),
            "validation": {"data": val.name, "n": len(val), "metrics": _rounded(val_report)},
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
    }


def _rounded(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}
