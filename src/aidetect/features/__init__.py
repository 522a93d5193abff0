"""Hand-crafted forensic features of an image: ELA, noise residual, residual spectrum.

`forensic_features` turns an RGB ``uint8`` image of any size into one
fixed-length float32 vector (named by `FEATURE_NAMES`) that a small classifier
such as `aidetect.detectors.forensic_svm` can learn from. The three families
look at traces a generator leaves below the level of content:

- `aidetect.features.ela`: how the image reacts to JPEG re-compression
  (compression history, fine-detail level, 8x8 grid energy);
- `aidetect.features.noise`: statistics of the median-filter noise residual
  (sensor-noise plausibility, channel and spatial correlation);
- `aidetect.features.spectrum`: the residual's radial power spectrum and its
  periodic peaks (up-sampling and patch-grid artefacts).

Importing this package loads numpy only; OpenCV and SciPy are imported on the
first call.
"""

from __future__ import annotations

import numpy as np

from aidetect.features import ela, noise, spectrum
from aidetect.io import ImageInput, load_image

__all__ = ["FEATURE_NAMES", "MIN_SIDE", "ela", "forensic_features", "noise", "spectrum"]

FEATURE_NAMES: list[str] = [*ela.NAMES, *noise.NAMES, *spectrum.NAMES]
"""Name of every value of `forensic_features`, in order."""

MIN_SIDE = 16
"""Smallest image side the features are defined for (two 8x8 blocks)."""


def forensic_features(image: ImageInput) -> np.ndarray:
    """The concatenated ELA, noise and spectrum features of one image, as a float32 vector.

    ``image`` is normally an RGB ``uint8`` ``HxWx3`` array; anything
    `aidetect.io.load_image` accepts works too. The length is
    ``len(FEATURE_NAMES)`` whatever the size, and equal inputs give equal outputs.
    """
    array = load_image(image, min_side=MIN_SIDE)
    residual = noise.noise_residual(array)
    vector = np.concatenate(
        [
            ela.ela_features(array),
            noise.noise_features(array, residual),
            spectrum.spectrum_features(array, residual),
        ]
    )
    return vector.astype(np.float32, copy=False)
