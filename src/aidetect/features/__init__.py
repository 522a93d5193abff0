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

from aidetect.errors import ImageTooLargeError
from aidetect.features import ela, noise, spectrum
from aidetect.io import ImageInput, describe_source, load_image

__all__ = ["FEATURE_NAMES", "MAX_PIXELS", "MAX_SIDE", "MIN_SIDE", "ela", "forensic_features", "noise", "spectrum"]

FEATURE_NAMES: list[str] = [*ela.NAMES, *noise.NAMES, *spectrum.NAMES]
"""Name of every value of `forensic_features`, in order."""

MIN_SIDE = 16
"""Smallest image side the features are defined for (two 8x8 blocks)."""

MAX_PIXELS = 4096 * 4096
"""Largest image the features are computed on whole (about 12 s and 1 GB); detectors pass 256 px tiles."""

MAX_SIDE = 65_500
"""Longest side ELA can JPEG-encode (the format's limit)."""


def forensic_features(image: ImageInput) -> np.ndarray:
    """The concatenated ELA, noise and spectrum features of one image, as a float32 vector.

    ``image`` is normally an RGB ``uint8`` ``HxWx3`` array; anything
    `aidetect.io.load_image` accepts works too. The length is
    ``len(FEATURE_NAMES)`` whatever the size, and equal inputs give equal outputs.
    """
    array = load_image(image, min_side=MIN_SIDE)
    _check_size(array, describe_source(image))
    residual = noise.noise_residual(array)
    vector = np.concatenate(
        [
            ela.ela_features(array),
            noise.noise_features(array, residual),
            spectrum.spectrum_features(array, residual),
        ]
    )
    return vector.astype(np.float32, copy=False)


def _check_size(array: np.ndarray, name: str) -> None:
    """Refuse, by a typed error naming the limit, images whose whole-image features would cost unbounded work."""
    height, width = array.shape[:2]
    if height * width > MAX_PIXELS or max(height, width) > MAX_SIDE:
        raise ImageTooLargeError(
            f"forensic features take images up to {MAX_PIXELS:,} px and {MAX_SIDE:,} px a side, got {width}x{height}; "
            "judge larger images tile by tile (aidetect.preprocess.tile_crops, as forensic-svm does)",
            name,
        )
