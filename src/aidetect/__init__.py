"""aidetect: tell AI-generated images from real ones.

    >>> import aidetect
    >>> detector = aidetect.load("efficientnet")
    >>> detector.predict("photo.jpg")
    Prediction(score=0.03, label='real', threshold=0.5, detector='efficientnet', ...)

Importing this package is cheap: numpy, Pillow and pluggy at most. torch,
scikit-learn, OpenCV and ONNX Runtime are imported only by the detector that
needs them.

The names below are the public API and the plugin contract (docs/plugins.md):
a plugin imports what it needs from ``aidetect``, never from submodules.
"""

from __future__ import annotations

__version__ = "0.1.0"

from aidetect.detector import BaseDetector, CropPolicy, DecisionRule, Detector, Explainable, Prediction
from aidetect.errors import AidetectError
from aidetect.hookspecs import Register, hookimpl
from aidetect.registry import DEFAULT_DETECTOR, DetectorInfo, available, load
from aidetect.trainable import Exportable, Trainable, TrainableDetector
from aidetect.trainconfig import AugmentConfig, TrainConfig
from aidetect.weights import ModelCard

__all__ = [
    "DEFAULT_DETECTOR",
    "AidetectError",
    "AugmentConfig",
    "BaseDetector",
    "CropPolicy",
    "DecisionRule",
    "Detector",
    "DetectorInfo",
    "Explainable",
    "Exportable",
    "ModelCard",
    "Prediction",
    "Register",
    "TrainConfig",
    "Trainable",
    "TrainableDetector",
    "__version__",
    "available",
    "hookimpl",
    "load",
]
