"""``forensic-svm``: an SVM on hand-crafted forensic features (ELA, noise residual, residual spectrum).

Instead of raw pixels (slow to train, easily fooled by content) the SVM sees
the 374 numbers of `aidetect.features.forensic_features` per 256 px tile,
which describe compression history, noise and periodic up-sampling traces.
It trains in minutes on a laptop CPU and predicts a 512x512 image in a few
milliseconds, so it is the cheap, explainable member of the detector family.

Large images are judged from native-resolution tiles (never shrunk), whose
SVM margins are averaged and mapped to P(AI) by Platt scaling (or isotonic) fitted on
validation data. Training re-compresses both classes as JPEG at random
qualities so that the file format cannot carry the label.

Weights are a scikit-learn ``Pipeline(StandardScaler, SVC)`` stored with
skops (never pickle) plus a JSON model card whose sha256 is checked, and
whose type list is audited against `TRUSTED_TYPES`, before anything is loaded.
Importing this module is cheap: scikit-learn, OpenCV, joblib and skops are
imported only when a model is trained or loaded.
"""

from __future__ import annotations

from typing import Any

from aidetect.detectors.forensic_svm.constants import (
    CARD_NAME,
    FPRS,
    JPEG_PROBABILITY,
    JPEG_QUALITY_RANGE,
    MAX_TILES_PER_SIDE,
    TILE_SIZE,
    TRUSTED_TYPES,
    WEIGHTS_FILE,
)
from aidetect.detectors.forensic_svm.detector import ForensicSVMDetector
from aidetect.detectors.forensic_svm.features import (
    augmented_tile,
    features_of,
    image_margins,
    scoring_features,
    training_features,
)
from aidetect.detectors.forensic_svm.fitting import make_pipeline, parse_grid
from aidetect.detectors.forensic_svm.persistence import audit_types, load_model
from aidetect.hookspecs import hookimpl

__all__ = [
    "CARD_NAME",
    "FPRS",
    "JPEG_PROBABILITY",
    "JPEG_QUALITY_RANGE",
    "MAX_TILES_PER_SIDE",
    "TILE_SIZE",
    "TRUSTED_TYPES",
    "WEIGHTS_FILE",
    "ForensicSVMDetector",
    "audit_types",
    "augmented_tile",
    "features_of",
    "image_margins",
    "load_model",
    "make_pipeline",
    "parse_grid",
    "register_detectors",
    "scoring_features",
    "training_features",
]


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "forensic-svm",
        ForensicSVMDetector,
        description="SVM on forensic features (ELA, noise residual, residual spectrum); fast CPU baseline",
        backend="sklearn",
        requires=["sklearn", "cv2", "skops"],
        extra="forensic",
        aliases=["ela-svm", "svm"],
        card="forensic-svm",
    )
