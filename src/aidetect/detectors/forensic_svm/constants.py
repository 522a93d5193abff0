"""forensic-svm's fixed facts: card name, crop policy of training, augmentation, FPRs, trusted skops types."""

from __future__ import annotations

CARD_NAME = "forensic-svm"
WEIGHTS_FILE = "forensic-svm.skops"
FPRS = (0.01, 0.05, 0.1)
"""False-positive rates whose thresholds (measured on validation reals) go into the model card."""

TILE_SIZE = 256
MAX_TILES_PER_SIDE = 2
"""Default crop policy of training: up to 2x2 native-resolution 256 px tiles per image."""

JPEG_PROBABILITY = 0.8
JPEG_QUALITY_RANGE = (60, 100)
"""Training augmentation: with this probability, re-save as JPEG at a quality drawn from this range (inclusive)."""

TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int32",
    "numpy.int64",
    "numpy.ndarray",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.svm._classes.SVC",
)
"""Every type a forensic-svm skops file may contain; a file naming any other type is refused unread."""

PIPELINE_STEPS = ("scale", "svm")
