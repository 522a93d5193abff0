"""aidetect: tell AI-generated images from real ones.

    >>> import aidetect
    >>> detector = aidetect.load("efficientnet")
    >>> detector.predict("photo.jpg")
    Prediction(score=0.03, label='real', threshold=0.5, detector='efficientnet', ...)

Importing this package is cheap: numpy, Pillow and pluggy at most. torch,
scikit-learn, OpenCV and ONNX Runtime are imported only by the detector that
needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from aidetect.detector import BaseDetector, Detector, Prediction
from aidetect.errors import AidetectError
from aidetect.hookspecs import hookimpl
from aidetect.registry import DEFAULT_DETECTOR, DetectorInfo, available, load

__all__ = [
    "DEFAULT_DETECTOR",
    "AidetectError",
    "BaseDetector",
    "Detector",
    "DetectorInfo",
    "Prediction",
    "__version__",
    "available",
    "hookimpl",
    "load",
]
