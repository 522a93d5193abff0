"""forensic-svm's fixed facts: card name, crop policy of training, augmentation, FPRs, trusted skops types."""

from __future__ import annotations

from aidetect.calibration import DEFAULT_FPRS

CARD_NAME = "forensic-svm"
WEIGHTS_FILE = "forensic-svm.skops"
FPRS = DEFAULT_FPRS
"""False-positive rates whose thresholds (measured on validation reals) go into the model card: the same as every
trainable detector's (`aidetect.calibration.DEFAULT_FPRS`)."""

TILE_SIZE = 256
MAX_TILES_PER_SIDE = 2
"""Default crop policy of training: up to 2x2 native-resolution 256 px tiles per image."""

JPEG_PROBABILITY = 0.8
JPEG_QUALITY_RANGE = (60, 100)
"""Training augmentation: with this probability, re-save in a container drawn from `CONTAINERS` (both classes)."""

CONTAINERS: tuple[tuple[str, float], ...] = (("jpeg", 0.7), ("webp", 0.14), ("gif", 0.06), ("cmyk-jpeg", 0.1))
"""Which container a re-saved training view goes through, with its share. ELA and noise statistics read a file's
compression history, so a real photo saved as WebP, as a palette GIF or as a CMYK JPEG must have been seen as real;
views that are not re-saved keep their own container (never-compressed PNGs included)."""

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
